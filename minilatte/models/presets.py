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
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown model argument(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}")
    return LatteConfig(**{**PRESETS[name], **overrides})


def create_latte(name: str, **overrides) -> Latte:
    """Build a preset model: ``create_latte("Latte-S/2", num_frames=16, input_size=32, variant=1)``."""
    return Latte(latte_config(name, **overrides))


def count_parameters(model_or_name, **overrides) -> int:
    """Trainable parameters of a model, or of a preset built on the meta device (no memory used)."""
    if isinstance(model_or_name, str):
        with torch.device("meta"):
            model_or_name = create_latte(model_or_name, **overrides)
    return sum(p.numel() for p in model_or_name.parameters() if p.requires_grad)
