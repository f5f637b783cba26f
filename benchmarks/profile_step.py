"""Where a training step's time goes: torch.profiler's top ops for minilatte and diffusers side by side.

    python benchmarks/profile_step.py                 # the matched size (width 384, 12 blocks), 1 thread
    python benchmarks/profile_step.py --quick --threads 2

One thread by default: on a busy machine, threads waiting at barriers blur the picture. Self CPU
milliseconds per op name, summed over a few profiled steps (after a warm-up), largest first.
"""
from __future__ import annotations

import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

from minilatte import bench


def op_times(fn, steps: int) -> collections.Counter:
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            fn()
    totals = collections.Counter()
    for event in prof.key_averages():
        totals[event.key] += event.self_cpu_time_total / 1e3 / steps
    return totals


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--top", type=int, default=16)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = bench.QUICK if args.quick else bench.STANDARD
    ml, df = bench.build_minilatte(size), bench.build_diffusers(size)
    fwd = bench.forward_fns(ml, df, bench._inputs(size, "cpu"))
    times = {name: op_times(bench.train_step_fn(model, fwd[name]), args.steps)
             for name, model in (("minilatte", ml), ("diffusers", df))}
    keys = sorted(set(times["minilatte"]) | set(times["diffusers"]),
                  key=lambda k: -(times["minilatte"][k] + times["diffusers"][k]))
    print(f"| op (self CPU ms per step, {args.threads} thread(s), {size}) | minilatte | diffusers |")
    print("|---|---|---|")
    for key in keys[:args.top]:
        print(f"| {key[:60]} | {times['minilatte'][key]:.1f} | {times['diffusers'][key]:.1f} |")
    print(f"| **total** | {sum(times['minilatte'].values()):.1f} | {sum(times['diffusers'].values()):.1f} |")


if __name__ == "__main__":
    main()
