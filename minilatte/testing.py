"""Random weights for checking a model: a fresh adaLN-Zero Latte outputs exactly zero, which proves little.

Tests, checkers, notebooks and the benchmark all wake a model up with :func:`randomize_`.
"""
from __future__ import annotations

import torch

# The layers Latte.initialize_weights sets to zero (adaLN-Zero): every modulation and the output layer.
ZERO_INIT = ("adaLN_modulation", "final_layer.linear")


def randomize_(model: torch.nn.Module, std: float = 0.05, *, only: tuple[str, ...] | None = None,
               generator: torch.Generator | None = None) -> torch.nn.Module:
    """Replace parameters by draws from N(0, std²), in place; returns ``model``.

    Every parameter, or with ``only`` (name fragments such as :data:`ZERO_INIT`) those whose name
    contains one of them. The draws come from ``generator`` (default: torch's global RNG), one tensor
    after the other in the order of ``model.named_parameters()``.
    """
    chosen = [p for name, p in model.named_parameters() if only is None or any(part in name for part in only)]
    if not chosen:
        raise ValueError(f"no parameter name contains any of {only}")
    with torch.no_grad():
        for p in chosen:
            p.copy_(torch.randn(p.shape, generator=generator) * std)
    return model
