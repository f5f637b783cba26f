"""Command line: ``python -m minilatte <command>`` (also the ``minilatte`` console script).

Commands: ``demo`` (the README's main job), ``train``, ``sample``, ``eval``, ``reproduce``, ``bench``, ``summary``, ``ablate``. Bad input prints one
line naming what is wrong and exits with code 2; Ctrl-C (or SIGTERM) during training finishes the
current step, writes a checkpoint and exits with 130 (143), so ``--resume`` continues exactly.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from .ablate import add_arguments as add_ablate_arguments
from .bench import add_arguments as add_bench_arguments
from .config import at_least, load_config
from .demo import MINUTES, run_demo
from .evaluate import add_eval_arguments, generate_clips
from .models import create_latte
from .reproduce import add_reproduce_arguments
from .run_folder import check_output_file
from .sample import load_for_sampling
from .summary import forward_check, summarize
from .train import TrainingError, TrainingInterrupted, train
from .viz import is_gif, save_gif


def _summary(args) -> None:
    torch.manual_seed(args.seed)
    model = create_latte(args.model, num_frames=args.num_frames, input_size=args.input_size,
                         num_classes=args.num_classes, variant=args.variant)
    print(args.model)
    print(summarize(model))
    print(forward_check(model, seed=args.seed))


def _train(args) -> None:
    cfg = load_config(args.config, args.set)
    out = Path(args.out or Path("runs") / cfg.name)
    result = train(cfg, out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) != 0:      # under torchrun only rank 0 reports
        return
    print(f"trained {cfg.name} to step {result.step}: final loss {result.final_loss:.4f}")
    print(f"checkpoint: {result.checkpoint}")
    if result.samples:
        print(f"samples: {result.samples}")


def _sample(args) -> None:
    check_output_file(args.out, "--out", ".gif", "a GIF", is_gif)     # before the sampling work, not after
    if args.num_videos < 1:
        raise ValueError(f"--num-videos={args.num_videos} must be >= 1")
    for text in args.prompt or ():
        if not text.strip():
            raise ValueError(f"--prompt {text!r} is empty; a prompt says what the videos show")
    if args.prompt and len(args.prompt) > args.num_videos:
        raise ValueError(f"--prompt given {len(args.prompt)} times but --num-videos is {args.num_videos}: the videos "
                         f"take the prompts in turn, so give --num-videos {len(args.prompt)} or more")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, cfg = load_for_sampling(args.checkpoint, device)
    text_model = model.config.conditioning == "text"
    if args.prompt and not text_model:
        kind = "class-conditional (use --class-label)" if model.config.num_classes else "unconditional"
        raise ValueError(f"--prompt needs a text-to-video model; this checkpoint is {kind}")
    labels = None
    if args.class_label is not None:
        if text_model:
            raise ValueError("--class-label needs a class-conditional model; this checkpoint is a text-to-video "
                             "model: use --prompt \"...\"")
        if not model.config.num_classes:
            raise ValueError("--class-label given but the model is unconditional")
        labels = torch.full((args.num_videos,), args.class_label)
    videos, _ = generate_clips(model, cfg, args.num_videos, seed=args.seed, sampler=args.sampler, steps=args.steps,
                               cfg_scale=args.cfg_scale, labels=labels, prompts=args.prompt or None)
    print(f"wrote {save_gif(videos, args.out)}")


def _demo(args) -> None:
    run_demo(Path(args.out), progress=not args.no_progress, minutes=args.minutes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minilatte", description="Learn Latte by building it.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train a tiny Latte on synthetic videos, sample, write GIF + loss curve + report")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--minutes", type=at_least(1, float), default=MINUTES,
                   help=f"on a CPU, train as many steps as fit this many minutes from start to report "
                        f"(default: {MINUTES:g}; at least the config's steps)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_demo)

    p = sub.add_parser("train", help="train from a config (python -m minilatte train --config cpu)")
    p.add_argument("--config", required=True, help="packaged config name (ci, cpu, paper-ucf101, ...) or a .yaml path")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set train.steps=100 (repeatable)")
    p.add_argument("--out", help="run folder (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --out (automatic when torchrun restarts the workers)")
    p.add_argument("--overwrite", action="store_true",
                   help="--out holds another run: move it aside (to <out>.replaced-<time>) and start afresh")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("sample", help="sample videos from a checkpoint into a GIF")
    p.add_argument("--checkpoint", required=True, help="run folder or checkpoint folder")
    p.add_argument("--num-videos", type=at_least(1), default=4)
    p.add_argument("--out", default="samples.gif")
    p.add_argument("--sampler", choices=("ddpm", "ddim"))
    p.add_argument("--steps", type=at_least(1), help="sampling steps (default: the config's)")
    p.add_argument("--cfg-scale", type=at_least(0, float), help="classifier-free guidance scale (default: the config's)")
    p.add_argument("--class-label", type=at_least(0), help="class of every video (default: cycle through classes)")
    p.add_argument("--prompt", action="append", metavar="TEXT",
                   help="caption for a text-to-video model (repeatable; the videos take the prompts in turn; "
                        "default: captions of the run's data)")
    p.add_argument("--seed", type=at_least(0), default=0)
    p.set_defaults(func=_sample)

    p = sub.add_parser("summary", help="build a preset, print its summary and run one forward pass")
    p.add_argument("--model", default="Latte-S/2", help="preset name, e.g. Latte-S/2, Latte-XL/2, Latte-Tiny/2")
    p.add_argument("--num-frames", type=at_least(1), default=16)
    p.add_argument("--input-size", type=at_least(1), default=32, help="latent height = width")
    p.add_argument("--num-classes", type=at_least(0), default=0)
    p.add_argument("--variant", type=int, default=1, choices=(1, 2, 3, 4))
    p.add_argument("--seed", type=at_least(0), default=0)
    p.set_defaults(func=_summary)

    add_eval_arguments(sub.add_parser("eval", help="score a checkpoint's samples: fvd, fd-probe, fd-frame, kid, acc"))

    add_reproduce_arguments(sub.add_parser("reproduce", help="the paper's FVD for one dataset from an official "
                                                             "checkpoint (resumable; torchrun shards the sampling)"))

    add_bench_arguments(sub.add_parser("bench", help="speed vs diffusers, FLOP/s, ablation; --memory: GPU memory model"))

    add_ablate_arguments(sub.add_parser("ablate", help="the paper's design studies, each arm trained alike, "
                                                       "with intervals across seeds and a verdict per finding"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:   # bad input: one line, no traceback, exit code 2
        print(f"minilatte: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:                            # disk full, permissions, a file in the way
        where = f" ({err.filename})" if err.filename else ""
        print(f"minilatte: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except TrainingInterrupted as stop:
        print(f"minilatte: {stop}", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt:
        print("minilatte: interrupted", file=sys.stderr)
        return 130
    except TrainingError as err:
        print(f"minilatte: error: {err}", file=sys.stderr)
        return 1
    return 0
