"""The eight studies of the paper's design ablation, and the three tiers they run at.

A study is the paper's finding as a short string, the arm the paper finds best (``None`` where it
finds little difference) and its arms as config overrides (``section.key=value``, as ``--set`` takes
them) on a tier's base config. Every arm of every study is otherwise the base config: same data,
same seeds, same steps, same batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import RunConfig, load_config
from ..models import LatteConfig
from ..models.presets import compute_matched_config


@dataclass(frozen=True)
class Tier:
    """A scale to run the studies at: a packaged config, the changes that make it a study base, and
    how each run is evaluated."""
    config: str
    overrides: tuple[str, ...]
    metrics: tuple[str, ...]
    num_samples: int              # generated clips per evaluation (and as many real ones)
    curve_points: int             # evaluations per run, evenly spaced; the last at train.steps
    note: str
    sampler: str | None = None    # evaluation sampler and steps (default: the config's)
    sampling_steps: int | None = None


TIERS = {
    "ci": Tier(
        "ci",
        ("model.preset=Latte-Nano/4", "model.depth=4", "model.num_frames=8", "model.input_size=16",
         "model.num_classes=3", "data.image_size=16", "data.length=512", "train.steps=120", "train.batch_size=8", "train.threads=1",
         "train.mixed_precision=fp32", "train.log_every=20", "train.ckpt_every=40", "train.num_sample_videos=0"),
        ("fd-probe", "kid", "acc"), 64, 3,
        "the ci config made class-conditional on 8 frames of 16x16 shapes (the probe's smallest clips), "
        "pixel space, Latte-Nano/4 at depth 4 (so that variants 1 and 2 differ), 120 steps of batch 8, DDIM-10; "
        "seconds per run, a smoke test of the lab"),
    "cpu": Tier(
        "cpu",
        ("train.steps=2700", "train.mixed_precision=fp32", "train.ckpt_every=900", "train.log_every=100"),
        ("fd-probe", "kid", "acc"), 256, 3,
        "the cpu config's recipe (tiny Latte, 8x32x32 shapes in the tiny VAE's latents, class-conditional, "
        "CFG 3, DDIM-50), 2,700 steps per arm (the demo's minimum, FD-probe 8.69 for the base); minutes per run"),
    "gpu": Tier(
        "1gpu-shapes",
        ("train.steps=10000", "train.ckpt_every=2500", "train.sample_every=0", "train.num_sample_videos=0"),
        ("fvd", "fd-probe", "kid", "acc"), 2048, 4,
        "the 1gpu-shapes config (Latte-S/4 on 16x64x64 shapes, pixel space, class-conditional), 10,000 steps "
        "of batch 32 per arm, 2,048 clips per evaluation (FVD's protocol) sampled with DDIM-50; not run yet",
        "ddim", 50),
}


def base_config(tier: str, extra: tuple[str, ...] = ()) -> RunConfig:
    """The tier's base config (``extra`` overrides last, e.g. a shorter run for a test)."""
    if tier not in TIERS:
        raise ValueError(f"tier {tier!r} is unknown; choose one of {', '.join(TIERS)}")
    return load_config(TIERS[tier].config, [*TIERS[tier].overrides, *extra])


@dataclass(frozen=True)
class Arm:
    name: str
    overrides: tuple[str, ...] = ()
    init: str = "scratch"         # "scratch" | "image" (init_from_dit from an image model pretrained on frames)

    @property
    def key(self) -> str:
        """The run's folder name: arms of different studies with the same config share one run."""
        parts = [o.replace("/", "_") for o in sorted(self.overrides)] + (["init=image"] if self.init != "scratch" else [])
        return ",".join(parts) or "base"


@dataclass(frozen=True)
class Study:
    name: str
    paper: str                    # the paper's finding
    arms: Callable[[LatteConfig, RunConfig], list[Arm]]
    winner: str | None            # the arm the paper finds best; None: "little difference"
    early_winner: str | None = None   # image-init: the arm the paper finds ahead at the first evaluation
    notes: str = ""


def _variants(model: LatteConfig, cfg: RunConfig) -> list[Arm]:
    matched, _ = compute_matched_config(model, variant=3)
    return [Arm("variant-1"), Arm("variant-2", ("model.variant=2",)),
            Arm("variant-3", ("model.variant=3", f"model.depth={matched.depth}")), Arm("variant-4", ("model.variant=4",))]


def _sizes(model: LatteConfig, cfg: RunConfig) -> list[Arm]:
    """S, B, L analogues around the tier's model (B): half the width; the model; 1.5x depth and width."""
    width, heads = model.hidden_size, model.num_heads
    large = -(-width * 3 // 2 // heads) * heads
    return [Arm("S", (f"model.hidden_size={width // 2}",)), Arm("B"),
            Arm("L", (f"model.depth={(model.depth * 3 // 2 + 1) // 2 * 2}", f"model.hidden_size={large}"))]


STUDIES = {s.name: s for s in (
    Study("variant", "variant 1 (interleaved) best; the others no gain", _variants, "variant-1",
          notes="variant 3 at compute_matched_config's depth (parameters matched to variant 1)"),
    Study("patch-embedding", "uniform per-frame patches better than compression (tubelets)",
          lambda m, c: [Arm("uniform"), Arm("compression", ("model.patch_embedding=compression", "model.tubelet_stride=2"))],
          "uniform"),
    Study("conditioning", "S-AdaLN far ahead of tokens",
          lambda m, c: [Arm("s-adaln"), Arm("tokens", ("model.conditioning=tokens",))], "s-adaln"),
    Study("temporal-pe", "little difference, absolute slightly better",
          lambda m, c: [Arm("absolute"), Arm("rope", ("model.temporal_pe=rope",))], "absolute"),
    Study("joint-training", "image-video joint training clearly better",
          lambda m, c: [Arm("video-only"), Arm("joint", (f"data.num_images={max(1, m.num_frames // 4)}",))], "joint",
          notes="joint appends num_frames/4 frames of other clips to each clip (1.25x the tokens per step)"),
    Study("model-size", "bigger is better", _sizes, "L"),
    Study("frame-interval", "little difference",
          lambda m, c: [Arm(f"interval-{k}", () if k == 1 else (f"data.frame_interval={k}",)) for k in (1, 2, 3)], None,
          notes="each arm is scored against real clips at its own interval"),
    Study("image-init", "from an image model: faster at first, weaker later (domain gap)",
          lambda m, c: [Arm("scratch"), Arm("image-init", init="image")], "scratch", early_winner="image-init",
          notes="image-init starts from an image model (num_frames=1) pretrained on single frames for as many steps"),
)}


def study_arms(study: str, cfg: RunConfig) -> list[Arm]:
    if study not in STUDIES:
        raise ValueError(f"study {study!r} is unknown; choose one of {', '.join(STUDIES)} or all")
    return STUDIES[study].arms(cfg.latte_config(), cfg)
