"""The whole benchmark as one JSON-ready dict, and that dict as markdown tables."""
from __future__ import annotations

import datetime

import torch

from .ablation import ablation
from .diffusers_match import QUICK, STANDARD, BenchSize, compare_with_diffusers
from .timing import _device_info, _load_average


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
