"""Position information: fixed sin-cos tables (spatial 2D, temporal 1D) and temporal RoPE.

Latte adds a fixed 2D sin-cos table to the patches of every frame, and tells temporal attention
where a frame sits in time either with an **absolute** 1D sin-cos table added to the tokens once,
or with **RoPE**, which rotates queries and keys so that their dot product depends only on the
distance between two frames (Latte §3.2.4; the paper found both about equal).

The tables follow MAE/DiT exactly (float64 maths, then float32): for a position ``pos`` and
``i < dim/2``, ``[sin(pos * w_i), cos(pos * w_i)]`` with ``w_i = 10000^(-2i/dim)``. In 2D the first
half of the channels encodes the column and the second half the row.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def sincos_1d(dim: int, positions) -> torch.Tensor:
    """Sin-cos embedding of positions: (L,) -> (L, dim), float32."""
    if dim % 2 != 0:
        raise ValueError(f"dim={dim} must be even for a sin-cos embedding")
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))   # (dim/2,)
    angles = np.outer(np.asarray(positions, dtype=np.float64).reshape(-1), omega)   # (L, dim/2)
    return torch.from_numpy(np.concatenate([np.sin(angles), np.cos(angles)], axis=1)).float()


def sincos_2d(dim: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """2D sin-cos table for an n_h × n_w patch grid, row-major: -> (n_h*n_w, dim)."""
    if dim % 4 != 0:
        raise ValueError(f"hidden_size={dim} must be a multiple of 4 for the 2D sin-cos table")
    rows, cols = np.meshgrid(np.arange(grid_h, dtype=np.float32), np.arange(grid_w, dtype=np.float32),
                             indexing="ij")                                          # (n_h, n_w) each
    return torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], dim=1)  # (N, dim)


class RotaryEmbedding(nn.Module):
    """1D rotary position embedding for temporal attention.

    Channel pairs ``(x[j], x[j + d/2])`` of a query or key at frame ``m`` are rotated by the angle
    ``m * theta_j`` with ``theta_j = base^(-2j/d)``. Rotating q by m and k by n makes
    ``<q_m, k_n>`` a function of ``m - n`` only: attention sees relative time.

    forward: (..., L, d) -> (..., L, d), positions ``0..L-1`` along the second-to-last axis.
    """

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2 != 0:
            raise ValueError(f"head_dim={head_dim} must be even for RoPE")
        self.head_dim = head_dim
        self.base = base

    def angles(self, length: int, device=None) -> torch.Tensor:
        """(L, d/2) rotation angles m * theta_j, computed in float32."""
        theta = self.base ** (-torch.arange(0, self.head_dim, 2, device=device, dtype=torch.float32)
                              / self.head_dim)
        return torch.outer(torch.arange(length, device=device, dtype=torch.float32), theta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ang = self.angles(x.shape[-2], x.device)
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)     # (L, d/2)
        x1, x2 = x[..., : self.head_dim // 2], x[..., self.head_dim // 2:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
