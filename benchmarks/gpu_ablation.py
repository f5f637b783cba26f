"""GPU ablation: each speed feature of minilatte's training step switched on one after the other.

Run on a lent GPU (an H100 for the README numbers)::

    python benchmarks/gpu_ablation.py --out benchmarks/results/h100            # Latte-XL/2, 16x256², batch 4
    python benchmarks/gpu_ablation.py --model Latte-S/2 --batch-size 8 --out ...

Rows, cumulative (each adds one feature to the row above; the first is how the official code trains):

    0  fp32, math attention, loss.item() every step      (official: AMP/xformers flags inert)
    1  + SDPA (flash / memory-efficient kernels)
    2  + TF32 matmuls
    3  + bf16 autocast
    4  + no host-device sync per step (loss read only at log steps)
    5  + torch.compile
    6  + per-block activation checkpointing             (a cost in time, a saving in memory)

For each: seconds per step (forward + backward + AdamW), videos/s, achieved TFLOP/s (analytic FLOPs,
minilatte.flops), MFU against the card's bf16 dense peak, and peak memory next to the memory model's
estimate (minilatte.memory). Then minilatte vs diffusers on the GPU (minilatte.bench), and how long the
data loader takes to make a batch compared with a step. Writes ``ablation.json`` and ``ablation.md``.

``--device cpu --smoke`` runs every code path at a tiny size (to check the script without a GPU).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from minilatte import bench
from minilatte.flops import train_step_flops
from minilatte.memory import GiB, memory_per_gpu
from minilatte.models import create_latte

ROWS = [
    dict(name="fp32, math attention, sync every step (official)", sdpa=False, tf32=False, bf16=False, sync=True,
         compile=False, ckpt=False),
    dict(name="+ SDPA flash / memory-efficient", sdpa=True),
    dict(name="+ TF32 matmuls", tf32=True),
    dict(name="+ bf16 autocast", bf16=True),
    dict(name="+ no per-step host sync", sync=False),
    dict(name="+ torch.compile", compile=True),
    dict(name="+ activation checkpointing", ckpt=True),
]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_row(cfg_kwargs: dict, features: dict, batch: int, steps: int, device: str) -> dict:
    """Seconds per training step and peak memory with ``features`` on."""
    torch.manual_seed(0)
    model = create_latte(**cfg_kwargs).to(device).train()
    model.gradient_checkpointing = features["ckpt"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    net = torch.compile(model) if features["compile"] else model
    cfg = model.config
    x = torch.randn(batch, cfg.num_frames, cfg.in_channels, cfg.input_size, cfg.input_size, device=device)
    t = torch.randint(0, 1000, (batch,), device=device)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = features["tf32"]
        torch.backends.cudnn.allow_tf32 = features["tf32"]
    attention = contextlib.nullcontext if features["sdpa"] else (lambda: sdpa_kernel(SDPBackend.MATH))
    autocast = (lambda: torch.autocast(device.split(":")[0], dtype=torch.bfloat16)) if features["bf16"] \
        else contextlib.nullcontext

    def step() -> None:
        with attention():
            with autocast():
                loss = net(x, t).float().square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        if features["sync"]:
            loss.item()

    start = time.perf_counter()
    for _ in range(3):                               # warm-up (and compilation)
        step()
    _sync(device)
    warmup_s = time.perf_counter() - start
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    # Time the whole run: without per-step syncs the host runs ahead of the GPU, so per-step timings would lie.
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    flops = train_step_flops(cfg, batch)
    peak = _gpu_peak()
    result = {"seconds_per_step": seconds, "videos_per_s": batch / seconds, "tflops": flops / seconds / 1e12,
              "mfu_bf16_peak": flops / seconds / peak if peak else None, "warmup_s": warmup_s,
              "peak_memory_gib": torch.cuda.max_memory_allocated() / GiB if device.startswith("cuda") else None}
    est = memory_per_gpu(cfg, batch, 1, "ddp", "bf16" if features["bf16"] else "fp32", features["ckpt"])
    result["model_estimate_gib"] = (est.total - est.parts["cuda_context"] - est.parts["ema"]) / GiB   # no EMA here
    return result


def _gpu_peak() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((p["bf16"] for key, p in bench.GPU_PEAKS.items() if key in name), None)


def loader_row(image_size: int, frames: int, batch: int, workers: int) -> dict:
    """Seconds for a DataLoader to deliver one batch of synthetic pixel clips (steady state)."""
    from torch.utils.data import DataLoader

    from minilatte.data import synthetic_dataset

    ds = synthetic_dataset("moving-digits", num_frames=frames, image_size=image_size, length=batch * 12)
    loader = DataLoader(ds, batch_size=batch, num_workers=workers, pin_memory=torch.cuda.is_available(),
                        persistent_workers=workers > 0)
    it = iter(loader)
    next(it)                                         # start-up
    start = time.perf_counter()
    n = 0
    for _ in it:
        n += 1
    return {"workers": workers, "seconds_per_batch": (time.perf_counter() - start) / max(n, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="Latte-XL/2")
    p.add_argument("--num-frames", type=int, default=16)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cuda")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check every code path (CPU is fine)")
    p.add_argument("--out", default="benchmarks/results/gpu")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_ablation: no CUDA device here; run it on a GPU machine (or --device cpu --smoke)", file=sys.stderr)
        return 2
    if args.device == "cpu":
        torch.set_num_threads(1)                      # steady timings on a shared CPU (see benchmarks/README.md)
    cfg_kwargs = dict(name=args.model, num_frames=args.num_frames, input_size=args.input_size)
    compare_size = bench.STANDARD
    if args.smoke:
        cfg_kwargs = dict(name="Latte-Nano/2", num_frames=4, input_size=8)
        args.batch_size, args.steps, compare_size = 2, 2, bench.QUICK
    rows, features = [], {}
    for row in ROWS:
        features = {**features, **{k: v for k, v in row.items() if k != "name"}}
        if features["compile"] and args.device == "cpu":
            print(f"{row['name']:55s} skipped on CPU (python -m minilatte bench --compile measures it there)")
            features["compile"] = False
            continue
        result = run_row(cfg_kwargs, features, args.batch_size, args.steps, args.device)
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()                  # the row's model and optimizer are gone: free their blocks
        rows.append({"row": row["name"], **result})
        print(f"{row['name']:55s} {result['seconds_per_step']:.4f} s/step  {result['tflops']:.1f} TFLOP/s")
    base = rows[0]["seconds_per_step"]
    for r in rows:
        r["speedup_vs_official"] = base / r["seconds_per_step"]
    report = {"date": time.strftime("%Y-%m-%d"), "hardware": bench._device_info(args.device),
              "model": cfg_kwargs, "batch_size": args.batch_size, "rows": rows,
              "command": "python benchmarks/gpu_ablation.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    cmp = {}
    for precision in ("fp32", "bf16") if args.device.startswith("cuda") else ("fp32",):
        ctx = torch.autocast("cuda", torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        with ctx:
            res = bench.compare_with_diffusers(compare_size, repeats=5, device=args.device, profile=False)
        cmp[precision] = {k: res[k] for k in ("forward_speedup_vs_diffusers", "train_step_speedup_vs_diffusers",
                                               "forward_speedup_spread", "train_step_speedup_spread", "seconds")}
    report["vs_diffusers"] = cmp
    report["data_loading"] = [loader_row(8 * (8 if args.smoke else args.input_size), args.num_frames if not args.smoke
                                         else 4, args.batch_size, w) for w in (0, min(4, os.cpu_count() or 1))]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(report, indent=1))
    lines = [f"{report['hardware'].get('gpu', report['hardware']['cpu'])}, torch {report['hardware']['torch']}, "
             f"{report['date']}; {cfg_kwargs['name']} {cfg_kwargs['num_frames']}x{cfg_kwargs['input_size']}² "
             f"latents, batch {args.batch_size}; `{report['command']}`", "",
             "| features | s/step | videos/s | TFLOP/s | MFU (bf16 peak) | peak GiB | model GiB | speedup |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mfu = "—" if r["mfu_bf16_peak"] is None else f"{r['mfu_bf16_peak']:.0%}"
        peak = "—" if r["peak_memory_gib"] is None else f"{r['peak_memory_gib']:.1f}"
        lines.append(f"| {r['row']} | {r['seconds_per_step']:.3f} | {r['videos_per_s']:.2f} | {r['tflops']:.1f} | "
                     f"{mfu} | {peak} | {r['model_estimate_gib']:.1f} | {r['speedup_vs_official']:.2f}x |")
    lines += ["", "| vs diffusers | forward | train step |", "|---|---|---|"]
    lines += [f"| {p} | {c['forward_speedup_vs_diffusers']:.2f}x | {c['train_step_speedup_vs_diffusers']:.2f}x |"
              for p, c in cmp.items()]
    lines += ["", "| DataLoader workers | s/batch |", "|---|---|"]
    lines += [f"| {d['workers']} | {d['seconds_per_batch']:.3f} |" for d in report["data_loading"]]
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / 'ablation.json'} and {out / 'ablation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
