"""Text conditioning for Latte-T2V, read like PixArt-α: adaLN-single, a caption projection, cross-attention.

The class-conditional Latte modulates every block with its own adaLN Linear (S-AdaLN, blocks.py). The
text-to-video Latte (the paper's T2V model; diffusers' ``LatteTransformer3DModel``) follows PixArt-α:

* **adaLN-single**: one shared MLP turns the timestep embedding into six D-wide vectors
  (``Latte.t_block``: SiLU -> Linear D -> 6D); each block adds its own learned ``scale_shift_table``
  (6, D) and splits the sum into shift, scale and gate for attention and MLP. One 6D² Linear for the
  whole model instead of one per block.
* **caption projection**: the text encoder's tokens (B, L, C_text) -> (B, L, D) by a two-layer MLP with
  tanh-GELU (``CaptionEmbedder.y_proj``).
* **cross-attention** in every spatial block, between self-attention and the MLP: the video tokens are
  the queries, the caption tokens the keys and values. It is neither normalised nor gated (as in
  PixArt-α) and starts switched off (its output projection is zero-initialised). A boolean mask keeps
  padded caption tokens out of the softmax. Temporal blocks have no cross-attention.

Classifier-free guidance drops a caption to **zeros** (``CaptionEmbedder``), see its docstring for why.

State-dict names follow PixArt-α: ``t_block.1``, ``y_embedder.y_proj.fc1/fc2``,
``blocks.{i}.cross_attn.q_linear/kv_linear/proj``, ``blocks.{i}.scale_shift_table``,
``final_layer.scale_shift_table``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Attention, Mlp, RotaryEmbedding, gated, modulate, video_frames_only


class CaptionEmbedder(nn.Module):
    """Caption tokens (B, L, C_text) -> (B, L, D) through ``y_proj`` (Linear, tanh-GELU, Linear).

    Dropout for classifier-free guidance: while training, each sample's caption is replaced, with
    probability ``dropout_prob``, by the *null caption*: all tokens zero, none masked. Through the
    biases of ``y_proj`` and of the cross-attention the null caption still gives a learned output, so
    it costs no parameter, fits any caption length and leaves the state dict exactly diffusers' (a
    round trip keeps every weight). PixArt-α stores a fixed random null caption of 120 tokens instead;
    diffusers' LattePipeline guides with the text encoder's embedding of "" — pass that as the
    unconditional half of a guided batch to sample from a model trained that way.
    """

    def __init__(self, text_dim: int, hidden_size: int, dropout_prob: float = 0.1):
        super().__init__()
        self.dropout_prob = dropout_prob
        self.y_proj = Mlp(text_dim, hidden_size, hidden_size)

    def forward(self, text: torch.Tensor, mask: torch.Tensor | None,
                force_drop: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Projected caption (B, L, D) and its mask (B, L), dropped samples set to the null caption."""
        drop = force_drop
        if drop is None and self.training and self.dropout_prob > 0:
            drop = torch.rand(text.shape[0], device=text.device) < self.dropout_prob
        if drop is not None:
            drop = drop.bool().to(text.device)
            text = torch.where(drop[:, None, None], torch.zeros_like(text), text)
            if mask is not None:
                mask = mask | drop[:, None]
        return self.y_proj(text), mask


class CrossAttention(nn.Module):
    """Multi-head cross-attention from the token grid to the caption: (B, F, N, D), (B, L, D) -> (B, F, N, D).

    Every query attends to the caption of its own sample only, independently of the other queries,
    so the F*N tokens of a sample are one query sequence: the caption and its mask (B, L) are used
    once per sample, never repeated per frame. ``mask``: True for a caption token, False for padding
    (left out of the softmax); ``None``: every token counts.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q_linear = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, text: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, F_, N, D = x.shape
        h = self.num_heads
        q = self.q_linear(x).reshape(B, F_ * N, h, -1).transpose(1, 2)                   # (B, h, F*N, d)
        k, v = self.kv_linear(text).unflatten(-1, (2, h, -1)).permute(2, 0, 3, 1, 4)   # each (B, h, L, d)
        attn_mask = None if mask is None else mask[:, None, None, :]                      # (B, 1, 1, L)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)               # (B, h, F*N, d)
        return self.proj(out.transpose(1, 2).reshape(B, F_, N, D))


class TextBlock(nn.Module):
    """A Latte-T2V block (PixArt-α's, with attention along ``axis``): self-attention, cross-attention
    to the caption (spatial blocks only), MLP; modulated by adaLN-single.

    ``c`` (B, 1, 6D) is the shared ``t_block`` output; the block adds its ``scale_shift_table`` (6, D)::

        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = scale_shift_table + c
        x = x + gate_msa * attn(modulate(norms[0](x), shift_msa, scale_msa), axis)
        x = x + cross_attn(x, caption, mask)                     # spatial blocks
        x = x + gate_mlp * mlp(modulate(norms[1](x), shift_mlp, scale_mlp))

    As in every minilatte block, a temporal block leaves appended image frames untouched.
    """

    def __init__(self, dim: int, num_heads: int, axis: str, mlp_ratio: float = 4.0):
        super().__init__()
        if axis not in ("spatial", "temporal"):
            raise ValueError(f"axis={axis!r} is not one of 'spatial', 'temporal' (text conditioning: variants 1, 2)")
        self.axis = axis
        self.norms = nn.ModuleList([nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6) for _ in range(2)])
        self.attn = Attention(dim, num_heads)
        self.cross_attn = CrossAttention(dim, num_heads) if axis == "spatial" else None
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim) / dim ** 0.5)

    def forward(self, x, c, rope: RotaryEmbedding | None = None, num_images: int = 0,
                caption: torch.Tensor | None = None, caption_mask: torch.Tensor | None = None):
        if self.axis == "temporal":
            return video_frames_only(self.pixart_block, x, num_images, c, rope)
        return self.pixart_block(x, c, rope, num_images, caption, caption_mask)

    def pixart_block(self, x, c, rope=None, num_images: int = 0, caption=None, caption_mask=None):
        modulation = self.scale_shift_table + c.unflatten(-1, (6, -1))                   # (B, 1, 6, D)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = modulation.unbind(-2)
        x = x + gated(gate_msa, self.attn(modulate(self.norms[0](x), shift_msa, scale_msa), self.axis, rope,
                                          num_images))
        if self.cross_attn is not None:
            x = x + self.cross_attn(x, caption, caption_mask)
        x = x + gated(gate_mlp, self.mlp(modulate(self.norms[1](x), shift_mlp, scale_mlp)))
        return x


class TextFinalLayer(nn.Module):
    """Norm modulated by the timestep embedding plus a learned (2, D) table, then Linear to the patch pixels.

    ``t_emb`` (B, 1, D) is the timestep embedding itself (not the 6D ``t_block`` output), as in PixArt-α.
    """

    def __init__(self, dim: int, out_features: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.scale_shift_table = nn.Parameter(torch.randn(2, dim) / dim ** 0.5)
        self.linear = nn.Linear(dim, out_features)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        shift, scale = (self.scale_shift_table + t_emb[:, :, None]).unbind(-2)          # each (B, 1, D)
        return self.linear(modulate(self.norm_final(x), shift, scale))
