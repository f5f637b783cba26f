"""One run of one arm with one seed: trained in segments, evaluated after each, cached and resumable.

A run lives in ``<work>/<tier>/<arm key>/seed<k>/``: the trainer's run folder (checkpoints, log.csv)
plus ``ablate-run.json`` (the config it trains) and ``eval_<step>.json`` per evaluation. Training goes
to the first curve point, is evaluated, resumes to the next and so on (resuming is exact: batches,
timesteps and noise depend only on (seed, step), and the tiers' learning rate is constant after
warm-up, so the segments are one uninterrupted run observed on the way). A run whose evaluations all
exist is read, not trained; a killed one resumes from its newest checkpoint.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import json
import time
from pathlib import Path

from .. import checkpoint as ckpt
from ..config import RunConfig, apply_overrides, build_config
from ..convert import init_from_dit
from ..evaluate import evaluate
from ..files import read_json_object, write_text_atomic
from ..flops import train_step_flops
from ..run_folder import config_differences
from ..train import train
from .studies import TIERS, Arm

RUN_FILE = "ablate-run.json"


def curve_steps(steps: int, points: int) -> list[int]:
    """``points`` evaluation steps, evenly spaced, the last at ``steps``."""
    return sorted({max(1, round(steps * (i + 1) / points)) for i in range(points)})


def arm_config(base: RunConfig, arm: Arm, seed: int, work: Path, tier: str) -> RunConfig:
    """The base config with the arm's overrides and the seed; latents cached per dataset under ``work``."""
    raw = apply_overrides(base.to_dict(), [*arm.overrides, f"train.seed={seed}"])
    raw["name"] = f"{tier}-{arm.key}-seed{seed}"
    if raw["data"].get("latent_cache"):    # a cache holds one dataset: one per seed, clip length and interval
        d = raw["data"]
        raw["data"]["latent_cache"] = str(work / tier / "latent-cache" /
                                          f"seed{seed}-f{raw['model']['num_frames']}-i{d['frame_interval']}")
    cfg = build_config(raw)
    if cfg.train.lr_decay != "none":
        raise ValueError(f"train.lr_decay={cfg.train.lr_decay!r}: a run trained in segments up to its evaluation "
                         "points needs a learning rate that does not depend on train.steps (lr_decay none)")
    return cfg


def flops(cfg: RunConfig) -> dict:
    """Training compute of a config: steps, FLOPs per step (forward + backward ≈ 3x forward), total."""
    per_step = train_step_flops(cfg.latte_config(), cfg.train.batch_size, cfg.data.num_images)
    return {"steps": cfg.train.steps, "flops_per_step": per_step, "total_flops": per_step * cfg.train.steps}


def _with_steps(cfg: RunConfig, steps: int) -> RunConfig:
    seg = copy.deepcopy(cfg)
    seg.train.steps = steps
    return seg


def _claim(folder: Path, cfg: RunConfig) -> None:
    """Record the run's config in its folder, or check that the folder holds a run of this config."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / RUN_FILE
    if record.exists():   # compared as today's config reads it: a setting added since, at its default, is no change
        blocking, other = config_differences(read_json_object(record, "ablation run record"), cfg)
        if blocking or other:
            raise ValueError(f"{folder} holds a run of other settings ({'; '.join((blocking + other)[:3])}); "
                             "delete it or use another --work")
        return
    write_text_atomic(record, json.dumps(cfg.to_dict(), indent=2) + "\n")


def _train_quietly(cfg: RunConfig, folder: Path, init_weights=None) -> None:
    """The trainer, with its notes (resuming, changed steps) in the run's ablate.log rather than on screen."""
    with open(folder / "ablate.log", "a") as log, contextlib.redirect_stdout(log):
        train(cfg, folder, resume=True, progress=False, init_weights=init_weights)


def image_pretraining_config(base: RunConfig, seed: int, work: Path, tier: str) -> RunConfig:
    """The image model of ``base``: the same Latte with num_frames=1, trained on single frames."""
    return arm_config(base, Arm("image-pretraining", ("model.num_frames=1",)), seed, work, tier)


def image_pretraining(base: RunConfig, seed: int, work: Path, tier: str) -> Path:
    """Pretrain the image model of ``base`` (num_frames=1: an image DiT whose temporal blocks see one
    frame) on single frames, as many steps as an arm trains; cached. Returns its EMA weights."""
    cfg = image_pretraining_config(base, seed, work, tier)
    folder = work / tier / "image-pretraining" / f"seed{seed}"
    _claim(folder, cfg)
    latest = ckpt.latest_checkpoint(folder / "checkpoints")
    if latest is None or int(latest.name.split("_")[-1]) < cfg.train.steps:
        _train_quietly(cfg, folder)
    final = folder / "checkpoints" / f"step_{cfg.train.steps:07d}"
    return final / "ema.safetensors"


def run_arm(base: RunConfig, arm: Arm, seed: int, work: Path, tier: str, num_samples: int | None = None,
            report=print) -> dict:
    """Train and evaluate one arm with one seed (or read its cached results).

    Returns {"run", "compute", "pretraining" (image-init only), "evals": {step: evaluate()'s dict}}.
    """
    t = TIERS[tier]
    cfg = arm_config(base, arm, seed, work, tier)
    folder = work / tier / arm.key / f"seed{seed}"
    _claim(folder, cfg)
    result = {"run": str(folder), "compute": flops(cfg)}
    steps = curve_steps(cfg.train.steps, t.curve_points)
    init_weights = None
    if arm.init == "image":
        result["pretraining"] = flops(image_pretraining_config(base, seed, work, tier))
        if not all((folder / f"eval_{step:07d}.json").exists() for step in steps):   # a finished run needs no image model
            dit = image_pretraining(base, seed, work, tier)
            init_weights = functools.partial(init_from_dit, dit_checkpoint=dit)
    evals, trained, start = {}, [], time.perf_counter()
    for step in steps:
        out = folder / f"eval_{step:07d}.json"
        if not out.exists():
            _train_quietly(_with_steps(cfg, step), folder, init_weights)
            scores = evaluate(folder / "checkpoints" / f"step_{step:07d}", t.metrics,
                              num_samples=num_samples or t.num_samples, seed=seed, sampler=t.sampler,
                              steps=t.sampling_steps, num_resamples=20, progress=False)
            write_text_atomic(out, json.dumps(scores, indent=2) + "\n")   # never half-written and looking finished
            trained.append(step)
        evals[step] = read_json_object(out, "evaluation result", ("checkpoint", "metrics"))
    final = evals[cfg.train.steps]["metrics"]
    what = f"trained to {trained[-1]} in {time.perf_counter() - start:.0f} s" if trained else "cached"
    report(f"{tier} {arm.key} seed {seed}: {what}; " + ", ".join(f"{k} {v['value']:.4g}" for k, v in final.items()))
    result["evals"] = evals
    return result
