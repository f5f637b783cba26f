"""``python -m minilatte bench``: speed of minilatte against diffusers' Latte at the same math, and why.

What one run measures (all on the same machine, in the same process):

* **minilatte vs diffusers** ``LatteTransformer3DModel`` at a matched size: forward and
  forward+backward, timed *interleaved* (A, B, A, B, ...) so that background load hits both alike;
  the speedup is the median of the per-pair ratios, with their min and max as the spread.
* **FLOPs**, analytic (:mod:`minilatte.flops`) and counted by ``FlopCounterMode`` for both models
  (attention through SDPA's math backend: the counter cannot see inside the fused CPU kernel).
* **Achieved FLOP/s** of a step as a fraction of a plain fp32 matmul measured in the same run (the
  CPU's "MFU"), and the resulting **ceiling**: the speedup minilatte would get if every FLOP ran at
  plain-matmul speed. On GPUs, MFU against the card's nominal dense peak.
* **Where the time goes** (``torch.profiler``): matmul, attention, copies, other element-wise work.
* **Ablation**, one feature at a time, of what can be measured here (attention kernel, fused qkv,
  activation checkpointing, bf16 autocast, torch.compile, data loading); GPU-only rows point to
  ``benchmarks/gpu_ablation.py``.
* **Activation memory** saved for backward (exact, by ``saved_tensors_hooks``) and, on CUDA, peak memory.

How the diffusers model is matched (see :func:`build_diffusers`): ``num_layers = depth / 2`` pairs of
spatial + temporal blocks, ``attention_head_dim = width / heads``, ``norm_type="ada_norm_single"``
(S-AdaLN without affine LayerNorm, eps 1e-6), tanh-GELU MLP ×4, biased attention projections,
learned-σ output (2C channels). ``cross_attention_dim=None`` removes its caption cross-attention, so
both models compute the same function class; its forward still needs a caption, so a dummy
(B, 1, 8) zero caption is passed (its projection costs ~1e-5 of the FLOPs). What remains different
is diffusers' shared modulation (one adaLN Linear for all blocks + a per-block table): fewer
parameters, the same per-token FLOPs.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from .flops import forward_flops
from .memory import measure_saved_bytes
from .models import Latte, LatteConfig
from .testing import randomize_

CAPTION_CHANNELS = 8
# Nominal dense peaks (FLOP/s) for MFU on GPUs; None where unknown.
GPU_PEAKS = {"H100": {"bf16": 989e12, "fp32": 67e12}, "H200": {"bf16": 989e12, "fp32": 67e12},
             "A100": {"bf16": 312e12, "fp32": 19.5e12}}


@dataclass(frozen=True)
class BenchSize:
    """A matched size: width, depth (all blocks), heads, frames, latent side, patch, batch."""

    hidden_size: int
    depth: int
    num_heads: int
    num_frames: int
    input_size: int
    patch_size: int
    batch_size: int
    in_channels: int = 4

    def latte_config(self) -> LatteConfig:
        return LatteConfig(hidden_size=self.hidden_size, depth=self.depth, num_heads=self.num_heads,
                           num_frames=self.num_frames, input_size=self.input_size, patch_size=self.patch_size,
                           in_channels=self.in_channels)

    @property
    def tokens_per_video(self) -> int:
        return self.num_frames * (self.input_size // self.patch_size) ** 2


# --quick: runs in well under a minute on 2 loaded cores. Default: the size at which the official model and diffusers were matched (Latte-S/2 width).
QUICK = BenchSize(hidden_size=192, depth=4, num_heads=3, num_frames=8, input_size=16, patch_size=2, batch_size=2)
STANDARD = BenchSize(hidden_size=384, depth=12, num_heads=6, num_frames=8, input_size=16, patch_size=2, batch_size=2)


# ---------------------------------------------------------------------------------------------- models
def build_minilatte(size: BenchSize, device: str = "cpu", seed: int = 0) -> Latte:
    """minilatte at ``size``, every parameter drawn N(0, 0.02) (a fresh adaLN-Zero model is all zeros)."""
    torch.manual_seed(seed)
    model = Latte(size.latte_config())
    randomize_(model, std=0.02)
    return model.to(device).train()


def build_diffusers(size: BenchSize, device: str = "cpu", seed: int = 0) -> torch.nn.Module:
    """diffusers' LatteTransformer3DModel matched to ``size`` (see the module docstring)."""
    try:
        from diffusers import LatteTransformer3DModel
    except ImportError as err:   # pragma: no cover - diffusers is a dependency
        raise RuntimeError("the diffusers comparison needs the diffusers package: pip install diffusers") from err
    if size.depth % 2:
        raise ValueError(f"depth={size.depth} must be even: diffusers pairs one spatial with one temporal block")
    torch.manual_seed(seed)
    model = LatteTransformer3DModel(
        num_attention_heads=size.num_heads, attention_head_dim=size.hidden_size // size.num_heads,
        in_channels=size.in_channels, out_channels=2 * size.in_channels, num_layers=size.depth // 2,
        cross_attention_dim=None, attention_bias=True, sample_size=size.input_size, patch_size=size.patch_size,
        activation_fn="gelu-approximate", norm_type="ada_norm_single", norm_elementwise_affine=False,
        norm_eps=1e-6, caption_channels=CAPTION_CHANNELS, video_length=size.num_frames)
    randomize_(model, std=0.02)
    return model.to(device).train()


def _inputs(size: BenchSize, device: str, seed: int = 0) -> dict:
    """x (B, F, C, H, W) for minilatte, the same as (B, C, F, H, W) contiguous for diffusers, t (B,), caption."""
    g = torch.Generator().manual_seed(seed)
    B = size.batch_size
    x = torch.randn(B, size.num_frames, size.in_channels, size.input_size, size.input_size, generator=g)
    return {"x": x.to(device), "x_cf": x.transpose(1, 2).contiguous().to(device),
            "t": torch.randint(0, 1000, (B,), generator=g).to(device),
            "caption": torch.zeros(B, 1, CAPTION_CHANNELS, device=device)}


def forward_fns(ml: torch.nn.Module, df: torch.nn.Module, inputs: dict) -> dict[str, Callable[[], torch.Tensor]]:
    """Zero-argument forwards returning (B, F, 2C, H, W) for both models."""
    return {"minilatte": lambda: ml(inputs["x"], inputs["t"]),
            "diffusers": lambda: df(inputs["x_cf"], inputs["t"], encoder_hidden_states=inputs["caption"],
                                    return_dict=False)[0].transpose(1, 2)}


def train_step_fn(model: torch.nn.Module, forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
    """Forward + backward of a mean-square loss (the optimizer is timed separately)."""
    def step() -> None:
        model.zero_grad(set_to_none=True)
        forward().float().square().mean().backward()
    return step


def no_grad_fn(forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            forward()
    return run


# ---------------------------------------------------------------------------------------------- measuring
def _sync(device: str) -> None:
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize()


def time_interleaved(fns: dict[str, Callable[[], None]], repeats: int, device: str = "cpu",
                     warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, calling them in turn (A, B, A, B, ...) ``repeats`` times."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be a positive integer")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def speedup(times: dict[str, list[float]], baseline: str, candidate: str) -> dict:
    """baseline/candidate time ratio: median of the per-pair ratios, with min and max as the spread."""
    ratios = [b / c for b, c in zip(times[baseline], times[candidate])]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def count_flops(fn: Callable[[], None]) -> int:
    """FLOPs PyTorch's FlopCounterMode sees, attention through the math backend (plain matmuls)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_fn(m: int, k: int, n: int, device: str = "cpu") -> tuple[Callable[[], None], int]:
    """A plain fp32 (m, k) @ (k, n) matmul, repeated to ~2 GFLOP (at most 32 times), and its FLOPs per call.

    Time it interleaved with the steps it is compared to, so that both see the same background load.
    """
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    out = torch.empty(m, n, device=device)
    calls = max(1, min(32, int(2e9 // (2 * m * k * n))))

    def run() -> None:
        for _ in range(calls):
            torch.mm(a, b, out=out)
    return run, 2 * m * k * n * calls


def time_breakdown(fn: Callable[[], None]) -> dict[str, float]:
    """Share of self CPU time per kind of op in one call of ``fn`` (torch.profiler; adds some overhead)."""
    from torch.profiler import ProfilerActivity, profile

    kinds = {"matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mkldnn_convolution",
                        "aten::convolution_backward"),
             "attention": ("aten::_scaled_dot_product",),
             "copies": ("aten::copy_", "aten::cat", "aten::clone", "aten::contiguous", "aten::stack")}
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    totals = {kind: 0.0 for kind in [*kinds, "other element-wise"]}
    for event in prof.key_averages():
        kind = next((k for k, prefixes in kinds.items() if event.key.startswith(prefixes)), "other element-wise")
        totals[kind] += event.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {kind: round(value / whole, 3) for kind, value in totals.items()}


def _device_info(device: str) -> dict:
    info = {"device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    try:
        import diffusers
        info["diffusers"] = diffusers.__version__
    except ImportError:   # pragma: no cover
        info["diffusers"] = None
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matmul instructions (AVX512-BF16 or AMX); else bf16 is emulated."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _gpu_peak(precision: str) -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peaks[precision] for key, peaks in GPU_PEAKS.items() if key in name), None)


# ---------------------------------------------------------------------------------------------- the comparison
def compare_with_diffusers(size: BenchSize, repeats: int = 5, device: str = "cpu", profile: bool = True) -> dict:
    """minilatte vs diffusers at ``size``: times, speedups, FLOPs, FLOP/s, throughput, activation memory."""
    ml, df = build_minilatte(size, device), build_diffusers(size, device)
    inputs = _inputs(size, device)
    fwd = forward_fns(ml, df, inputs)
    steps = {"minilatte": train_step_fn(ml, fwd["minilatte"]), "diffusers": train_step_fn(df, fwd["diffusers"])}
    no_grad = {name: no_grad_fn(f) for name, f in fwd.items()}

    cfg, B = size.latte_config(), size.batch_size
    tokens = B * size.tokens_per_video
    flops = {"minilatte_forward_analytic": forward_flops(cfg, B),
             "minilatte_forward_counted": count_flops(no_grad["minilatte"]),
             "diffusers_forward_counted": count_flops(no_grad["diffusers"]),
             "minilatte_train_step_counted": count_flops(steps["minilatte"]),
             "diffusers_train_step_counted": count_flops(steps["diffusers"])}

    # The plain matmul that the step is measured against: the MLP's fc1 shape (tokens, D) @ (D, 4D).
    matmul, matmul_flops = matmul_fn(tokens, size.hidden_size, 4 * size.hidden_size, device)
    forward_times = time_interleaved(no_grad, repeats, device)
    step_times = time_interleaved({**steps, "matmul": matmul}, repeats, device)
    matmul_rate = [matmul_flops / s for s in step_times.pop("matmul")]
    med = {f"{name}_{kind}": statistics.median(ts) for kind, times in (("forward", forward_times),
                                                                       ("train_step", step_times))
           for name, ts in times.items()}
    step_flops = {name: flops[f"{name}_train_step_counted"] for name in steps}
    # Per round: the step's FLOP/s over the matmul's FLOP/s measured right next to it.
    fraction = {name: statistics.median(step_flops[name] / s / r for s, r in zip(step_times[name], matmul_rate))
                for name in steps}
    achieved = step_flops["minilatte"] / med["minilatte_train_step"]
    result = {
        "size": asdict(size), "tokens_per_video": size.tokens_per_video,
        "params": {"minilatte": _count(ml), "diffusers": _count(df)},
        "flops": flops,
        "seconds": med,
        "seconds_all": {"forward": forward_times, "train_step": step_times},
        "forward_speedup_vs_diffusers": speedup(forward_times, "diffusers", "minilatte")["median"],
        "train_step_speedup_vs_diffusers": speedup(step_times, "diffusers", "minilatte")["median"],
        "forward_speedup_spread": speedup(forward_times, "diffusers", "minilatte"),
        "train_step_speedup_spread": speedup(step_times, "diffusers", "minilatte"),
        "matmul_tflops": statistics.median(matmul_rate) / 1e12,
        "train_step_tflops": {name: step_flops[name] / med[f"{name}_train_step"] / 1e12 for name in steps},
        "train_step_fraction_of_matmul": fraction,
        # If every FLOP of minilatte's step ran at plain-matmul speed: the most any rewrite of the same math gets.
        "train_step_speedup_ceiling_same_math": fraction["diffusers"] ** -1 * step_flops["diffusers"]
        / step_flops["minilatte"],
        "throughput": {
            "train_videos_per_s": B / med["minilatte_train_step"],
            "train_tokens_per_s": tokens / med["minilatte_train_step"],
            "forward_videos_per_s": B / med["minilatte_forward"],
            "sample_videos_per_s_250_steps": B / (250 * med["minilatte_forward"]),
            "sample_videos_per_s_250_steps_cfg": B / (250 * 2 * med["minilatte_forward"]),
        },
        "memory": {"activation_bytes_minilatte": measure_saved_bytes(fwd["minilatte"], exclude=(ml,)),
                   "activation_bytes_diffusers": measure_saved_bytes(fwd["diffusers"], exclude=(df,))},
    }
    peak = _gpu_peak("fp32")
    result["mfu_fp32"] = achieved / peak if peak else None
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        steps["minilatte"]()
        result["memory"]["peak_bytes_minilatte_train_step"] = torch.cuda.max_memory_allocated()
    result["optimizer_seconds"] = _optimizer_seconds(ml, steps["minilatte"], repeats, device)
    if profile and device == "cpu":
        result["time_breakdown"] = {name: time_breakdown(fn) for name, fn in steps.items()}
    return result


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _optimizer_seconds(model: torch.nn.Module, step: Callable[[], None], repeats: int, device: str) -> float:
    """Seconds of AdamW (foreach) + an EMA lerp, the rest of a minilatte training step."""
    from .train import update_ema

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ema = copy.deepcopy(model).requires_grad_(False)
    step()

    def update() -> None:
        opt.step()
        update_ema(ema, model, 0.9999)
    return statistics.median(time_interleaved({"opt": update}, repeats, device)["opt"])


# ---------------------------------------------------------------------------------------------- ablation
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
    from torch.nn.attention import SDPBackend, sdpa_kernel

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
    from .data import synthetic_dataset

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


# ---------------------------------------------------------------------------------------------- report
def run_bench(quick: bool = False, repeats: int | None = None, device: str = "cpu", compile: bool = False,
              size: BenchSize | None = None, profile: bool = True) -> dict:
    """The whole benchmark as one JSON-ready dict (see the module docstring)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu'")
    size = size or (QUICK if quick else STANDARD)
    repeats = repeats or (5 if quick else 7)
    report = {"date": datetime.date.today().isoformat(), "hardware": _device_info(device), "quick": quick,
              "load_average_start": _load_average(), **compare_with_diffusers(size, repeats, device, profile)}
    report["ablation"] = ablation(size, repeats, device, compile)
    report["load_average_end"] = _load_average()
    return report


def _load_average() -> float | None:
    """1-minute load average (other processes competing for the cores), where the OS reports it."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _fmt(value, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def to_markdown(report: dict) -> str:
    """The report as markdown tables (hardware, comparison, throughput, time breakdown, ablation)."""
    hw, s, sec = report["hardware"], report["size"], report["seconds"]
    fs, ts = report["forward_speedup_spread"], report["train_step_speedup_spread"]
    lines = [
        f"Hardware: {hw['cpu']} ({hw['cpu_count']} cores, {hw['threads']} torch threads)"
        + (f", GPU {hw['gpu']}" if hw.get("gpu") else "") + f"; torch {hw['torch']}, diffusers {hw['diffusers']}; "
        f"{report['date']}; load average {_fmt(report.get('load_average_start'), '.1f')} -> "
        f"{_fmt(report.get('load_average_end'), '.1f')}.",
        f"Size: width {s['hidden_size']}, {s['depth']} blocks, {s['num_heads']} heads, {s['num_frames']}x"
        f"{s['input_size']}² latents, patch {s['patch_size']}, batch {s['batch_size']} "
        f"({report['tokens_per_video']} tokens/video), fp32.",
        "",
        "| | minilatte | diffusers | speedup (median [min, max] of pairs) |",
        "|---|---|---|---|",
        f"| parameters | {report['params']['minilatte']:,} | {report['params']['diffusers']:,} | |",
        f"| forward GFLOP (counted) | {report['flops']['minilatte_forward_counted'] / 1e9:.2f} | "
        f"{report['flops']['diffusers_forward_counted'] / 1e9:.2f} | |",
        f"| forward s | {sec['minilatte_forward']:.3f} | {sec['diffusers_forward']:.3f} | "
        f"**{fs['median']:.2f}x** [{fs['min']:.2f}, {fs['max']:.2f}] |",
        f"| forward+backward s | {sec['minilatte_train_step']:.3f} | {sec['diffusers_train_step']:.3f} | "
        f"**{ts['median']:.2f}x** [{ts['min']:.2f}, {ts['max']:.2f}] |",
        f"| step TFLOP/s | {report['train_step_tflops']['minilatte']:.3f} | {report['train_step_tflops']['diffusers']:.3f} | |",
        f"| step FLOP/s / plain fp32 matmul ({report['matmul_tflops'] * 1e3:.0f} GFLOP/s) | "
        f"{report['train_step_fraction_of_matmul']['minilatte']:.0%} | "
        f"{report['train_step_fraction_of_matmul']['diffusers']:.0%} | ceiling at the same math: "
        f"{report['train_step_speedup_ceiling_same_math']:.2f}x |",
        f"| activations saved for backward (MiB) | {report['memory']['activation_bytes_minilatte'] / 2**20:.1f} | "
        f"{report['memory']['activation_bytes_diffusers'] / 2**20:.1f} | |",
        "",
        "| minilatte throughput | |", "|---|---|",
        *[f"| {k} | {v:.3g} |" for k, v in report["throughput"].items()],
        f"| AdamW + EMA update s | {report['optimizer_seconds']:.3f} |",
    ]
    if report.get("mfu_fp32") is not None:
        lines.append(f"| MFU (fp32 peak) | {report['mfu_fp32']:.1%} |")
    if "time_breakdown" in report:
        kinds = list(next(iter(report["time_breakdown"].values())))
        lines += ["", "| share of step time (torch.profiler) | " + " | ".join(kinds) + " |",
                  "|---|" + "---|" * len(kinds)]
        lines += [f"| {name} | " + " | ".join(f"{v:.0%}" for v in shares.values()) + " |"
                  for name, shares in report["time_breakdown"].items()]
    lines += ["", "| feature | compared | baseline s | candidate s | speedup | note |", "|---|---|---|---|---|---|"]
    for r in report["ablation"]:
        lines.append(f"| {r['feature']} | {r['compared']} | {_fmt(r['baseline_s'])} | {_fmt(r['candidate_s'])} | "
                     f"{_fmt(r['speedup'], '.2f') + 'x' if r['speedup'] is not None else '—'} | "
                     f"{r['note'] if r['measured'] else 'not measured: ' + r['note']} |")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    """CLI body of ``python -m minilatte bench`` (see cli.py for the arguments)."""
    if args.memory:
        return _memory_main(args)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads={args.threads} must be a positive integer")
    if args.threads is not None or args.device == "cpu":
        # One thread by default on a CPU: with several, every op waits at thread barriers whenever another
        # process holds a core, and a busy 2-core machine then scatters the ratios (measured: 0.2x-3x).
        torch.set_num_threads(args.threads or 1)
    report = run_bench(quick=args.quick, repeats=args.repeats, device=args.device, compile=args.compile)
    report["command"] = _command(args)
    text = to_markdown(report)
    print(text)
    fs, ts = report["forward_speedup_spread"], report["train_step_speedup_spread"]
    print(f"\nminilatte vs diffusers: forward {fs['median']:.2f}x, train step (forward+backward) "
          f"{ts['median']:.2f}x  (ceiling at the same math {report['train_step_speedup_ceiling_same_math']:.2f}x)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=_json_default))
        print(f"wrote {args.json}")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text + "\n")
        print(f"wrote {args.markdown}")


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run."""
    flags = [f"--{name}" for name in ("quick", "compile") if getattr(args, name)]
    flags += [f"--{name} {getattr(args, name)}" for name in ("repeats", "threads") if getattr(args, name) is not None]
    flags += [f"--device {args.device}"] if args.device != "cpu" else []
    return " ".join(["python -m minilatte bench", *flags])


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _memory_main(args: argparse.Namespace) -> None:
    """``bench --memory``: the per-GPU memory model of one preset, and the paper configs' batches."""
    from .memory import GiB, breakdown_table, memory_per_gpu, paper_table, parameter_count, training_state_bytes
    from .models import latte_config

    cfg = latte_config(args.model, num_frames=args.num_frames, input_size=args.input_size,
                       num_classes=args.num_classes)
    state = training_state_bytes(cfg)
    print(f"{args.model}: {parameter_count(cfg):,} parameters; weights {state['weights'] / GiB:.2f} GiB, "
          f"AdamW {state['optimizer'] / GiB:.2f} GiB (exact)")
    print(f"\nper GPU at batch {args.batch_size}, {args.num_gpus} GPUs, {args.num_images} image frames (estimates):\n")
    print(breakdown_table(cfg, args.batch_size, args.num_gpus, args.num_images))
    est = memory_per_gpu(cfg, args.batch_size, args.num_gpus, "ddp", "bf16", False, args.num_images)
    print(f"\nDDP bf16, no checkpointing: {est.total / GiB:.1f} GiB per GPU")
    print(f"\nrecommended batch per GPU (bf16 autocast, {args.num_gpus} GPUs, 90% of the card):\n")
    print(paper_table(args.num_gpus))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``bench`` subcommand's arguments (cli.py calls this)."""
    p.add_argument("--quick", action="store_true", help="small matched size: well under 3 minutes on 2 CPU cores")
    p.add_argument("--json", help="write every figure to this JSON file")
    p.add_argument("--markdown", help="write the tables to this markdown file")
    p.add_argument("--repeats", type=int, help="interleaved timings per model (default 5 quick, 7 full)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default 1 on a CPU: steady ratios on a shared "
                   "machine; use all cores on an idle one)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to compile on CPU)")
    p.add_argument("--memory", action="store_true", help="print the memory model instead of timing")
    p.add_argument("--model", default="Latte-XL/2", help="preset for --memory (default Latte-XL/2)")
    p.add_argument("--num-frames", type=int, default=16, help="--memory: video frames")
    p.add_argument("--input-size", type=int, default=32, help="--memory: latent side (32 = 256² pixels)")
    p.add_argument("--num-classes", type=int, default=0, help="--memory: classes (0 = unconditional)")
    p.add_argument("--num-images", type=int, default=0, help="--memory: image frames per clip (joint training)")
    p.add_argument("--batch-size", type=int, default=5, help="--memory: videos per GPU")
    p.add_argument("--num-gpus", type=int, default=8, help="--memory: GPUs")
    p.set_defaults(func=main)
