"""``python -m minilatte bench``: its arguments and what it prints and writes."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from ..memory import GiB, breakdown_table, memory_per_gpu, paper_table, parameter_count, training_state_bytes
from ..config import at_least
from ..models import latte_config
from .report import run_bench, to_markdown


def main(args: argparse.Namespace) -> None:
    """CLI body of ``python -m minilatte bench`` (see cli.py for the arguments)."""
    if args.memory:
        return _memory_main(args)
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
    p.add_argument("--repeats", type=at_least(1), help="interleaved timings per model (default 5 quick, 7 full)")
    p.add_argument("--threads", type=at_least(1), help="torch CPU threads (default 1 on a CPU: steady ratios on a shared "
                   "machine; use all cores on an idle one)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to compile on CPU)")
    p.add_argument("--memory", action="store_true", help="print the memory model instead of timing")
    p.add_argument("--model", default="Latte-XL/2", help="preset for --memory (default Latte-XL/2)")
    p.add_argument("--num-frames", type=at_least(1), default=16, help="--memory: video frames")
    p.add_argument("--input-size", type=at_least(1), default=32, help="--memory: latent side (32 = 256² pixels)")
    p.add_argument("--num-classes", type=at_least(0), default=0, help="--memory: classes (0 = unconditional)")
    p.add_argument("--num-images", type=at_least(0), default=0, help="--memory: image frames per clip (joint training)")
    p.add_argument("--batch-size", type=at_least(1), default=5, help="--memory: videos per GPU")
    p.add_argument("--num-gpus", type=at_least(1), default=8, help="--memory: GPUs")
    p.set_defaults(func=main)
