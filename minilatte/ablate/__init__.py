"""The ablation lab: the paper's eight design studies, run fairly, reported with intervals across seeds.

    python -m minilatte ablate --study conditioning --tier ci --seeds 2 --json conditioning.json
    python -m minilatte ablate --study all --tier cpu --seeds 3 --json all.json --markdown all.md

For each arm of a study (:mod:`.studies`) and each seed, the trainer (:func:`minilatte.train.train`)
trains the tier's base config with the arm's overrides and :func:`minilatte.evaluate.evaluate` scores
it (FD-probe, KID, content accuracy; FVD too in the gpu tier) at a few points on the way
(:mod:`.runs`). Per arm: the mean and a 95 % t-interval across seeds; per study the arms compared seed by
seed (paired intervals) and a verdict from them (:mod:`.stats`),
a Markdown table and a PNG of the training curves (:mod:`.report`).

Fair by construction, one rule for every study: **equal steps**. Every arm trains the same number of
steps, on the same data (for seed k, the same clips in the same order: batches depend only on (seed,
step)), with the same batch size, learning rate, seeds and evaluation. Variant 3, whose blocks hold two
attentions, is parameter-matched to variant 1 by :func:`~minilatte.models.presets.compute_matched_config`
(its FLOPs then match within a few per cent). Arms that differ in cost per step by design — compression
patches (fewer tokens), image-video joint training (1.25x the tokens), model size, and the image-init
arm's pretraining — are not equalised: the JSON records per arm its steps, FLOPs per step and total
FLOPs (:mod:`minilatte.flops`; the pretraining separately), so a win bought with compute is visible.

Runs are cached and resumable: one folder per (tier, arm config, seed) under ``--work``. Arms of
different studies that are the same config (every study's baseline is the tier's base config) share
their runs, which are identical anyway. A finished run is read, not trained; an interrupted one
resumes from its newest checkpoint, so re-running the command after a kill continues.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..metrics.i3d_weights import FETCH_COMMAND, i3d_cache_path
from ..files import write_text_atomic
from ..run_folder import check_writable_file
from .plan import plan, plan_markdown
from .report import findings_table, plot_curves, study_result, to_markdown
from .runs import run_arm
from .stats import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, paired_verdict, summarize, verdict
from .studies import STUDIES, TIERS, base_config, study_arms

__all__ = ["run_ablation", "STUDIES", "TIERS", "summarize", "paired_verdict", "verdict", "REPRODUCED", "NOT_REPRODUCED", "INCONCLUSIVE",
           "add_arguments"]


def run_ablation(study: str, tier: str = "ci", seeds: int = 3, work: str | Path = "runs/ablate",
                 curves: str | Path | None = None, extra: tuple[str, ...] = (), num_samples: int | None = None,
                 report=print) -> dict:
    """Run one study (or ``"all"``) and return its JSON (``{"studies": [...]}`` for all).

    ``extra``: overrides on the tier's base config (e.g. ``("train.steps=20",)`` for a quick look);
    ``num_samples``: clips per evaluation instead of the tier's; ``curves``: folder for the PNGs
    (default ``<work>/<tier>/curves``).
    """
    _check(study, tier, seeds, num_samples)
    if "fvd" in TIERS[tier].metrics and not i3d_cache_path().is_file():   # before hours of training, not after
        raise FileNotFoundError(f"the {tier} tier scores FVD, whose I3D weights are not at {i3d_cache_path()}; "
                                f"run: {FETCH_COMMAND}")
    work = Path(work)
    curves = Path(curves) if curves else work / tier / "curves"
    base = base_config(tier, tuple(extra))
    class_conditional = bool(base.latte_config().num_classes)
    results = []
    for name in (list(STUDIES) if study == "all" else [study]):
        arms = study_arms(name, base)
        runs = {arm.name: [run_arm(base, arm, seed, work, tier, num_samples, report) for seed in range(seeds)]
                for arm in arms}
        result = study_result(name, tier, arms, runs, class_conditional)
        result["curves"] = str(plot_curves(result, curves / f"{name}.png"))
        report(f"{name}: {result['verdict']} (paper: {result['paper']})")
        results.append(result)
    return {"studies": results} if study == "all" else results[0]


def _check(study: str, tier: str, seeds: int, num_samples: int | None) -> None:
    """One-line ValueErrors for bad arguments, before any work."""
    if tier not in TIERS:
        raise ValueError(f"tier {tier!r} is unknown; choose one of {', '.join(TIERS)}")
    if study != "all" and study not in STUDIES:
        raise ValueError(f"study {study!r} is unknown; choose one of {', '.join(STUDIES)} or all")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds={seeds!r} must be an integer >= 1")
    if num_samples is not None and num_samples < 2:
        raise ValueError(f"num_samples={num_samples} must be >= 2")


def add_arguments(parser) -> None:
    """The ``python -m minilatte ablate`` options (cli.py builds the sub-parser, this fills it)."""
    parser.add_argument("--study", required=True, help=f"one of {', '.join(STUDIES)}, or all")
    parser.add_argument("--tier", default="ci", help="ci (seconds per run), cpu (minutes per run) or gpu (default: ci)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm (default: 3; 1 gives no interval)")
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--markdown", help="write the tables as Markdown to this file")
    parser.add_argument("--work", default="runs/ablate", help="folder of the cached runs (default: runs/ablate)")
    parser.add_argument("--curves", help="folder for the training-curve PNGs (default: <work>/<tier>/curves)")
    parser.add_argument("--num-samples", type=int, help="clips per evaluation (default: the tier's; ci 64, cpu 256, "
                                                        "gpu 2048)")
    parser.add_argument("--plan", action="store_true",
                        help="print the distinct runs and their FLOPs (for gpu: an estimated time on one H100); train nothing")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting of the tier's base config in every arm (repeatable)")
    parser.set_defaults(func=ablate_command)


def ablate_command(args) -> None:
    if args.plan:
        _check(args.study, args.tier, args.seeds, None)
        print(plan_markdown(plan(args.study, args.tier, args.seeds, tuple(args.set))), end="")
        return
    for path, flag in ((args.json, "--json"), (args.markdown, "--markdown")):
        if path:
            check_writable_file(path, flag)            # before the training, not after
    result = run_ablation(args.study, args.tier, args.seeds, args.work, args.curves, tuple(args.set), args.num_samples)
    studies = result.get("studies", [result])
    table = to_markdown(studies)
    print(table, end="")
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")
    if args.markdown:
        write_text_atomic(args.markdown, table)
