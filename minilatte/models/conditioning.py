"""Timestep and class conditioning (Latte §3.2.3).

The diffusion timestep t and the class label y become D-wide vectors; their sum ``c = t_emb + y_emb``
conditions the transformer. How ``c`` enters the blocks is the model's ``conditioning`` choice:
S-AdaLN (``modulate`` + gates, in blocks.py) or extra tokens (in latte.py).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: (B,) -> (B, dim), cos half first."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]                         # (B, dim/2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)      # (B, 2*(dim//2))
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """t (B,) -> 256-d sinusoid -> Linear -> SiLU -> Linear -> (B, D)."""

    def __init__(self, hidden_size: int, frequency_size: int = 256):
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_size, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        freq = timestep_embedding(t, self.frequency_size).to(self.mlp[0].weight.dtype)
        return self.mlp(freq)


class LabelEmbedder(nn.Module):
    """Class label (B,) or (B, n) -> (B, D) or (B, n, D), with a learned *null class* for classifier-free guidance.

    With ``dropout_prob > 0`` the table has ``num_classes + 1`` rows and row ``num_classes`` is the null
    class; while training, each label is replaced by the null class with probability ``dropout_prob`` so
    that one network learns both p(x | y) and p(x); sampling then mixes the two (``forward_with_cfg``).
    With ``dropout_prob = 0`` there is no null row (``num_classes`` rows), as in DiT and the official Latte
    code: such a model never learned p(x) and cannot be guided.
    """

    def __init__(self, num_classes: int, hidden_size: int, dropout_prob: float = 0.1):
        super().__init__()
        if not 0.0 <= dropout_prob < 1.0:
            raise ValueError(f"class_dropout_prob={dropout_prob} must be in [0, 1)")
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), hidden_size)

    @property
    def has_null_class(self) -> bool:
        return self.dropout_prob > 0

    @property
    def null_class(self) -> int:
        if not self.has_null_class:
            raise ValueError("this label embedding has no null class: the model was built with "
                             "class_dropout_prob=0, so it cannot drop labels or be guided (CFG)")
        return self.num_classes

    def forward(self, labels: torch.Tensor, force_drop: torch.Tensor | None = None,
                per_row: bool = False) -> torch.Tensor:
        """Embed ``labels``; while training, drop them to the null class with probability ``dropout_prob``.

        ``per_row``: one drop decision per row of a (B, n) ``labels`` (all n labels of a sample drop
        together) instead of one per label.
        """
        if force_drop is not None:
            labels = torch.where(force_drop.bool(), self.null_class, labels)
        elif self.training and self.dropout_prob > 0:
            shape = labels.shape[:1] + (1,) * (labels.dim() - 1) if per_row else labels.shape
            drop = torch.rand(shape, device=labels.device) < self.dropout_prob
            labels = torch.where(drop, self.null_class, labels)
        return self.embedding_table(labels)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """AdaLN: x (B, F, N, D) scaled and shifted by per-frame vectors (B, F or 1, D)."""
    return x * (1 + scale.unsqueeze(2)) + shift.unsqueeze(2)
