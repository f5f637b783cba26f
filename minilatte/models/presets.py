"""Named model sizes, one registry for all: the paper's S/B/L/XL and tiny ones for a CPU.

``depth`` counts all blocks (spatial and temporal). The paper sizes are the official Latte ones;
the tiny sizes run anywhere (``Latte-Nano`` trains in seconds, ``Latte-Tiny`` in minutes on a laptop CPU).
"""
from __future__ import annotations

import dataclasses

import torch

from .config import LatteConfig
from .latte import Latte

#                 depth, hidden_size, num_heads
_SIZES = {
    "XL": (28, 1152, 16),
    "L": (24, 1024, 16),
    "B": (12, 768, 12),
    "S": (12, 384, 6),
    "Tiny": (6, 128, 4),
    "Nano": (2, 64, 4),
}
_PATCHES = {"XL": (2, 4, 8), "L": (2, 4, 8), "B": (2, 4, 8), "S": (2, 4, 8), "Tiny": (1, 2, 4), "Nano": (1, 2, 4)}

PRESETS: dict[str, dict] = {
    f"Latte-{size}/{patch}": dict(depth=depth, hidden_size=width, num_heads=heads, patch_size=patch)
    for size, (depth, width, heads) in _SIZES.items() for patch in _PATCHES[size]
}

_FIELDS = {f.name for f in dataclasses.fields(LatteConfig)}


def latte_config(name: str, **overrides) -> LatteConfig:
    """The LatteConfig of a preset with ``overrides`` applied (e.g. num_frames=8, variant=3)."""
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a str such as 'Latte-S/2', got {type(name).__name__}")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown model argument(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}")
    return LatteConfig(**{**PRESETS[name], **overrides})


def create_latte(name: str, compute_matched: bool = False, **overrides) -> Latte:
    """Build a preset model: ``create_latte("Latte-S/2", num_frames=16, input_size=32, variant=1)``.

    ``compute_matched=True`` picks the depth so that the model has about as many parameters as the
    variant-1 model of the same settings (see :func:`compute_matched_config`); it only changes a
    variant-3 model, whose blocks are larger.
    """
    if not isinstance(compute_matched, bool):
        raise ValueError(f"compute_matched={compute_matched!r} must be True or False")
    config = latte_config(name, **overrides)
    if compute_matched:
        config, _ = compute_matched_config(config)
    return Latte(config)


def count_parameters(model_or_name, **overrides) -> int:
    """Trainable parameters of a model, or of a preset built on the meta device (no memory used)."""
    if isinstance(model_or_name, str):
        with torch.device("meta"):
            model_or_name = create_latte(model_or_name, **overrides)
    return sum(p.numel() for p in model_or_name.parameters() if p.requires_grad)


def _config_parameters(config: LatteConfig) -> int:
    with torch.device("meta"):
        return count_parameters(Latte(config))


def compute_matched_config(config: LatteConfig, variant: int | None = None) -> tuple[LatteConfig, float]:
    """``config`` as ``variant`` (default: its own) with the depth that best matches the parameters of
    the variant-1 model of ``config``'s other settings; returns (matched config, achieved ratio).

    The ratio is parameters(matched) / parameters(variant 1 at ``config.depth``, rounded up to even). At equal ``depth``
    variants 1, 2 and 4 have the same parameters (a block holds one attention and one MLP; variant 4
    splits the heads of its single attention), so their depth is kept and the ratio is 1. A variant-3
    block holds two attentions (spatial and temporal) and a third adaLN triple: about 25·D² weights
    against 18·D², so at equal depth it has ~39% more parameters (and ~35% more FLOPs at 16×32² latents);
    it gets about 0.72× the depth, e.g. 9 blocks for Latte-S/2's 12 (ratio ≈ 1.04) and 20 for
    Latte-XL's 28 (≈ 0.99); the match is within 5% from depth 12 up (one block is a coarse step for
    the tiny presets). FLOPs then match within about 5% too at 16×32² latents.

    The paper (Latte, arXiv 2401.03048, §3.1 "Model variants" and the model-variant ablation)
    compares the four variants without stating that depth or width were re-balanced, and the
    official code (github.com/Vchitect/Latte, models/latte.py) implements variant 1 only; use this
    function when comparing variants at equal parameter count rather than at equal depth.
    """
    variant = config.variant if variant is None else variant
    if variant not in (1, 2, 3, 4) or isinstance(variant, bool):
        raise ValueError(f"variant={variant!r} is not one of 1, 2, 3, 4")
    reference = dataclasses.replace(config, variant=1, depth=config.depth + config.depth % 2)
    target = _config_parameters(reference)
    if variant != 3:
        matched = dataclasses.replace(config, variant=variant, depth=reference.depth)
    else:
        # Parameters are linear in depth: P(d) = outside + d * per_block.
        one, two = (_config_parameters(dataclasses.replace(config, variant=3, depth=d)) for d in (1, 2))
        per_block = two - one
        best = max(1, round((target - (one - per_block)) / per_block))
        matched = dataclasses.replace(config, variant=3, depth=best)
    return matched, _config_parameters(matched) / target
