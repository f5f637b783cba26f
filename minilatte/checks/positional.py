"""Checkers for notebook 05 (positional encodings): 1D sin-cos table, RoPE."""
from __future__ import annotations

import torch

from ..models import RotaryEmbedding, sincos_1d
from .core import assert_close, call, passed, seeded


def check_sincos_1d(sincos) -> None:
    """``sincos(dim, positions)``: (L,) positions -> (L, dim) = [sin(pos·ω_i), cos(pos·ω_i)], ω_i = 10000^(-2i/dim),
    computed in float64 (like MAE) and returned as float32.

    Absolute tolerance 1e-6: a float64 table rounded to float32 is off by at most one float32 step (6e-8),
    a table computed in float32 by 9e-6 at the positions up to 999 of the last case. The dtype must be float32.
    """
    worst = 0.0
    for dim, positions in ((8, [0, 1, 2, 3]), (64, list(range(16))), (16, [5, 2, 11]), (16, [0, 250, 999])):
        expected = sincos_1d(dim, positions)
        got = call("sincos_1d", sincos, dim, torch.tensor(positions))
        hint = "compare the frequencies ω_i and the order of the halves with the prompt"
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            half = dim // 2
            if torch.allclose(got.float(), torch.cat([expected[:, half:], expected[:, :half]], 1), atol=1e-5):
                hint = "the halves are swapped: MAE's table puts sin first, then cos (the timestep embedding is the other way)"
            elif torch.allclose(got.float()[:, 0::2], expected[:, :half], atol=1e-5):
                hint = "sin and cos alternate channel by channel; the prompt's table has a sin half, then a cos half"
            elif torch.allclose(got.float(), _float32_table(dim, positions), atol=1e-7):
                hint = ("this table was computed in float32, which loses digits of the angles at large positions; "
                        "the prompt computes it in float64")
        name = f"sincos_1d(dim={dim}, positions={positions})"
        worst = max(worst, assert_close(name, got, expected, atol=1e-6, rtol=0, hint=hint))
        if got.dtype != torch.float32:
            raise AssertionError(f"{name}: the table has dtype {got.dtype}, expected torch.float32\n"
                                 "  hint: the prompt asks for a float32 table, as the model stores it")
    passed("sincos_1d", worst)


def _float32_table(dim: int, positions: list[int]) -> torch.Tensor:
    """The sin-cos table with every step in float32: what a learner gets who leaves out the float64."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float32) / (dim / 2))
    angles = torch.tensor(positions, dtype=torch.float32)[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def check_apply_rope(apply_rope) -> None:
    """``apply_rope(x)``: (..., L, d) -> rotate channel pairs (j, j + d/2) at position m by m·θ_j,
    θ_j = 10000^(-2j/d). Positions are 0 … L-1 along the second-to-last axis. Tolerance 1e-5.
    """
    gen = seeded(4)
    worst = 0.0
    for shape in ((3, 2, 6, 8), (5, 16)):
        x = torch.randn(*shape, generator=gen)
        expected = RotaryEmbedding(shape[-1])(x)
        got = call("apply_rope", apply_rope, x)
        hint = ("channel j pairs with channel j + d/2 and turns by m·θ_j at position m (see the prompt): check the "
                "angles, the pairing and the direction of the rotation")
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            if torch.allclose(got, _interleaved(x), atol=1e-5):
                hint = ("you rotated neighbouring channels (2j, 2j+1); minilatte pairs channel j with j + d/2 "
                        "(the 'rotate half' layout) — same idea, different channel order")
            elif torch.allclose(got, RotaryEmbedding(shape[-1])(x.flip(-2)).flip(-2), atol=1e-5):
                hint = "positions run 0 … L-1 from the first row on"
            elif torch.allclose(got, _rotate(x, -1), atol=1e-5):
                hint = "the rotation goes the wrong way: your pairs turn by −m·θ_j"
        worst = max(worst, assert_close(f"apply_rope(x of shape {shape})", got, expected, atol=1e-5, rtol=1e-5,
                                        hint=hint))
    passed("apply_rope", worst)


def _interleaved(x: torch.Tensor) -> torch.Tensor:
    rope = RotaryEmbedding(x.shape[-1])
    ang = rope.angles(x.shape[-2])
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


def _rotate(x: torch.Tensor, sign: int) -> torch.Tensor:
    ang = RotaryEmbedding(x.shape[-1]).angles(x.shape[-2]) * sign
    cos, sin = ang.cos(), ang.sin()
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
