"""Transformer blocks for the four Latte variants, with S-AdaLN or token conditioning.

Every block works on the token grid ``x: (B, F, N, D)`` and a condition ``c: (B, F or 1, D)``.

S-AdaLN (``conditioning="s-adaln"``, DiT's adaLN-Zero): from ``c`` a block predicts a shift β,
a scale γ and a gate α for each residual branch::

    x = x + α₁ · Attn(LN(x) · (1 + γ₁) + β₁)
    x = x + α₂ · MLP (LN(x) · (1 + γ₂) + β₂)

The Linear that predicts (β, γ, α) starts at zero, so every branch starts switched off and a new
model is the identity map (and, with the zeroed final layer, outputs exactly zero).

Tokens (``conditioning="tokens"``): ``c is None`` here; the condition already sits in the grid as
extra tokens, and the blocks are plain pre-LN transformer blocks with affine LayerNorm.

Image frames appended for joint training are the last ``num_images`` frames of the grid: they never
take part in temporal attention.
"""
from __future__ import annotations

import torch
from torch import nn

from .attention import Attention, FactorizedHeadAttention
from .conditioning import modulate
from .positional import RotaryEmbedding

Modulation = tuple  # (shift, scale, gate), each (B, F or 1, D)


def first_frames(t: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """Keep the first n frames of a (B, F, ...) tensor; per-sample tensors (B, 1, ...) pass through."""
    return t if t is None or t.shape[1] == 1 else t[:, :n]


class Mlp(nn.Module):
    """Linear -> tanh-GELU -> Linear (official keys ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    """Shared plumbing: one norm per residual branch, the MLP and the adaLN modulation."""

    def __init__(self, dim: int, mlp_ratio: float, adaln: bool, num_branches: int):
        super().__init__()
        self.adaln = adaln
        # With adaLN the norms carry no affine parameters: (1 + γ) and β come from c instead.
        self.norms = nn.ModuleList(
            [nn.LayerNorm(dim, elementwise_affine=not adaln, eps=1e-6) for _ in range(num_branches)])
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if adaln:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * num_branches * dim))

    def modulations(self, c: torch.Tensor | None) -> list[Modulation | None]:
        """Split the adaLN output into (shift, scale, gate) per branch; ``None`` per branch without adaLN."""
        if not self.adaln:
            return [None] * len(self.norms)
        chunks = self.adaLN_modulation(c).chunk(3 * len(self.norms), dim=-1)   # each (B, F|1, D)
        return [chunks[i: i + 3] for i in range(0, len(chunks), 3)]

    def branch(self, i: int, x: torch.Tensor, mod: Modulation | None, fn, n_frames: int | None = None):
        """Residual branch i: ``x + gate * fn(modulate(norm(x)))`` on the first ``n_frames`` frames."""
        if n_frames is not None and n_frames < x.shape[1]:
            head = self.branch(i, x[:, :n_frames], mod and [first_frames(m, n_frames) for m in mod], fn)
            return torch.cat([head, x[:, n_frames:]], dim=1)
        h = self.norms[i](x)
        if mod is None:
            return x + fn(h)
        shift, scale, gate = mod
        return x + gate.unsqueeze(2) * fn(modulate(h, shift, scale))


class TransformerBlock(_Block):
    """Variants 1 and 2: one attention (spatial *or* temporal) + MLP.

    A temporal block leaves image frames untouched (attention and MLP), like the official joint model.
    State-dict keys match the official block: ``attn.qkv, attn.proj, mlp.fc1, mlp.fc2, adaLN_modulation.1``.
    """

    def __init__(self, dim: int, num_heads: int, axis: str, mlp_ratio: float = 4.0, adaln: bool = True):
        super().__init__(dim, mlp_ratio, adaln, num_branches=2)
        self.axis = axis
        self.attn = Attention(dim, num_heads)

    def forward(self, x, c, rope: RotaryEmbedding | None = None, num_images: int = 0):
        if self.axis == "temporal" and num_images:
            n_video = x.shape[1] - num_images
            video = self.forward(x[:, :n_video], first_frames(c, n_video), rope)
            return torch.cat([video, x[:, n_video:]], dim=1)
        mod_attn, mod_mlp = self.modulations(c)
        x = self.branch(0, x, mod_attn, lambda h: self.attn(h, self.axis, rope))
        return self.branch(1, x, mod_mlp, self.mlp)


class FactorizedAttentionBlock(_Block):
    """Variant 3: spatial MHA, then temporal MHA, then one MLP — three residual branches in one block."""

    axis = "factorized"

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, adaln: bool = True):
        super().__init__(dim, mlp_ratio, adaln, num_branches=3)
        self.attn_spatial = Attention(dim, num_heads)
        self.attn_temporal = Attention(dim, num_heads)

    def forward(self, x, c, rope: RotaryEmbedding | None = None, num_images: int = 0):
        mod_s, mod_t, mod_mlp = self.modulations(c)
        x = self.branch(0, x, mod_s, lambda h: self.attn_spatial(h, "spatial"))
        x = self.branch(1, x, mod_t, lambda h: self.attn_temporal(h, "temporal", rope),
                        n_frames=x.shape[1] - num_images)
        return self.branch(2, x, mod_mlp, self.mlp)


class FactorizedHeadsBlock(_Block):
    """Variant 4: one attention whose heads are split half spatial, half temporal; one MLP."""

    axis = "factorized"

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, adaln: bool = True):
        super().__init__(dim, mlp_ratio, adaln, num_branches=2)
        self.attn = FactorizedHeadAttention(dim, num_heads)

    def forward(self, x, c, rope: RotaryEmbedding | None = None, num_images: int = 0):
        mod_attn, mod_mlp = self.modulations(c)
        x = self.branch(0, x, mod_attn, lambda h: self.attn(h, num_images, rope))
        return self.branch(1, x, mod_mlp, self.mlp)


class FinalLayer(nn.Module):
    """Norm (modulated by c under S-AdaLN) + Linear to the patch pixels: (B, F, N, D) -> (B, F, N, P)."""

    def __init__(self, dim: int, out_features: int, adaln: bool = True):
        super().__init__()
        self.adaln = adaln
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=not adaln, eps=1e-6)
        self.linear = nn.Linear(dim, out_features)
        if adaln:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = self.norm_final(x)
        if self.adaln:
            shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
            x = modulate(x, shift, scale)
        return self.linear(x)
