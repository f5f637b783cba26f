"""Command line: ``python -m minilatte <command>`` (also the ``minilatte`` console script)."""
from __future__ import annotations

import argparse
import sys

import torch


def _summary(args) -> None:
    from .models import create_latte
    from .summary import forward_check, summarize

    torch.manual_seed(args.seed)
    model = create_latte(args.model, num_frames=args.num_frames, input_size=args.input_size,
                         num_classes=args.num_classes, variant=args.variant)
    print(f"{args.model}")
    print(summarize(model))
    print(forward_check(model, seed=args.seed))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minilatte", description="Learn Latte by building it.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="build a preset, print its summary and run one forward pass")
    p.add_argument("--model", default="Latte-S/2", help="preset name, e.g. Latte-S/2, Latte-XL/2, Latte-Tiny/2")
    p.add_argument("--num-frames", type=int, default=16)
    p.add_argument("--input-size", type=int, default=32, help="latent height = width")
    p.add_argument("--num-classes", type=int, default=0)
    p.add_argument("--variant", type=int, default=1, choices=(1, 2, 3, 4))
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as err:     # bad input: one line, no traceback, exit code 2
        print(f"minilatte: error: {err}", file=sys.stderr)
        return 2
    return 0
