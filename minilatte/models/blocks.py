"""The Latte transformer block, read like DiT's: attention over one axis of the token grid, an MLP, and
S-AdaLN modulation — for the four Latte variants, with S-AdaLN or token conditioning.

Every block works on the token grid ``x: (B, F, N, D)`` (F frames of N patches) and a condition
``c: (B, F or 1, D)``. Latte's central trick is to factorise attention over that grid:

* **spatial** attention: the N tokens of one frame attend to each other  -> sequences ``(B*F, N)``
* **temporal** attention: one patch position attends across the F frames -> sequences ``(B*N, F)``

S-AdaLN (``conditioning="s-adaln"``, DiT's adaLN-Zero): from ``c`` a block predicts a shift, a scale
and a gate for each residual branch, named as in DiT's models.py::

    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = adaLN_modulation(c).chunk(6)
    x = x + gate_msa * attn(modulate(norm1(x), shift_msa, scale_msa))
    x = x + gate_mlp * mlp (modulate(norm2(x), shift_mlp, scale_mlp))

The Linear that predicts them starts at zero, so every branch starts switched off and a new model is
the identity map (and, with the zeroed final layer, outputs exactly zero). Tokens
(``conditioning="tokens"``): ``c is None``, the condition already sits in the grid as extra tokens;
the modulation is then ``None`` and ``modulate``/``gated`` pass through: a plain pre-LN block with
affine LayerNorm.

Joint image-video training appends ``num_images`` independent images as the last frames of the grid.
They skip temporal mixing; :func:`video_frames_only` is the one place that rule is written.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

AXES = ("spatial", "temporal")


# ------------------------------------------------------------------------------ the image-frame rule
def video_frames_only(fn: Callable, x: torch.Tensor, num_images: int, *args,
                      images: torch.Tensor | None = None) -> torch.Tensor:
    """Temporal mixing sees the video frames only; appended image frames pass through it unchanged.

    ``fn(video, *args)`` runs on the first ``F - num_images`` frames of ``x`` (B, F, ...); each tensor
    in ``args`` with the same frame axis is cut to those frames too, per-sample ``(B, 1, ...)``
    tensors and anything else are passed as they are. The last ``num_images`` frames come out as
    they went in: those of ``x``, or of ``images`` where given. Its users:

    * a temporal block (variants 1 and 2) and the temporal attention branch (variant 3): skipped;
    * temporal attention heads (variant 4): an image frame, alone in time, attends only to itself,
      which returns its value v (``images`` = the values);
    * the absolute temporal position table (``Latte.add_temporal_pe``): not added.
    """
    if num_images == 0:
        return fn(x, *args)
    kept = x if images is None else images
    if num_images == x.shape[1]:        # images only (a text model's text-to-image use): nothing to mix
        return kept
    n_video = x.shape[1] - num_images
    args = [a[:, :n_video] if isinstance(a, torch.Tensor) and a.dim() > 1 and a.shape[1] == x.shape[1] else a
            for a in args]
    return torch.cat([fn(x[:, :n_video], *args), kept[:, n_video:]], dim=1)


# ------------------------------------------------------------------------------ attention
class RotaryEmbedding(nn.Module):
    """1D rotary position embedding (RoPE) for temporal attention.

    Channel pairs ``(x[j], x[j + d/2])`` of a query or key at frame ``m`` are rotated by the angle
    ``m * theta_j`` with ``theta_j = base^(-2j/d)``. Rotating q by m and k by n makes
    ``<q_m, k_n>`` a function of ``m - n`` only: attention sees relative time (Latte §3.2.4).

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


def attend(qkv: torch.Tensor, axis: str, num_heads: int, rope: RotaryEmbedding | None = None) -> torch.Tensor:
    """Attention along ``axis`` for a fused projection ``qkv`` (B, F, N, 3*h*d) -> (B, F, N, h*d).

    The grid is looked at as ``(B, S, L)``: S sequences of L tokens (spatial: F frames of N tokens;
    temporal: N positions of F frames). q, k, v are views of ``qkv`` in SDPA's (B*S, h, L, d) layout
    whenever ``qkv`` is stored in (B, S, L) order (``Attention`` makes sure it is).
    """
    if axis not in AXES:
        raise ValueError(f"axis={axis!r} is not one of {', '.join(map(repr, AXES))}")
    seqs = qkv if axis == "spatial" else qkv.transpose(1, 2)                    # (B, S, L, 3*h*d)
    B, S, L, _ = seqs.shape
    q, k, v = seqs.reshape(B * S, L, 3, num_heads, -1).permute(2, 0, 3, 1, 4)   # each (B*S, h, L, d)
    if rope is not None:
        q, k = rope(q), rope(k)
    out = F.scaled_dot_product_attention(q, k, v)                               # (B*S, h, L, d)
    out = out.transpose(1, 2).reshape(B, S, L, -1)                              # (B, S, L, h*d)
    return out if axis == "spatial" else out.transpose(1, 2)


def attend_temporal(qkv: torch.Tensor, num_heads: int, rope: RotaryEmbedding | None = None,
                    num_images: int = 0) -> torch.Tensor:
    """Temporal attention (as ``attend``) in which each appended image frame attends only to itself."""
    values = qkv.chunk(3, dim=-1)[2]                                            # (B, F, N, h*d)
    return video_frames_only(attend, qkv, num_images, "temporal", num_heads, rope, images=values)


class Attention(nn.Module):
    """Multi-head self-attention on the token grid, fused qkv with bias: (B, F, N, D) -> (B, F, N, D).

    ``axis``: ``"spatial"`` (within each frame), ``"temporal"`` (across frames, with ``rope`` if
    given) or ``"factorized"`` (variant 4: the first half of the heads spatial, the second half
    temporal, one output projection). In temporal attention the last ``num_images`` frames are
    appended images, each attending only to itself. The same weights (official keys ``qkv``,
    ``proj``) serve every axis; attention runs through ``F.scaled_dot_product_attention``.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"num_heads={num_heads} does not divide hidden_size={dim}; "
                             f"use a divisor of {dim}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, axis: str, rope: RotaryEmbedding | None = None,
                num_images: int = 0) -> torch.Tensor:
        if axis == "spatial":
            return self.proj(attend(self.qkv(x), "spatial", self.num_heads))
        if axis == "temporal":
            # Project the tokens in (B, N, F) order: attend's (B*N, F) sequences are then views, not copies.
            # .contiguous(): the copy a transposed input costs anyway, made explicit so the Linear runs as one
            # addmm (bias fused) rather than mm plus a separate bias add.
            qkv = self.qkv(x.transpose(1, 2).contiguous()).transpose(1, 2)         # (B, F, N, 3D)
            return self.proj(attend_temporal(qkv, self.num_heads, rope, num_images))
        if axis != "factorized":
            raise ValueError(f"axis={axis!r} is not one of 'spatial', 'temporal', 'factorized'")
        h = self.num_heads // 2
        qkv = self.qkv(x).unflatten(-1, (3, 2, -1))               # (B, F, N, q|k|v, spatial|temporal heads, h*d)
        spatial = attend(qkv[..., 0, :].flatten(-2), "spatial", h)                 # (B, F, N, D/2)
        temporal = attend_temporal(qkv[..., 1, :].flatten(-2), h, rope, num_images)  # (B, F, N, D/2)
        return self.proj(torch.cat([spatial, temporal], dim=-1))


class FactorizedHeadAttention(Attention):
    """Variant 4's attention: ``Attention`` used with ``axis="factorized"``; needs an even head count."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__(dim, num_heads)
        if num_heads % 2 != 0:
            raise ValueError(f"num_heads={num_heads} must be even for variant 4 (half spatial, half temporal)")


# ------------------------------------------------------------------------------ blocks
def modulate(x: torch.Tensor, shift: torch.Tensor | None, scale: torch.Tensor | None) -> torch.Tensor:
    """AdaLN: x (B, F, N, D) scaled and shifted by per-frame vectors (B, F or 1, D); ``None``: x unchanged."""
    if shift is None:
        return x
    return x * (1 + scale.unsqueeze(2)) + shift.unsqueeze(2)


def gated(gate: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """A residual branch's output x (B, F, N, D) times its adaLN gate (B, F or 1, D); ``None``: x unchanged."""
    return x if gate is None else gate.unsqueeze(2) * x


class Mlp(nn.Module):
    """Linear -> tanh-GELU -> Linear (official keys ``fc1``, ``fc2``): dim -> hidden -> out (default dim)."""

    def __init__(self, dim: int, hidden: int, out: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim if out is None else out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    """What every block has: one norm per residual branch (DiT's norm1, norm2 are ``norms[0]``,
    ``norms[1]``), the MLP and, under S-AdaLN, the modulation Linear."""

    def __init__(self, dim: int, mlp_ratio: float, adaln: bool, num_branches: int):
        super().__init__()
        self.adaln = adaln
        # With adaLN the norms carry no affine parameters: (1 + scale) and shift come from c instead.
        self.norms = nn.ModuleList(
            [nn.LayerNorm(dim, elementwise_affine=not adaln, eps=1e-6) for _ in range(num_branches)])
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if adaln:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * num_branches * dim))

    def modulation(self, c: torch.Tensor | None) -> tuple:
        """(shift, scale, gate) for each residual branch in turn, each (B, F or 1, D); all ``None`` without adaLN."""
        n = 3 * len(self.norms)
        return self.adaLN_modulation(c).chunk(n, dim=-1) if self.adaln else (None,) * n


class TransformerBlock(_Block):
    """Variants 1, 2 (``axis`` spatial or temporal) and 4 (``axis="factorized"``): attention + MLP.

    A temporal block leaves image frames untouched (attention and MLP), like the official joint model.
    State-dict keys match the official block: ``attn.qkv, attn.proj, mlp.fc1, mlp.fc2, adaLN_modulation.1``.
    """

    def __init__(self, dim: int, num_heads: int, axis: str, mlp_ratio: float = 4.0, adaln: bool = True):
        super().__init__(dim, mlp_ratio, adaln, num_branches=2)
        self.axis = axis
        self.attn = (FactorizedHeadAttention if axis == "factorized" else Attention)(dim, num_heads)

    def forward(self, x, c, rope: RotaryEmbedding | None = None, num_images: int = 0):
        if self.axis == "temporal":
            return video_frames_only(self.dit_block, x, num_images, c, rope)
        return self.dit_block(x, c, rope, num_images)

    def dit_block(self, x, c, rope: RotaryEmbedding | None = None, num_images: int = 0):
        """DiT's block, line for line, with attention along ``self.axis``."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.modulation(c)
        x = x + gated(gate_msa, self.attn(modulate(self.norms[0](x), shift_msa, scale_msa), self.axis, rope,
                                          num_images))
        x = x + gated(gate_mlp, self.mlp(modulate(self.norms[1](x), shift_mlp, scale_mlp)))
        return x


class FactorizedAttentionBlock(_Block):
    """Variant 3: spatial MHA, then temporal MHA, then one MLP — three residual branches in one block."""

    axis = "factorized"

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, adaln: bool = True):
        super().__init__(dim, mlp_ratio, adaln, num_branches=3)
        self.attn_spatial = Attention(dim, num_heads)
        self.attn_temporal = Attention(dim, num_heads)

    def forward(self, x, c, rope: RotaryEmbedding | None = None, num_images: int = 0):
        (shift_msa_s, scale_msa_s, gate_msa_s, shift_msa_t, scale_msa_t, gate_msa_t,
         shift_mlp, scale_mlp, gate_mlp) = self.modulation(c)
        x = x + gated(gate_msa_s, self.attn_spatial(modulate(self.norms[0](x), shift_msa_s, scale_msa_s), "spatial"))
        x = video_frames_only(self.temporal_branch, x, num_images, shift_msa_t, scale_msa_t, gate_msa_t, rope)
        x = x + gated(gate_mlp, self.mlp(modulate(self.norms[2](x), shift_mlp, scale_mlp)))
        return x

    def temporal_branch(self, x, shift_msa_t, scale_msa_t, gate_msa_t, rope):
        return x + gated(gate_msa_t, self.attn_temporal(modulate(self.norms[1](x), shift_msa_t, scale_msa_t),
                                                        "temporal", rope))


class FactorizedHeadsBlock(TransformerBlock):
    """Variant 4: one attention whose heads are split half spatial, half temporal; one MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, adaln: bool = True):
        super().__init__(dim, num_heads, "factorized", mlp_ratio, adaln)


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
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1) if self.adaln else (None, None)
        return self.linear(modulate(self.norm_final(x), shift, scale))
