"""Multi-head self-attention over one axis of the token grid.

Latte's central trick is to factorise attention over a video's token grid ``(B, F, N, D)``:

* **spatial** attention: the N tokens of one frame attend to each other  -> sequences ``(B*F, N)``
* **temporal** attention: one patch position attends across the F frames -> sequences ``(B*N, F)``

The module keeps the grid layout at its boundary and rearranges only q, k, v, so the same weights
(``qkv``, ``proj``, the official key names) serve either axis. Attention runs through
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on CUDA).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .positional import RotaryEmbedding

# How each axis turns the grid into attention sequences: (to sequences, back to grid).
_AXIS_PATTERNS = {
    "spatial": ("b f n (three h d) -> three (b f) h n d", "(b f) h n d -> b f n (h d)"),
    "temporal": ("b f n (three h d) -> three (b n) h f d", "(b n) h f d -> b f n (h d)"),
}


def attend(qkv: torch.Tensor, axis: str, num_heads: int, rope: RotaryEmbedding | None = None) -> torch.Tensor:
    """Attention along ``axis`` for a fused projection ``qkv`` (B, F, N, 3*h*d) -> (B, F, N, h*d)."""
    B, F_, N, _ = qkv.shape
    to_seq, to_grid = _AXIS_PATTERNS[axis]
    q, k, v = rearrange(qkv, to_seq, three=3, h=num_heads)          # each (sequences, h, L, d)
    if rope is not None:
        q, k = rope(q), rope(k)
    out = F.scaled_dot_product_attention(q, k, v)                   # (sequences, h, L, d)
    return rearrange(out, to_grid, b=B, f=F_, n=N)


class Attention(nn.Module):
    """Self-attention along one axis, fused qkv with bias. (B, F, N, D) -> (B, F, N, D)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"num_heads={num_heads} does not divide hidden_size={dim}; "
                             f"use a divisor of {dim}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, axis: str, rope: RotaryEmbedding | None = None) -> torch.Tensor:
        return self.proj(attend(self.qkv(x), axis, self.num_heads, rope if axis == "temporal" else None))


class FactorizedHeadAttention(Attention):
    """Variant 4: half of the heads attend spatially, the other half temporally; one output projection.

    Image frames appended for joint training (the last ``num_images`` of the F axis) must not see
    other frames, so for them a temporal head attends only to itself, which returns its value v.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__(dim, num_heads)
        if num_heads % 2 != 0:
            raise ValueError(f"num_heads={num_heads} must be even for variant 4 (half spatial, half temporal)")

    def forward(self, x: torch.Tensor, num_images: int = 0, rope: RotaryEmbedding | None = None) -> torch.Tensor:
        h = self.num_heads // 2
        qkv = rearrange(self.qkv(x), "b f n (three h d) -> b f n three h d", three=3, h=self.num_heads)
        flat = "b f n three h d -> b f n (three h d)"
        spatial = attend(rearrange(qkv[..., :h, :], flat), "spatial", h)           # (B, F, N, D/2)
        temporal_qkv = qkv[..., h:, :]                                              # (B, F, N, 3, h, d)
        n_video = x.shape[1] - num_images
        temporal = attend(rearrange(temporal_qkv[:, :n_video], flat), "temporal", h, rope)
        if num_images:
            image_values = rearrange(temporal_qkv[:, n_video:, :, 2], "b f n h d -> b f n (h d)")
            temporal = torch.cat([temporal, image_values], dim=1)
        return self.proj(torch.cat([spatial, temporal], dim=-1))
