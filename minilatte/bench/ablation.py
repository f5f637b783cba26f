"""The ablation: one speed feature at a time on minilatte's training step, and the GPU-only rows."""
from __future__ import annotations

import statistics
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..data import synthetic_dataset
from ..memory import measure_saved_bytes
from .diffusers_match import BenchSize, _inputs, build_minilatte
from .timing import cpu_has_fast_bf16, speedup, time_interleaved, train_step_fn


GPU_ONLY = [
    ("attention kernel on CUDA", "flash / memory-efficient SDPA vs math"),
    ("bf16 autocast on CUDA", "bf16 vs fp32 (+TF32)"),
    ("torch.compile on CUDA", "inductor vs eager"),
    ("no host-device syncs", "loss.item() every step vs only at log steps"),
    ("data loading on GPU", "num_workers + pin_memory vs in-process"),
]


def ablation(size: BenchSize, repeats: int = 3, device: str = "cpu", compile: bool = False) -> list[dict]:
    """One speed feature at a time on minilatte's train step (forward + backward) at ``size``.

    Each row: ``feature``, ``baseline`` and ``candidate`` seconds (medians of interleaved runs),
    ``speedup`` (baseline / candidate), ``measured`` and a ``note``. Rows that need a GPU are listed
    unmeasured; ``benchmarks/gpu_ablation.py`` measures them on one.
    """
    model = build_minilatte(size, device)
    inputs = _inputs(size, device)
    forward = (lambda: model(inputs["x"], inputs["t"]))
    step = train_step_fn(model, forward)
    rows = []

    def row(feature: str, compared: str, fns: dict, note: str = "", **extra) -> None:
        times = time_interleaved(fns, repeats, device)
        base, cand = list(fns)
        rows.append({"feature": feature, "compared": compared, "baseline_s": statistics.median(times[base]),
                     "candidate_s": statistics.median(times[cand]), "speedup": speedup(times, base, cand)["median"],
                     "measured": True, "note": note, **extra})

    def with_context(ctx_factory, fn):
        def run():
            with ctx_factory():
                fn()
        return run

    row("SDPA attention (CPU flash kernel)", "math attention -> SDPA",
        {"math": with_context(lambda: sdpa_kernel(SDPBackend.MATH), step), "sdpa": step})
    row("fused qkv projection", "3 Linear(D, D) -> 1 Linear(D, 3D), forward+backward",
        _qkv_fns(size, device), "isolated layer at the step's token count")

    def checkpointed():
        model.gradient_checkpointing = True
        try:
            step()
        finally:
            model.gradient_checkpointing = False
    saved = measure_saved_bytes(forward, exclude=(model,))
    model.gradient_checkpointing = True
    saved_ckpt = measure_saved_bytes(forward, exclude=(model,))
    model.gradient_checkpointing = False
    row("activation checkpointing (per block)", "off -> on", {"off": step, "on": checkpointed},
        "a cost, not a speedup: it buys memory", activation_bytes_off=saved, activation_bytes_on=saved_ckpt)

    if device == "cpu" and not cpu_has_fast_bf16():
        rows.append(_unmeasured("bf16 autocast on CPU", "fp32 -> bf16", "this CPU has no AVX512-BF16/AMX: bf16 is "
                                "emulated (~300x slower); fp32 only"))
    else:
        row("bf16 autocast" + (" on CPU" if device == "cpu" else ""), "fp32 -> bf16 autocast",
            {"fp32": step, "bf16": with_context(lambda: torch.autocast(device.split(":")[0], torch.bfloat16), step)},
            "changes the numerics (bf16 matmuls); needs native bf16 (AVX512-BF16/AMX on CPUs)")

    if compile:
        compiled_model = torch.compile(model)
        compiled = train_step_fn(model, lambda: compiled_model(inputs["x"], inputs["t"]))
        start = time.perf_counter()
        compiled()
        row("torch.compile", "eager -> inductor", {"eager": step, "compiled": compiled},
            "same math, fused element-wise work", compile_seconds=time.perf_counter() - start)
    else:
        rows.append(_unmeasured("torch.compile", "eager -> inductor",
                                "pass --compile (compiling takes minutes on 2 CPU cores)"))

    rows.append(_data_loading_row(size, statistics.median(time_interleaved({"s": step}, repeats, device)["s"])))
    if device == "cpu":
        rows += [_unmeasured(f, c, "GPU only: not measured yet (benchmarks/gpu_ablation.py)") for f, c in GPU_ONLY]
    return rows


def _unmeasured(feature: str, compared: str, note: str) -> dict:
    return {"feature": feature, "compared": compared, "baseline_s": None, "candidate_s": None, "speedup": None,
            "measured": False, "note": note}


def _qkv_fns(size: BenchSize, device: str) -> dict:
    D, tokens = size.hidden_size, size.batch_size * size.tokens_per_video
    x = torch.randn(tokens, D, device=device, requires_grad=True)
    split = torch.nn.ModuleList(torch.nn.Linear(D, D) for _ in range(3)).to(device)
    fused = torch.nn.Linear(D, 3 * D).to(device)

    def run_split():
        sum(layer(x).sum() for layer in split).backward()

    def run_fused():
        fused(x).sum().backward()
    return {"split": run_split, "fused": run_fused}


def _data_loading_row(size: BenchSize, step_seconds: float) -> dict:
    """Seconds to make one batch of synthetic clips in-process (warm), as a fraction of the step.

    The clips are made at the model's input size, as the CPU tiers feed pixels straight to the model.
    """
    ds = synthetic_dataset("moving-digits", num_frames=size.num_frames, image_size=max(8, size.input_size))
    ds[0]["video"]                                   # warm-up: first-call set-up is not per batch
    start = time.perf_counter()
    for i in range(1, 1 + size.batch_size):
        ds[i]["video"]
    seconds = time.perf_counter() - start
    return {"feature": "data loading (synthetic clips at the input size, in-process)",
            "compared": "batch fetch time / step time", "baseline_s": step_seconds, "candidate_s": seconds,
            "speedup": None, "measured": True,
            "note": f"{seconds / step_seconds:.1%} of a step; DataLoader workers take it off the critical path "
                    "only where a core is free"}
