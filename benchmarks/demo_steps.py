"""How the demo's samples improve with training steps: the ``cpu`` config trained on, evaluated as it goes.

    python benchmarks/demo_steps.py --steps 2700,5400,8100,10800 --work runs/demo-steps
    python benchmarks/demo_steps.py --collect --work runs/demo-steps     # only gather what is there

One run, resumed to each step count in turn (resume is exact, so this is one uninterrupted run observed
at several points), 1 thread, fp32; after each, ``python -m minilatte eval`` on 256 clips (DDIM-50, the
config's guidance, and the extra ``--cfg-scale`` values asked for). Writes
``benchmarks/results/demo_steps.{json,md}``. The step counts, not wall-clock time, fix what is trained,
so the results do not depend on how busy the machine was; the times are recorded for reference only.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "minilatte"]


def run(args: list[str], log: Path) -> float:
    start = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def evaluate(work: Path, steps: int, cfg_scale: float | None) -> Path:
    name = f"eval_{steps}" + ("" if cfg_scale is None else f"_cfg{cfg_scale:g}")
    out = work / f"{name}.json"
    args = [*CLI, "eval", "--checkpoint", str(work / "run"), "--metric", "fd-probe,acc,kid", "--num-samples", "256",
            "--sampler", "ddim", "--steps", "50", "--out", str(out), "--no-progress"]
    run(args + ([] if cfg_scale is None else ["--cfg-scale", str(cfg_scale)]), work / f"{name}.log")
    return out


def train_and_evaluate(work: Path, step_counts: list[int], cfg_scales: list[float], overrides: list[str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for i, steps in enumerate(step_counts):
        sets = [f"train.steps={steps}", "train.mixed_precision=fp32", "train.threads=1",
                f"train.ckpt_every={step_counts[0]}", *overrides]
        seconds = run([*CLI, "train", "--config", "cpu", "--out", str(work / "run"), *(["--resume"] if i else []),
                       *[a for s in sets for a in ("--set", s)], "--no-progress"], work / f"train_{steps}.log")
        with open(work / "times.txt", "a") as f:
            f.write(f"{steps} train_s={seconds:.0f}\n")
        for scale in [None, *cfg_scales]:
            evaluate(work, steps, scale)


def collect(work: Path) -> dict:
    rows = []
    for path in sorted(work.glob("eval_*.json"), key=lambda p: (int(p.stem.split("_")[1]), p.stem)):
        e = json.loads(path.read_text())
        m = e["metrics"]
        rows.append({"steps": int(path.stem.split("_")[1]), "cfg_scale": e["cfg_scale"],
                     "acc": m["acc"]["value"], "acc_ci": [m["acc"]["ci_low"], m["acc"]["ci_high"]],
                     "fd_probe": m["fd-probe"]["value"], "fd_probe_ci": [m["fd-probe"]["ci_low"], m["fd-probe"]["ci_high"]],
                     "fd_real_real": m["fd-probe"]["reference"], "kid": m["kid"]["value"]})
    return {"config": "cpu", "sampler": "ddim-50", "num_samples": 256, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/demo-steps")
    parser.add_argument("--steps", default="2700,5400,8100,10800")
    parser.add_argument("--cfg-scales", default="", help="extra guidance scales to evaluate, e.g. 2")
    parser.add_argument("--set", action="append", default=[], help="config overrides for the run")
    parser.add_argument("--collect", action="store_true", help="only gather the evaluations already in --work")
    parser.add_argument("--out", default="benchmarks/results/demo_steps")
    args = parser.parse_args()
    work = Path(args.work)
    if not args.collect:
        train_and_evaluate(work, [int(s) for s in args.steps.split(",")],
                           [float(s) for s in args.cfg_scales.split(",") if s], args.set)
    result = {"date": time.strftime("%Y-%m-%d"), "overrides": args.set, **collect(work)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"The `cpu` config ({', '.join(args.set) or 'as shipped'}) after each step count, one run resumed, 1 thread, fp32; "
             f"{result['date']}, `python benchmarks/demo_steps.py`; 256 samples (DDIM-50) vs 256 real clips per row.", "",
             "| steps | CFG | content acc [95%] | FD-probe [95%] | FD / real-real | KID |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['steps']} | {r['cfg_scale']:g} | {r['acc']:.2f} [{r['acc_ci'][0]:.2f}, {r['acc_ci'][1]:.2f}] | "
              f"{r['fd_probe']:.2f} [{r['fd_probe_ci'][0]:.2f}, {r['fd_probe_ci'][1]:.2f}] | "
              f"{r['fd_probe'] / r['fd_real_real']:.1f}x | {r['kid']:.3f} |" for r in result["rows"]]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
