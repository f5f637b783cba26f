"""Evaluating a trained checkpoint: sample clips, compare them with real clips, write JSON.

    python -m minilatte eval --checkpoint runs/cpu --metric fd-probe,kid,acc --num-samples 512

Metrics (``METRICS``):

* ``fvd`` — canonical FVD (Kinetics-400 I3D, StyleGAN-V's protocol; needs ``python -m minilatte.metrics
  fetch-i3d`` once). Clips shorter than 9 frames get each frame repeated, which the JSON records.
* ``fd-probe`` — FD on the clip features of the synthetic-data probe: sees content *and* motion.
* ``fd-frame`` — FD on the probe's per-frame (2D) features: image quality only, blind to motion.
* ``kid`` — unbiased KID on the probe's clip features: fair at small N.
* ``acc`` — how often the probe names the class a class-conditional sample was asked for; for a
  text-to-video model, **prompt accuracy**: the prompts are the captions of the real clips, and the
  probe's content (and motion) prediction of each sample is compared with what its prompt named.

Every value comes with a 95% bootstrap interval (accuracy: a Wilson interval), the number of clips
and the seed. Probe metrics also report ``reference``: the same metric between two independent sets
of real clips of the same size — the score of a perfect model at this N (FD is biased upward at
small N, so compare against this, not against 0).

From Python (notebooks): :func:`evaluate` for a checkpoint, :func:`evaluate_videos` for clips in hand.
"""
from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from statistics import NormalDist

import torch

from .checkpoint import resolve_checkpoint
from .config import at_least
from .data.captions import CaptionedSynthetic
from .data.synthetic import SYNTHETIC
from .metrics import (bootstrap_ci, check_matching_clips, frechet_distance, i3d_features, kid, load_i3d, load_probe,
                      to_uint8_videos)
from .metrics.fvd import MIN_FRAMES
from .metrics.probe import CLASS_OFFSETS, FRAME_DIM
from .metrics.probe import IMAGE_SIZE as PROBE_SIZE
from .metrics.probe import NUM_FRAMES as PROBE_FRAMES
from .files import FileFormatError, read_json_object, write_text_atomic
from .run_folder import check_output_file
from .sample import generate_clips, load_for_sampling
from .train import clip_dataset

METRICS = ("fvd", "fd-probe", "fd-frame", "kid", "acc")
PROBE_METRICS = ("fd-probe", "fd-frame", "kid", "acc")
REAL_SEED_OFFSET = 1_000_003     # real clips come from seeds training never used


def parse_metrics(metrics) -> list[str]:
    """"fvd,kid" or ["fvd", "kid"] → a checked list; a clear error names the allowed metrics."""
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [m.strip() for m in names if m.strip()]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise ValueError(f"metric {bad[0] if bad else '(none)'!r} is unknown; choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def wilson_interval(hits: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion hits/total (better than ±2σ near 0 and 1)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def real_clips(cfg, num_samples: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``num_samples`` real clips (N, F, C, H, W) in [-1, 1] like the run's training data, and their labels."""
    if cfg.data.dataset in SYNTHETIC:
        ds = clip_dataset(cfg, seed=cfg.train.seed + REAL_SEED_OFFSET + seed, length=num_samples)
    else:
        ds = clip_dataset(cfg)
        if len(ds) < num_samples:
            raise ValueError(f"the run's dataset has {len(ds)} clips, fewer than num_samples={num_samples}")
    items = [ds[i] for i in range(num_samples)]
    labels = torch.tensor([it["label"] for it in items]) if "label" in items[0] else None
    return torch.stack([it["video"] for it in items]), labels


def _batched(fn, videos: torch.Tensor | None, batch_size: int = 256):
    """fn over batches of clips (N, F, C, H, W) → float64 array (N, D); None stays None."""
    if videos is None:
        return None
    return torch.cat([fn(videos[s:s + batch_size]) for s in range(0, len(videos), batch_size)]).double().numpy()


def _probe_entry(metric, real, fake, reference_real, num_resamples, seed, features: str) -> dict:
    entry = bootstrap_ci(metric, real, fake, num_resamples=num_resamples, seed=seed)
    if reference_real is not None:
        entry["reference"] = float(metric(real, reference_real))
    entry["features"] = features
    return entry


@torch.no_grad()
def evaluate_videos(real: torch.Tensor, fake: torch.Tensor, metrics=("fd-probe",), *, dataset: str | None = None,
                    labels: torch.Tensor | None = None, reference: torch.Tensor | None = None, seed: int = 0,
                    num_resamples: int = 100, probe=None, i3d=None, progress: bool = False,
                    motions: torch.Tensor | None = None) -> dict:
    """Metrics between real (N₁, F, C, H, W) and fake (N₂, F, C, H, W) clips in [-1, 1].

    ``labels`` (N₂,): the dataset classes the fake clips were asked for (``acc``); ``motions`` (N₂,):
    the start directions their prompts named (``acc`` then also scores motion); ``dataset``: the
    synthetic dataset's name (for the probe's class numbering); ``reference`` (N₁, …): a second set
    of real clips for the real-vs-real reference of probe metrics.
    """
    metrics = parse_metrics(metrics)
    check_matching_clips(real, fake, layout="NFCHW")
    if reference is not None:
        check_matching_clips(real, reference, layout="NFCHW")
    results: dict = {}
    if "fvd" in metrics:
        i3d = load_i3d() if i3d is None else i3d
        frames = fake.shape[1]
        repeat = 1 if frames >= MIN_FRAMES else -(-MIN_FRAMES // frames)
        feats = [i3d_features(to_uint8_videos(v), model=i3d, frame_repeat=repeat, progress=progress) for v in (real, fake)]
        entry = bootstrap_ci(frechet_distance, *feats, num_resamples=num_resamples, seed=seed)
        entry["protocol"] = ("fvd2048_16f (StyleGAN-V): I3D logits, 224x224, first 16 frames" if repeat == 1 else
                             f"NOT canonical: {frames}-frame clips with every frame shown {repeat} times (I3D needs >= 9)")
        entry["features"] = "Kinetics-400 I3D logits (400-d)"
        results["fvd"] = entry
    wanted = [m for m in metrics if m in PROBE_METRICS]
    if wanted:
        check_probe_clips(wanted, dataset, fake.shape[1], fake.shape[-1])
        probe = load_probe() if probe is None else probe
        sets = {"real": real, "fake": fake, "reference": reference}
        clip = {k: _batched(probe.clip_features, v) for k, v in sets.items()}                    # (N, 128)
        frame = {k: _batched(lambda x: probe.frame_features(x).flatten(1), v) for k, v in sets.items()}  # (N, 8·64)

        def frame_fd(a, b):     # frames pooled over clips; the bootstrap resamples whole clips
            return frechet_distance(a.reshape(-1, FRAME_DIM), b.reshape(-1, FRAME_DIM))

        for name, metric, feats, desc in (("fd-probe", frechet_distance, clip, "probe clip features (128-d)"),
                                          ("fd-frame", frame_fd, frame, "probe per-frame features (64-d)"),
                                          ("kid", partial(kid, seed=seed), clip, "probe clip features (128-d)")):
            if name in wanted:
                results[name] = _probe_entry(metric, feats["real"], feats["fake"], feats["reference"],
                                             num_resamples, seed, desc)
        if "acc" in wanted:
            if labels is None:
                raise ValueError("acc needs the class labels the samples were asked for (a class-conditional model)")
            correct = _content_correct(probe, fake, labels, dataset)
            low, high = wilson_interval(int(correct.sum()), len(labels))
            per_class = {}     # a model can be right on average and blind to one class
            for k, name in enumerate(SYNTHETIC[dataset].class_names):
                asked = labels.to(correct.device) == k
                if asked.any():
                    k_low, k_high = wilson_interval(int(correct[asked].sum()), int(asked.sum()))
                    per_class[name] = {"value": float(correct[asked].float().mean()), "ci_low": k_low,
                                       "ci_high": k_high, "n": int(asked.sum())}
            results["acc"] = {"value": float(correct.float().mean()), "ci_low": low, "ci_high": high, "level": 0.95,
                              "interval": "Wilson", "features": "probe content head", "per_class": per_class}
            if motions is not None:
                moved = _motion_correct(probe, fake, motions)
                m_low, m_high = wilson_interval(int(moved.sum()), len(motions))
                ceiling = _motion_correct(probe, real, motions) if len(real) == len(motions) else None
                results["acc"]["motion"] = {
                    "value": float(moved.float().mean()), "ci_low": m_low, "ci_high": m_high, "interval": "Wilson",
                    "features": "probe motion head (start direction, 8 classes)",
                    "real": None if ceiling is None else float(ceiling.float().mean())}
    return results


@torch.no_grad()
def probe_accuracy(videos: torch.Tensor, labels: torch.Tensor | None, dataset: str, probe=None) -> float | None:
    """How often the probe names the content class of clips (N, F, C, H, W); None without labels.

    On real clips this is the ceiling a generator's ``acc`` can reach.
    """
    if labels is None or dataset not in CLASS_OFFSETS:
        return None
    probe = load_probe() if probe is None else probe
    return float(_content_correct(probe, videos, labels, dataset).float().mean())


def _content_correct(probe, videos: torch.Tensor, labels: torch.Tensor, dataset: str) -> torch.Tensor:
    """(N,) bool: does the probe's content head name each clip's class?"""
    predicted = torch.cat([probe(videos[s:s + 256])["content"].argmax(-1) for s in range(0, len(videos), 256)])
    return predicted == labels.to(predicted.device) + CLASS_OFFSETS[dataset]


def _motion_correct(probe, videos: torch.Tensor, motions: torch.Tensor) -> torch.Tensor:
    """(N,) bool: does the probe's motion head name each clip's start direction?"""
    predicted = torch.cat([probe(videos[s:s + 256])["motion"].argmax(-1) for s in range(0, len(videos), 256)])
    return predicted == motions.to(predicted.device)


def prompt_set(cfg, num_samples: int, seed: int = 0) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Prompts for scoring a text model on a synthetic set: the captions of the real clips that
    :func:`real_clips` returns for ``seed``, with the content labels and start directions they name."""
    clips = clip_dataset(cfg, seed=cfg.train.seed + REAL_SEED_OFFSET + seed, length=num_samples)
    captions, drawn = CaptionedSynthetic(clips), [clips.attributes(i) for i in range(num_samples)]
    return ([captions.caption(i) for i in range(num_samples)], torch.tensor([d["label"] for d in drawn]),
            torch.tensor([d["motion"] for d in drawn]))


def _check_before_sampling(cfg, metrics: list[str], batch_size: int, num_resamples: int) -> None:
    """What would otherwise fail only after minutes of sampling: flag ranges, and clips the probe cannot read."""
    if batch_size < 1 or num_resamples < 1:
        raise ValueError(f"batch_size={batch_size} and num_resamples={num_resamples} must both be >= 1")
    wanted = [m for m in metrics if m in PROBE_METRICS]
    if not wanted:
        return
    check_probe_clips(wanted, cfg.data.dataset, cfg.latte_config().num_frames, cfg.data.image_size)


def check_probe_clips(wanted: list[str], dataset: str | None, frames: int, size: int) -> None:
    """ValueError unless the probe metrics ``wanted`` can read clips of ``frames`` frames of size² from ``dataset``."""
    if dataset not in CLASS_OFFSETS:
        raise ValueError(f"probe metrics ({', '.join(wanted)}) need a synthetic dataset ({', '.join(CLASS_OFFSETS)}); "
                         f"got {dataset!r} — use fvd")
    if frames < PROBE_FRAMES or size % PROBE_SIZE:
        raise ValueError(f"probe metrics ({', '.join(wanted)}) need clips of >= {PROBE_FRAMES} frames whose side is a "
                         f"multiple of {PROBE_SIZE}; these are {frames} frames of {size}x{size} — use fvd")


def default_num_samples(metrics) -> int:
    """2,048 clips when FVD is asked for (the paper's protocol), else 512 (the probe metrics on a CPU)."""
    return 2048 if "fvd" in parse_metrics(metrics) else 512


def evaluate(checkpoint: str | Path, metrics=("fd-probe",), num_samples: int | None = None, seed: int = 0,
             batch_size: int = 64, sampler: str | None = None, steps: int | None = None,
             cfg_scale: float | None = None, num_resamples: int = 100, device: str | None = None,
             progress: bool = True) -> dict:
    """Sample ``num_samples`` clips from a checkpoint and score them against as many real clips.

    Returns a JSON-ready dict: checkpoint, step, dataset, num_samples, seed, sampling settings and
    {"metrics": {name: {"value", "ci_low", "ci_high", ...}}}.
    """
    metrics = parse_metrics(metrics)
    num_samples = num_samples or default_num_samples(metrics)
    if num_samples < 2:
        raise ValueError(f"num_samples={num_samples} must be >= 2")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    folder = resolve_checkpoint(checkpoint)
    model, cfg = load_for_sampling(folder, device)
    text = model.config.conditioning == "text"
    if "acc" in metrics and not (model.config.num_classes or text):
        raise ValueError("acc needs a class-conditional or text-to-video model; this checkpoint is unconditional")
    _check_before_sampling(cfg, metrics, batch_size, num_resamples)
    prompts = motions = labels = None
    if text and cfg.data.dataset in SYNTHETIC:
        prompts, labels, motions = prompt_set(cfg, num_samples, seed)
    elif text and "acc" in metrics:
        raise ValueError("acc (prompt accuracy) needs a synthetic dataset, whose captions name what the probe sees")
    fake, class_labels = generate_clips(model, cfg, num_samples, seed, batch_size, sampler, steps, cfg_scale,
                                        progress, prompts=prompts)
    labels = class_labels if labels is None else labels
    real, _ = real_clips(cfg, num_samples, seed)
    reference = None
    if any(m in PROBE_METRICS for m in metrics):
        reference, _ = real_clips(cfg, num_samples, seed + 1)
    scores = evaluate_videos(real, fake, metrics, dataset=cfg.data.dataset, labels=labels, reference=reference,
                             seed=seed, num_resamples=num_resamples, progress=progress, motions=motions)
    diffusion_cfg = cfg.diffusion
    return {"checkpoint": str(folder), "step": int(folder.name.split("_")[-1]) if folder.name.startswith("step_") else None,
            "dataset": cfg.data.dataset, "num_samples": num_samples, "seed": seed,
            "sampler": sampler or diffusion_cfg.sampler, "sampling_steps": steps or diffusion_cfg.sampling_steps,
            "cfg_scale": diffusion_cfg.cfg_scale if cfg_scale is None else cfg_scale, "metrics": scores}


def add_eval_arguments(parser) -> None:
    """The ``python -m minilatte eval`` options (cli.py builds the sub-parser, this fills it)."""
    parser.add_argument("--checkpoint", required=True, help="run folder or checkpoint folder")
    parser.add_argument("--metric", action="append", default=None,
                        help=f"one of {', '.join(METRICS)}; repeat or comma-separate (default: fd-probe)")
    parser.add_argument("--num-samples", type=at_least(2),
                        help="generated clips, and as many real ones (default: 2048 with fvd, as in the paper, else 512)")
    parser.add_argument("--seed", type=at_least(0), default=0)
    parser.add_argument("--batch-size", type=at_least(1), default=64, help="clips sampled at once")
    parser.add_argument("--sampler", choices=("ddpm", "ddim"))
    parser.add_argument("--steps", type=at_least(1), help="sampling steps (default: the config's)")
    parser.add_argument("--cfg-scale", type=at_least(0, float), help="classifier-free guidance scale (default: the config's)")
    parser.add_argument("--num-resamples", type=at_least(1), default=100, help="bootstrap resamples for the intervals")
    parser.add_argument("--out", default="eval.json", help="JSON file to write (default: eval.json)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=eval_command)


def eval_command(args) -> None:
    metrics = parse_metrics(",".join(args.metric or ["fd-probe"]))
    check_output_file(args.out, "--out", ".json", "an evaluation result", is_eval_result)   # before the sampling work
    result = evaluate(args.checkpoint, metrics, num_samples=args.num_samples, seed=args.seed,
                      batch_size=args.batch_size, sampler=args.sampler, steps=args.steps, cfg_scale=args.cfg_scale,
                      num_resamples=args.num_resamples, progress=not args.no_progress)
    for name, m in result["metrics"].items():
        ref = f"  (real vs real: {m['reference']:.4g})" if "reference" in m else ""
        print(f"{name}: {m['value']:.4g}  [{m['ci_low']:.4g}, {m['ci_high']:.4g}] 95%{ref}")
        if "motion" in m:
            mo = m["motion"]
            print(f"{name} (motion named by the prompt): {mo['value']:.4g}  [{mo['ci_low']:.4g}, {mo['ci_high']:.4g}] "
                  f"95%  (real clips: {mo['real']:.4g})")
        for cls, c in m.get("per_class", {}).items():
            print(f"  {cls}: {c['value']:.3g}  [{c['ci_low']:.3g}, {c['ci_high']:.3g}]  (n={c['n']})")
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


def is_eval_result(path: Path) -> bool:
    """Does ``path`` hold an evaluation result (what ``eval --out`` writes)?"""
    try:
        read_json_object(path, "evaluation result", ("checkpoint", "metrics"))
    except (FileFormatError, OSError):
        return False
    return True
