"""The CPU runtime choices of the trainer, measured: bf16 vs fp32, torch.compile, threads under load.

    python benchmarks/cpu_runtime.py --config cpu --out benchmarks/results/cpu_runtime

* precision — a matmul of the model's width and a whole training step, fp32 and bf16 autocast;
* compile — time to the first compiled step, then steady steps/s against eager: how many steps
  a run needs before compiling pays back;
* threads — training steps/s with 1 thread, all cores and ``auto`` (minilatte.runtime), while 0, 1,
  2 or 4 other processes keep cores busy (plain Python busy loops, like a browser tab that spins).

Each measurement runs in a fresh process, so thread settings and compile caches never leak.
Run it on an otherwise idle machine: the loads are made by the script itself.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys, time, torch
from minilatte.config import load_config
from minilatte.train import Trainer
args = json.loads(sys.argv[1])
cfg = load_config(args["config"], args["overrides"] + [f"train.steps={args['warmup'] + args['steps']}",
                                                       "train.num_sample_videos=0"])
start = time.perf_counter()
trainer = Trainer(cfg, args["out"], progress=False)
batches = iter(trainer.loader())
trainer.train_step(next(batches))
first = time.perf_counter() - start
for _ in range(args["warmup"] - 1):
    trainer.train_step(next(batches))
start = time.perf_counter()
for _ in range(args["steps"]):
    trainer.train_step(next(batches))
print(json.dumps({"steps_per_s": args["steps"] / (time.perf_counter() - start), "first_step_s": first,
                  "threads": trainer.runtime.threads, "precision": trainer.runtime.precision,
                  "threads_reason": trainer.runtime.threads_reason}))
"""

BUSY = "while True: pass"


def measure(config: str, overrides: list[str], out: Path, steps: int, warmup: int, env: dict | None = None) -> dict:
    args = {"config": config, "overrides": overrides, "out": str(out), "steps": steps, "warmup": warmup}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def matmul_rates(width: int, seconds: float = 1.0) -> dict:
    """A square matmul of (at least) the model's width, bf16 against fp32, one thread."""
    import torch

    from minilatte.runtime import native_cpu_bf16
    torch.set_num_threads(1)
    size, rates = max(256, width), {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size).to(dtype)
        a @ a
        count, start = 0, time.perf_counter()
        while count < 3 or time.perf_counter() - start < seconds / 2:
            a @ a
            count += 1
        rates[dtype] = count / (time.perf_counter() - start)
    return {"native_bf16_flag": native_cpu_bf16(), "width": size,
            "bf16_over_fp32_matmul": rates[torch.bfloat16] / rates[torch.float32]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="cpu")
    parser.add_argument("--out", default="benchmarks/results/cpu_runtime")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--loads", default="0,1,2,4")
    parser.add_argument("--work", default="runs/cpu-runtime")
    args = parser.parse_args()
    import torch

    from minilatte.config import load_config
    from minilatte.runtime import native_cpu_bf16
    cores = os.cpu_count() or 1
    width = load_config(args.config).latte_config().hidden_size
    work = Path(args.work)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, "
              f"{cores} cores, torch {torch.__version__}", "config": args.config}

    result["precision"] = {"matmul": matmul_rates(width)}
    one = {"OMP_NUM_THREADS": str(cores)}
    fp32 = measure(args.config, ["train.mixed_precision=fp32"], work / "fp32", args.steps, 5, one)
    result["precision"]["train_step_fp32"] = fp32
    if native_cpu_bf16():
        bf16 = measure(args.config, ["train.mixed_precision=bf16"], work / "bf16", args.steps, 5, one)
        result["precision"]["train_step_bf16"] = bf16
        result["precision"]["bf16_over_fp32_step"] = bf16["steps_per_s"] / fp32["steps_per_s"]

    compiled = measure(args.config, ["train.compile=true"], work / "compile", args.steps, 5, one)
    gain = compiled["steps_per_s"] / fp32["steps_per_s"]
    extra = compiled["first_step_s"] - fp32["first_step_s"]
    # Steps after which the compiled run is ahead: extra / (t_eager - t_compiled) per step.
    saved_per_step = 1 / fp32["steps_per_s"] - 1 / compiled["steps_per_s"]
    result["compile"] = {"eager": fp32, "compiled": compiled, "speedup": gain, "compile_overhead_s": extra,
                         "payback_steps": extra / saved_per_step if saved_per_step > 0 else None}

    rows = []
    for load in [int(v) for v in args.loads.split(",")]:
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(load)]
        try:
            time.sleep(1.0)
            for label, env in (("1 thread", {"OMP_NUM_THREADS": "1"}), (f"{cores} threads", {"OMP_NUM_THREADS": str(cores)}),
                               ("auto", {})):
                env = {**env, **({} if "OMP_NUM_THREADS" in env else {"OMP_NUM_THREADS": ""})}
                m = measure(args.config, [], work / f"load{load}", args.steps, 5, env)
                rows.append({"load": load, "setting": label, **m})
                print(rows[-1], flush=True)
        finally:
            for p in busy:
                p.kill()
    result["threads"] = rows

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    p = result["precision"]
    lines = [f"CPU runtime choices, {result['date']}, {result['machine']}, config `{args.config}`",
             "(`python benchmarks/cpu_runtime.py`; the machine otherwise idle; loads are busy-loop processes).", "",
             f"* precision: native bf16 flag {p['matmul']['native_bf16_flag']}; bf16 matmul at width "
             f"{p['matmul']['width']} runs {p['matmul']['bf16_over_fp32_matmul']:.3g}x fp32"
             + (f"; training step with bf16 autocast {p['bf16_over_fp32_step']:.2f}x fp32" if "bf16_over_fp32_step" in p
                else "; bf16 training not timed (auto never picks it here)"),
             f"* torch.compile: {gain:.2f}x eager steps/s after {extra:.0f} s extra before the first step; pays back "
             + (f"after {result['compile']['payback_steps']:.0f} steps" if result["compile"]["payback_steps"] else "never"),
             "", "| other busy processes | threads setting | threads used | steps/s |", "|---|---|---|---|"]
    lines += [f"| {r['load']} | {r['setting']} | {r['threads']} | {r['steps_per_s']:.2f} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
