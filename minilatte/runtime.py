"""What this machine is good at, measured when a run starts: bf16 or fp32, how many CPU threads.

CPUs differ more than their names say. On a CPU with native bf16 (AVX512-BF16 or AMX) a bf16
matmul runs 2-4x faster than fp32; on one without, PyTorch emulates it and it runs 10-300x slower.
Two threads on a two-core laptop that is also running a browser can be 10x *slower* than one,
because OpenMP threads spin-wait for a core that is busy elsewhere. So nothing here is assumed:

* :func:`choose_precision` — bf16 autocast on CUDA; on a CPU only if it has native bf16 *and* the
  run's own training step (the model's forward and backward on a batch of the run's shape) measures
  at least ``MIN_BF16_SPEEDUP`` times faster under bf16 autocast than in fp32. A bf16 matmul alone
  is not enough to go by: on a Xeon with AMX a 256x256 bf16 matmul ran 2.5x fp32, yet the tiny
  ``cpu`` model's whole step ran 0.75x, its small matmuls and the casts around them costing more
  than they save.
* :func:`choose_threads` — as many threads as there are cores that other processes leave idle,
  measured from ``/proc/stat`` (Linux) or the load average, at least 1.

Both return the choice and the reason, which the trainer writes into the run's ``runtime.json``
and the demo into its report.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

MIN_BF16_SPEEDUP = 1.3        # below this, bf16's rounding is not worth it


@dataclass
class Runtime:
    precision: str            # "bf16" or "fp32"
    precision_reason: str
    threads: int | None       # torch CPU threads (None on CUDA: not set)
    threads_reason: str

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        threads = "" if self.threads is None else f"; {self.threads} CPU thread(s) ({self.threads_reason})"
        return f"{self.precision} ({self.precision_reason}){threads}"


def cpu_flags() -> set[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_cpu_bf16() -> bool:
    """True when the CPU executes bf16 dot products in hardware (x86 AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def step_speedup_bf16(model: torch.nn.Module, inputs: tuple, kwargs: dict | None = None,
                      seconds: float = 1.0, rounds: int = 5) -> float:
    """How many times faster ``model(*inputs, **kwargs)`` forward + backward runs under CPU bf16 autocast
    than in fp32: the median over ``rounds`` rounds, each timing both precisions back to back (so a
    change in the machine's load hits both), after one untimed call of each; about ``seconds`` in all.

    The caller's random state, and the model's gradients, are left as they were: timing a run must not
    change what the run computes.
    """
    def step(bf16: bool) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(*inputs, **(kwargs or {}))
        out.float().square().mean().backward()
        return time.perf_counter() - start

    with torch.random.fork_rng(devices=[]):
        first = step(False) + step(True)
        repeats = max(1, int(seconds / rounds / max(first, 1e-6)))
        ratios = sorted(sum(step(False) for _ in range(repeats)) / sum(step(True) for _ in range(repeats))
                        for _ in range(rounds))
    model.zero_grad(set_to_none=True)
    return ratios[len(ratios) // 2]


def choose_precision(mode: str, device: torch.device, bf16_speedup: Callable[[], float]) -> tuple[str, str]:
    """``train.mixed_precision`` (auto | bf16 | fp32) on ``device`` → ("bf16" | "fp32", reason).

    ``bf16_speedup()``: measures the run's training step under bf16 against fp32 (see
    :func:`step_speedup_bf16`); called only on a CPU with native bf16. Asking for bf16 on a CPU
    without native bf16 is refused (it would run many times slower).
    """
    if mode == "fp32":
        return "fp32", "asked for"
    if device.type == "cuda":
        return "bf16", "CUDA" if mode == "auto" else "asked for"
    if device.type != "cpu":
        if mode == "bf16":
            raise ValueError(f"train.mixed_precision=bf16 is supported on CUDA and CPUs, not on {device.type}")
        return "fp32", f"{device.type}: fp32"
    if not native_cpu_bf16():
        if mode == "bf16":
            raise ValueError("train.mixed_precision=bf16: this CPU has no native bf16 (no avx512_bf16/amx_bf16 "
                             "flag), where bf16 runs many times slower than fp32; use auto or fp32")
        return "fp32", "CPU without native bf16"
    speedup = bf16_speedup()
    if mode == "bf16":
        return "bf16", f"asked for; a training step under bf16 measured {speedup:.2f}x fp32 here"
    if speedup >= MIN_BF16_SPEEDUP:
        return "bf16", f"native bf16 CPU, a training step under bf16 measured {speedup:.2f}x fp32"
    return "fp32", f"native bf16 CPU, but a training step under bf16 measured only {speedup:.2f}x fp32"


def _busy_cores_other_processes(interval: float = 0.25) -> float | None:
    """Cores kept busy by *other* processes over the next ``interval`` seconds (Linux), else None."""
    def jiffies():
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)          # idle + iowait
        return sum(fields[:8]), idle
    try:
        total0, idle0 = jiffies()
        own0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(interval)
        total1, idle1 = jiffies()
        own = (time.process_time() - own0) / (time.perf_counter() - wall0)  # cores this process used
    except (OSError, ValueError, IndexError):
        return None
    if total1 == total0:
        return None
    cores = os.cpu_count() or 1
    busy = (1 - (idle1 - idle0) / (total1 - total0)) * cores
    return max(0.0, busy - own)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def choose_threads(requested: int | None = None) -> tuple[int, str]:
    """Torch CPU threads for a run → (threads, reason). ``requested``: a fixed number (None or 0 = auto).

    Auto: the usable cores minus those other processes keep busy right now (rounded), at least one.
    A thread that has to wait for a busy core stalls every other thread at each parallel op, so a
    thread fewer than the cores costs little on an idle machine and saves a lot on a busy one.
    """
    cores = usable_cores()
    if requested:
        return requested, "asked for"
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads(), "OMP_NUM_THREADS"
    busy = _busy_cores_other_processes()
    if busy is None:
        try:
            busy = max(0.0, os.getloadavg()[0])
        except (AttributeError, OSError):
            return cores, f"{cores} cores, load unknown"
    threads = max(1, min(cores, round(cores - busy)))
    return threads, f"{cores} cores, {busy:.1f} busy with other work"


def apply(mode: str, device: torch.device, bf16_speedup: Callable[[], float],
          threads: int | None = None, previous: dict | None = None) -> Runtime:
    """Set the CPU thread count, then choose the precision at that count; return both and why.

    ``previous``: the runtime a resumed run recorded (its ``runtime.json``). With ``mode="auto"`` its
    precision is kept: re-timing could pick the other one mid-run, and a resumed run must compute what
    an uninterrupted one does.
    """
    count, why_threads = (None, "CUDA run") if device.type == "cuda" else choose_threads(threads)
    if count is not None:
        torch.set_num_threads(count)
    if mode == "auto" and previous and previous.get("precision") in ("bf16", "fp32"):
        precision, why = previous["precision"], f"as the run being resumed ({previous.get('precision_reason', '')})"
    else:
        precision, why = choose_precision(mode, device, bf16_speedup)
    return Runtime(precision, why, count, why_threads)
