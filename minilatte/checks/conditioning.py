"""Checkers for notebook 04 (timestep-class conditioning): modulate, the timestep embedding."""
from __future__ import annotations

import torch

from ..models import modulate as reference_modulate
from ..models import timestep_embedding as reference_timestep_embedding
from .core import assert_close, call, passed, seeded


def check_modulate(modulate) -> None:
    """``modulate(x, shift, scale)``: x (B, F, N, D), shift/scale (B, F or 1, D) -> x·(1 + scale) + shift.

    Tolerance 1e-6. Both a per-video condition (F axis of size 1) and a per-frame one are tried.
    """
    gen = seeded(3)
    worst = 0.0
    x = torch.randn(2, 3, 5, 8, generator=gen)
    for frames in (1, 3):
        shift, scale = torch.randn(2, frames, 8, generator=gen), torch.randn(2, frames, 8, generator=gen)
        expected = reference_modulate(x, shift, scale)
        got = call("modulate", modulate, x, shift, scale)
        hint = ("shift and scale (B, F, D) have no token axis, yet act the same on all N tokens of a frame: "
                "check how they line up with x (B, F, N, D)")
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            if torch.allclose(got, x * scale.unsqueeze(2) + shift.unsqueeze(2), atol=1e-6):
                hint = ("scale = 0 must leave the tokens unchanged (the zero-initialised adaLN starts there), "
                        "but yours sets them to zero")
            elif torch.allclose(got, x * (1 + shift.unsqueeze(2)) + scale.unsqueeze(2), atol=1e-6):
                hint = "shift and scale are swapped: the arguments come as (x, shift, scale)"
        worst = max(worst, assert_close(f"modulate(x {tuple(x.shape)}, shift/scale {tuple(shift.shape)})", got,
                                        expected, atol=1e-6, rtol=1e-6, hint=hint))
    passed("modulate", worst)


def check_timestep_embedding(timestep_embedding) -> None:
    """``timestep_embedding(t, dim)``: t (B,) -> (B, dim): [cos(t·f_i), sin(t·f_i)], f_i = 10000^(-i/(dim/2)).

    Tolerance 1e-4 (the arguments reach t = 999, where float32 sin/cos keep about 5 digits).
    """
    worst = 0.0
    for dim in (8, 256):
        t = torch.tensor([0, 1, 17, 250, 999])
        expected = reference_timestep_embedding(t, dim)
        got = call("timestep_embedding", timestep_embedding, t, dim)
        hint = "check the frequencies (one per channel of a half, as in the prompt) and which half comes first"
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            half = dim // 2
            if torch.allclose(got.float(), torch.cat([expected[:, half:], expected[:, :half]], 1), atol=1e-4):
                hint = "the halves are swapped: DiT and Latte put the cos half first, then the sin half"
        worst = max(worst, assert_close(f"timestep_embedding(t={t.tolist()}, dim={dim})", got, expected,
                                        atol=1e-4, rtol=1e-4, hint=hint))
    passed("timestep_embedding", worst)
