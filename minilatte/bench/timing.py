"""The timing harness: interleaved timing, speedups as ratios of pairs, FLOP counting, a plain fp32
matmul as the yardstick, the profile split of a step, and a description of the machine."""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

# Nominal dense peaks (FLOP/s) for MFU on GPUs; None where unknown.
GPU_PEAKS = {"H100": {"bf16": 989e12, "fp32": 67e12}, "H200": {"bf16": 989e12, "fp32": 67e12},
             "A100": {"bf16": 312e12, "fp32": 19.5e12}}


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
        import diffusers   # optional here: the version is reported where it is installed
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


def _load_average() -> float | None:
    """1-minute load average (other processes competing for the cores), where the OS reports it."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None
