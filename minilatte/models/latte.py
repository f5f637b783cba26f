"""The Latte model, read like DiT's models.py: embed the video, run the blocks, decode the patches.

::

    x (B, F, C, H, W) --x_embedder--> grid (B, n_f, N, D) + spatial sin-cos (pos_embed)
        t, y --t_embedder, y_embedder--> condition c (B, 1 or n_f, D)
        --blocks (blocks.py; variant 1-4; temp_embed before the first block that mixes frames)-->
        --final_layer--> (B, n_f, N, s*p*p*C_out) --unpatchify--> (B, F, C_out, H, W)

Top to bottom: the embedders of the video (patches or tubelets), of the timestep and of the class
label; the fixed sin-cos position tables; the model; classifier-free guidance; input checks.

Axes: B batch, F frames (n_f token frames), C channels, H/W height/width, N tokens per frame, D width.

Text-to-video (``conditioning="text"``): adaLN-single, a caption projection and cross-attention in the
spatial blocks, as in PixArt-α and diffusers' LatteTransformer3DModel; its pieces are in ``text.py``.

Joint image-video training: the last ``num_images`` frames of ``x`` are independent images. They are
embedded per frame like the video, go through every spatial computation, and skip temporal mixing
(blocks.py, ``video_frames_only``).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from einops import rearrange, repeat
from torch import nn
from torch.utils.checkpoint import checkpoint

from .blocks import (FactorizedAttentionBlock, FactorizedHeadsBlock, FinalLayer, RotaryEmbedding, TransformerBlock,
                     video_frames_only)
from .config import LatteConfig
from .text import CaptionEmbedder, TextBlock, TextFinalLayer


# ------------------------------------------------------------------------------ video -> tokens (Latte §3.2.1)
# Two ways to cut a video into tokens: **uniform** — every frame is patchified like a ViT image
# (n_f = F token frames of n_h * n_w patches); **compression** — ViViT "tubelets" that also span s
# frames (``tubelet_stride``), so n_f = F / s: fewer tokens, each mixing s frames before any attention.
# Both return the token *grid* (B, n_f, N, D): keeping the frame axis separate is what lets the
# blocks switch between spatial and temporal attention. ``patchify``/``unpatchify`` are the exact,
# parameter-free inverse pair that the final layer relies on.


def _check_divisible(name: str, value: int, by_name: str, by: int) -> None:
    if value % by != 0:
        raise ValueError(f"{name}={value} is not divisible by {by_name}={by}; use a multiple of {by}")


def patchify(x: torch.Tensor, patch_size: int, tubelet_stride: int = 1) -> torch.Tensor:
    """Cut a video into flattened patches, without any weights.

    (B, F, C, H, W) -> (B, F/s, N, s*p*p*C), features ordered (s, p, q, C) like the final layer's output.
    """
    B, F, C, H, W = x.shape
    _check_divisible("frames", F, "tubelet_stride", tubelet_stride)
    _check_divisible("height", H, "patch_size", patch_size)
    _check_divisible("width", W, "patch_size", patch_size)
    return rearrange(x, "b (nf s) c (nh p) (nw q) -> b nf (nh nw) (s p q c)",
                     s=tubelet_stride, p=patch_size, q=patch_size)


def unpatchify(tokens: torch.Tensor, patch_size: int, grid_hw: tuple[int, int],
               tubelet_stride: int = 1) -> torch.Tensor:
    """Exact inverse of :func:`patchify`.

    (B, n_f, N, s*p*p*C) -> (B, n_f*s, C, n_h*p, n_w*p), with ``grid_hw = (n_h, n_w)``.
    """
    n_h, n_w = grid_hw
    return rearrange(tokens, "b nf (nh nw) (s p q c) -> b (nf s) c (nh p) (nw q)",
                     nh=n_h, nw=n_w, s=tubelet_stride, p=patch_size, q=patch_size)


class PatchEmbed(nn.Module):
    """Uniform patch embedding: a stride-p convolution applied to every frame on its own.

    (B, F, C, H, W) -> (B, F, N, D).  ``proj`` has the official Latte/DiT key and shape (D, C, p, p).
    """

    tubelet_stride = 1

    def __init__(self, patch_size: int, in_channels: int, hidden_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        x = rearrange(x, "b f c h w -> (b f) c h w")
        x = self.proj(x)                                            # (B*F, D, n_h, n_w)
        return rearrange(x, "(b f) d nh nw -> b f (nh nw) d", b=B)  # (B, F, N, D)


class TubeletEmbed(nn.Module):
    """Compression patch embedding: a 3D convolution over tubelets of s frames × p × p pixels.

    (B, F, C, H, W) -> (B, F/s, N, D).  ``proj`` weight shape (D, C, s, p, p).
    """

    def __init__(self, patch_size: int, tubelet_stride: int, in_channels: int, hidden_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_stride = tubelet_stride
        kernel = (tubelet_stride, patch_size, patch_size)
        self.proj = nn.Conv3d(in_channels, hidden_size, kernel_size=kernel, stride=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_divisible("frames", x.shape[1], "tubelet_stride", self.tubelet_stride)
        x = rearrange(x, "b f c h w -> b c f h w")
        x = self.proj(x)                                      # (B, D, n_f, n_h, n_w)
        return rearrange(x, "b d nf nh nw -> b nf (nh nw) d")  # (B, n_f, N, D)


# ------------------------------------------------------------------------------ timestep and class (Latte §3.2.3)
# t and y become D-wide vectors; how they enter the blocks is the ``conditioning`` choice: S-AdaLN
# (c = t_emb + y_emb modulates every block) or extra tokens in every frame (``Latte.forward``).


# The largest timestep the model takes: the timestep embedding's max_period, the horizon its sinusoids
# are scaled for (diffusion runs use 1,000 steps).
MAX_TIMESTEP = 10000


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


# ------------------------------------------------------------------------------ position tables (Latte §3.2.4)
# A fixed 2D sin-cos table is added to the patches of every frame; temporal attention learns where a
# frame sits in time from an **absolute** 1D sin-cos table added once, or from **RoPE** (blocks.py),
# which rotates q and k so that their dot product depends only on the distance between two frames.
# The tables follow MAE/DiT exactly (float64 maths, then float32): for a position ``pos`` and
# ``i < dim/2``, ``[sin(pos * w_i), cos(pos * w_i)]`` with ``w_i = 10000^(-2i/dim)``. In 2D the first
# half of the channels encodes the column and the second half the row.


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


# ------------------------------------------------------------------------------ the model
def block_axes(variant: int, depth: int) -> list[str]:
    """Which tokens each block lets attend to each other, per variant."""
    if variant == 1:   # interleaved: spatial, temporal, spatial, temporal, ...
        return ["spatial", "temporal"] * (depth // 2)
    if variant == 2:   # late fusion: all spatial blocks first, then all temporal ones
        return ["spatial"] * (depth // 2) + ["temporal"] * (depth // 2)
    return ["factorized"] * depth


class Latte(nn.Module):
    """Latent video diffusion transformer.

    forward(x (B, F, C, H, W), t (B,), y (B,) or None, num_images, y_images (B, num_images) or None)
    -> (B, F, C_out, H, W) with C_out = 2C when ``learn_sigma`` (ε first, then the variance values).

    ``y`` is required exactly when the model is class-conditional (``num_classes > 0``), with labels in
    [0, num_classes); a model with a null class (``class_dropout_prob > 0``) also takes the null class
    ``num_classes`` (the unconditional prediction, as in a CFG batch [labels; null class]). Wrong types,
    shapes or labels raise TypeError / ValueError naming the argument (see ``check_inputs``). Timesteps
    must lie in [0, MAX_TIMESTEP]. Floating inputs of another precision (``x``, ``text``: float64,
    float16, ...) are cast to the model's dtype, so the output has the model's dtype.

    A text model (``conditioning="text"``, models/text.py) takes captions instead of labels:
    ``forward(x, t, text=(B, L, text_dim), text_mask=(B, L) bool or None)``; it may also take images
    only (``num_images`` = all frames).
    """

    def __init__(self, config: LatteConfig):
        super().__init__()
        self.config = cfg = config
        D = cfg.hidden_size
        adaln = cfg.conditioning == "s-adaln"
        if cfg.patch_embedding == "uniform":
            self.x_embedder = PatchEmbed(cfg.patch_size, cfg.in_channels, D)
        else:
            self.x_embedder = TubeletEmbed(cfg.patch_size, cfg.tubelet_stride, cfg.in_channels, D)
        self.t_embedder = TimestepEmbedder(D)
        if cfg.num_classes > 0:
            self.y_embedder = LabelEmbedder(cfg.num_classes, D, cfg.class_dropout_prob)
        if cfg.conditioning == "text":   # adaLN-single and the caption (models/text.py)
            self.y_embedder = CaptionEmbedder(cfg.text_dim, D, cfg.class_dropout_prob)
            self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))

        # Fixed tables are buffers, rebuilt from the config (not saved, not trained).
        self.register_buffer("pos_embed", sincos_2d(D, cfg.grid_size, cfg.grid_size), persistent=False)  # (N, D)
        self.register_buffer("temp_embed", sincos_1d(D, range(cfg.token_frames)), persistent=False)     # (n_f, D)
        self.rope = RotaryEmbedding(D // cfg.num_heads) if cfg.temporal_pe == "rope" else None

        self.axes = block_axes(cfg.variant, cfg.depth)
        self.blocks = nn.ModuleList([self._make_block(axis) for axis in self.axes])
        out_features = cfg.tubelet_stride * cfg.patch_size ** 2 * cfg.out_channels
        self.final_layer = (TextFinalLayer(D, out_features) if cfg.conditioning == "text"
                            else FinalLayer(D, out_features, adaln))
        self.gradient_checkpointing = False
        self.initialize_weights()

    def _make_block(self, axis: str) -> nn.Module:
        cfg, adaln = self.config, self.config.conditioning == "s-adaln"
        if cfg.conditioning == "text":
            return TextBlock(cfg.hidden_size, cfg.num_heads, axis, cfg.mlp_ratio)
        if cfg.variant == 3:
            return FactorizedAttentionBlock(cfg.hidden_size, cfg.num_heads, cfg.mlp_ratio, adaln)
        if cfg.variant == 4:
            return FactorizedHeadsBlock(cfg.hidden_size, cfg.num_heads, cfg.mlp_ratio, adaln)
        return TransformerBlock(cfg.hidden_size, cfg.num_heads, axis, cfg.mlp_ratio, adaln)

    def initialize_weights(self) -> None:
        """DiT's initialisation, so that a new S-AdaLN model outputs exactly zero."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        # The patch projection is a Linear over flattened patches in disguise: init it like one.
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        if self.config.num_classes > 0:
            nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        if self.config.conditioning == "text":   # PixArt-α: small adaLN-single and caption MLPs, cross-attention off
            for linear in (self.t_block[1], self.y_embedder.y_proj.fc1, self.y_embedder.y_proj.fc2):
                nn.init.normal_(linear.weight, std=0.02)
            for block in self.blocks:
                if block.cross_attn is not None:
                    nn.init.zeros_(block.cross_attn.proj.weight)
                    nn.init.zeros_(block.cross_attn.proj.bias)
        # adaLN-Zero: zero modulation => every gate α is 0 and every block starts as the identity.
        for module in [*self.blocks, self.final_layer]:
            if getattr(module, "adaln", False):
                nn.init.zeros_(module.adaLN_modulation[-1].weight)
                nn.init.zeros_(module.adaLN_modulation[-1].bias)
        # Zero output layer => the first prediction is exactly 0 (ε = 0, v = 0).
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    # ------------------------------------------------------------------ forward pieces
    def embed(self, x: torch.Tensor, num_images: int) -> torch.Tensor:
        """(B, F_video + num_images, C, H, W) -> token grid (B, n_f + num_images, N, D), spatial PE added."""
        cfg = self.config
        B, F, C, H, W = x.shape
        if C != cfg.in_channels or H != cfg.input_size or W != cfg.input_size:
            raise ValueError(f"x of shape (C, H, W)={(C, H, W)} does not match the model's "
                             f"(in_channels, input_size, input_size)={(cfg.in_channels, cfg.input_size, cfg.input_size)}")
        # A text model may take images only (num_images = F: text-to-image, what LattePipeline does for
        # one frame with its temporal attention switched off).
        most = F if cfg.conditioning == "text" else F - 1
        if not 0 <= num_images <= most:
            raise ValueError(f"num_images={num_images} must be in [0, {most}] for {F} input frames")
        n_video = F - num_images
        if cfg.temporal_pe == "absolute" and n_video not in (0, cfg.num_frames):
            raise ValueError(f"got {n_video} video frames but num_frames={cfg.num_frames}; absolute temporal "
                             "position tables have a fixed length (temporal_pe='rope' accepts any length)")
        if n_video % cfg.tubelet_stride:
            raise ValueError(f"x: video frames={n_video} are not divisible by tubelet_stride={cfg.tubelet_stride}")
        if num_images and cfg.patch_embedding == "compression":
            raise ValueError("num_images > 0 needs patch_embedding='uniform': a tubelet cannot embed a single image")
        tokens = self.x_embedder(x)                     # (B, n_f + num_images, N, D), a permuted view of the conv
        # Dense once here: the residual stream keeps its input's memory layout through every block,
        # and a permuted one would make every LayerNorm (forward and backward) copy its input.
        return tokens.contiguous() + self.pos_embed

    def condition(self, t: torch.Tensor, y: torch.Tensor | None, n_video: int, num_images: int,
                  y_images: torch.Tensor | None) -> list[torch.Tensor]:
        """Embeddings of the condition: [t_emb] or [t_emb, y_emb], each (B, 1 or n_f + num_images, D).

        Image frames take their own labels ``y_images`` when given, otherwise the video's label.
        """
        embeddings = [self.t_embedder(t)[:, None]]                      # (B, 1, D)
        if self.config.num_classes == 0:
            return embeddings
        if y is None:
            raise _labels_required(self.config)
        if y_images is None or num_images == 0:
            return embeddings + [self.y_embedder(y)[:, None]]           # (B, 1, D)
        # Label dropout (for classifier-free guidance): one decision per clip, so that the frames of a
        # clip never disagree about its label, and, by default, one more decision per sample for all
        # of its images together, as the official joint model does (models/latte_img.py embeds each
        # sample's image labels as one row); image_label_dropout="per_image" decides per image instead.
        per_sample = self.config.image_label_dropout == "per_sample"
        clip = repeat(self.y_embedder(y), "b d -> b f d", f=n_video)     # (B, n_f, D)
        images = self.y_embedder(y_images, per_row=per_sample)           # (B, num_images, D)
        return embeddings + [torch.cat([clip, images], dim=1)]           # (B, n_f + num_images, D)

    def check_inputs(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, num_images: int,
                     y_images: torch.Tensor | None, null_rows: slice | None = None) -> None:
        """Type and shape checks of forward's arguments (frames and sizes of x are checked in ``embed``).

        Label values are checked only for CPU tensors (no device sync); a CUDA label outside the
        table still fails in the embedding lookup. The null class ``num_classes`` is accepted in
        ``y`` (the unconditional half of a CFG batch) only where the model has a null row, and in
        ``forward_with_cfg`` only in the rows ``null_rows``.
        """
        cfg = self.config
        _check_tensor("x", x, floating=True, shape_text="(B, F, C, H, W)", ndim=5)
        B = x.shape[0]
        if B == 0:
            raise ValueError("x holds no samples (batch size 0); give at least one video")
        _check_tensor("t", t, floating=None, shape_text=f"(B,) = ({B},), one timestep per sample", shape=(B,))
        _check_timesteps(t)
        if not isinstance(num_images, int) or isinstance(num_images, bool):
            raise TypeError(f"num_images must be an int, got {type(num_images).__name__}")
        if cfg.num_classes == 0:
            for name, value in (("y", y), ("y_images", y_images)):
                if value is not None:
                    raise ValueError(f"{name} (class labels) given but the model is unconditional (num_classes=0)")
            return
        if y is None:
            raise _labels_required(cfg)
        _check_tensor("y", y, floating=False, shape_text=f"(B,) = ({B},), one label per sample", shape=(B,))
        top = cfg.num_classes + int(cfg.has_null_class)     # exclusive upper bound where the null class is allowed
        if null_rows is None:
            _check_labels("y", y, top, cfg)
        else:
            _check_labels("y (conditional half)", y[:null_rows.start], cfg.num_classes, cfg)
            _check_labels("y (unconditional half)", y[null_rows], top, cfg)
        if y_images is not None:
            if num_images == 0:
                raise ValueError("y_images given but num_images=0: pass num_images, the number of appended images")
            _check_tensor("y_images", y_images, floating=False, ndim=2, shape=(B, num_images),
                          shape_text=f"(B, num_images) = ({B}, {num_images})")
            _check_labels("y_images", y_images, cfg.num_classes, cfg)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None,
                num_images: int = 0, y_images: torch.Tensor | None = None,
                text: torch.Tensor | None = None, text_mask: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(x, t, y, num_images, y_images)
        self.check_text(x, text, text_mask)
        dtype = self.x_embedder.proj.weight.dtype       # the public boundary: inputs take the model's precision
        x = x.to(dtype)
        text = None if text is None else text.to(dtype)
        cfg = self.config
        grid = self.embed(x, num_images)                # (B, F_tok, N, D), F_tok = n_f + num_images
        B, F_tok = grid.shape[:2]
        n_video = F_tok - num_images
        embeddings = self.condition(t, y, n_video, num_images, y_images)

        num_cond_tokens = 0
        c_final, caption = embeddings[0], ()
        if cfg.conditioning == "text":
            # adaLN-single: one shared t_block for every block; the final layer takes t_emb itself.
            c = self.t_block(embeddings[0])             # (B, 1, 6D)
            caption = self.y_embedder(text, text_mask)  # tokens (B, L, D) and mask (B, L): the spatial blocks'
        elif cfg.conditioning == "s-adaln":
            c = c_final = sum(embeddings)               # (B, 1 or F_tok, D): modulates every block
        else:
            # Tokens: the condition joins every frame's token list once, at the input; the tokens are
            # attended to like patches (spatially and through time) and dropped before the final layer.
            cond = torch.stack([e.expand(B, F_tok, -1) for e in embeddings], dim=2)  # (B, F_tok, K, D)
            num_cond_tokens = cond.shape[2]
            grid = torch.cat([cond, grid], dim=2)       # (B, F_tok, K + N, D)
            c = c_final = None

        temporal_pe_added = False
        for block, axis in zip(self.blocks, self.axes):
            if axis != "spatial" and not temporal_pe_added:
                grid = self.add_temporal_pe(grid, n_video)
                temporal_pe_added = True
            if self.gradient_checkpointing and self.training:
                grid = checkpoint(block, grid, c, self.rope, num_images, *caption, use_reentrant=False)
            else:
                grid = block(grid, c, self.rope, num_images, *caption)

        grid = grid[:, :, num_cond_tokens:]             # (B, F_tok, N, D)
        out = self.final_layer(grid, c_final)           # (B, F_tok, N, s*p*p*C_out)
        return unpatchify(out, cfg.patch_size, (cfg.grid_size, cfg.grid_size), cfg.tubelet_stride)

    def add_temporal_pe(self, grid: torch.Tensor, n_video: int) -> torch.Tensor:
        """Absolute temporal PE on the video frames only (images and RoPE models get none)."""
        if self.rope is not None:
            return grid
        return video_frames_only(torch.add, grid, grid.shape[1] - n_video, self.temp_embed[:, None])  # + (n_f, 1, D)

    def forward_with_cfg(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, cfg_scale: float,
                         **kwargs) -> torch.Tensor:
        """Classifier-free guidance in one batched pass (DiT convention).

        The batch is [conditional half; unconditional half] (the second half of y holds the null class).
        Only the ε channels are guided: ``ε = ε_u + s (ε_c − ε_u)``; the variance channels pass through.
        Needs a model with a null class (class-conditional, ``class_dropout_prob > 0``). ``kwargs``:
        ``num_images`` and ``y_images`` as for ``forward``.

        A text model (``conditioning="text"``) takes ``y=None`` and ``text``, ``text_mask`` (and
        ``num_images``) as for ``forward``; the second half of ``text`` holds the null caption: zeros
        (what caption dropout trains, ``null_caption``), or the text encoder's embedding of "" for a model
        trained that way (Latte-1 through diffusers).
        """
        cfg = self.config
        if cfg.conditioning == "text":
            return self._text_cfg(x, t, y, cfg_scale, **kwargs)
        num_images, y_images = kwargs.pop("num_images", 0), kwargs.pop("y_images", None)
        if kwargs:
            raise TypeError(f"forward_with_cfg got unexpected argument(s) {', '.join(sorted(kwargs))}; "
                            "allowed: num_images, y_images")
        if cfg.num_classes == 0:
            raise ValueError("forward_with_cfg needs a class-conditional model; this one has num_classes=0")
        if not cfg.has_null_class:
            raise ValueError("forward_with_cfg needs the null class, which a model built with "
                             "class_dropout_prob=0 does not have (it never learned the unconditional prediction)")
        _check_scale(cfg_scale)
        _check_tensor("x", x, floating=True, shape_text="(B, F, C, H, W)", ndim=5)
        self.check_inputs(x, t, y, num_images, y_images, null_rows=slice(len(x) // 2, None))
        return classifier_free_guidance(self.forward, x, t, cfg_scale, channel_dim=2,
                                        y=y, num_images=num_images, y_images=y_images)

    def _text_cfg(self, x, t, y, cfg_scale, **kwargs) -> torch.Tensor:
        num_images, text, text_mask = (kwargs.pop(k, d) for k, d in (("num_images", 0), ("text", None),
                                                                      ("text_mask", None)))
        if kwargs:
            raise TypeError(f"forward_with_cfg got unexpected argument(s) {', '.join(sorted(kwargs))}; "
                            "allowed for a text model: num_images, text, text_mask")
        _check_scale(cfg_scale)
        _check_tensor("x", x, floating=True, shape_text="(B, F, C, H, W)", ndim=5)
        self.check_inputs(x, t, y, num_images, None)
        self.check_text(x, text, text_mask)
        return classifier_free_guidance(self.forward, x, t, cfg_scale, channel_dim=2,
                                        num_images=num_images, text=text, text_mask=text_mask)

    def check_text(self, x: torch.Tensor, text: torch.Tensor | None, text_mask: torch.Tensor | None) -> None:
        """Checks of the caption arguments: required exactly for a text model, (B, L, text_dim) and (B, L) bool.

        Every caption must keep at least one token (checked for CPU masks only: no device sync).
        """
        cfg = self.config
        if cfg.conditioning != "text":
            if text is not None or text_mask is not None:
                raise ValueError(f"text (captions) given but the model has conditioning={cfg.conditioning!r}; "
                                 "captions need conditioning='text'")
            return
        if text is None:
            raise ValueError(f"text (caption embeddings (B, L, {cfg.text_dim})) is required: the model has "
                             "conditioning='text'")
        B = x.shape[0]
        _check_tensor("text", text, floating=True, ndim=3, shape_text=f"(B, L, text_dim) = ({B}, L, {cfg.text_dim})")
        if text.shape[0] != B or text.shape[2] != cfg.text_dim or text.shape[1] == 0:
            raise ValueError(f"text must have shape (B, L, text_dim) = ({B}, L >= 1, {cfg.text_dim}); "
                             f"got {tuple(text.shape)}")
        if text_mask is None:
            return
        if not isinstance(text_mask, torch.Tensor) or text_mask.dtype != torch.bool:
            got = text_mask.dtype if isinstance(text_mask, torch.Tensor) else type(text_mask).__name__
            raise TypeError(f"text_mask must be a bool tensor (True = caption token, False = padding), got {got}; "
                            "a tokenizer's attention_mask becomes one with .bool()")
        if tuple(text_mask.shape) != tuple(text.shape[:2]):
            raise ValueError(f"text_mask must have shape (B, L) = {tuple(text.shape[:2])}; got {tuple(text_mask.shape)}")
        if text_mask.device.type == "cpu" and not bool(text_mask.any(dim=1).all()):
            raise ValueError("text_mask masks every token of a caption; keep at least one (a T5 caption keeps its "
                             "end-of-sequence token)")

    def null_caption(self, text: torch.Tensor, text_mask: torch.Tensor | None = None):
        """The null caption that caption dropout trains, shaped like ``text``: zeros, no token masked."""
        mask = None if text_mask is None else torch.ones_like(text_mask)
        return torch.zeros_like(text), mask


def classifier_free_guidance(model: Callable, x: torch.Tensor, t: torch.Tensor, cfg_scale: float,
                             channel_dim: int = 2, **kwargs) -> torch.Tensor:
    """Classifier-free guidance of any denoiser ``model(x, t, **kwargs)`` in one batched pass (DiT convention).

    The batch is [conditional half; unconditional half] (``kwargs`` give both halves their labels).
    Only the first half of ``x`` is used: duplicated, so that both halves see the same x_t. Only the
    ε channels (the first C of ``channel_dim``) are guided, ``ε = ε_u + s (ε_c − ε_u)``, and returned
    for both halves; learned-variance channels pass through.
    """
    if len(x) % 2:
        raise ValueError(f"classifier-free guidance needs an even batch [conditional; unconditional], "
                         f"got x of shape {tuple(x.shape)}")
    half = x[: len(x) // 2]
    out = model(torch.cat([half, half]), t, **kwargs)
    C = x.shape[channel_dim]
    eps, rest = out.split([C, out.shape[channel_dim] - C], dim=channel_dim)
    cond_eps, uncond_eps = eps.chunk(2)
    guided = uncond_eps + cfg_scale * (cond_eps - uncond_eps)
    return torch.cat([torch.cat([guided, guided]), rest], dim=channel_dim)


def _check_scale(cfg_scale) -> None:
    if not isinstance(cfg_scale, (int, float)) or isinstance(cfg_scale, bool):
        raise TypeError(f"cfg_scale must be a number, got {type(cfg_scale).__name__}")


def _labels_required(cfg: LatteConfig) -> ValueError:
    return ValueError(f"y (class labels) is required: the model is class-conditional with num_classes={cfg.num_classes}")


def _check_tensor(name: str, value, *, floating: bool | None, shape_text: str, ndim: int | None = None,
                  shape: tuple | None = None) -> None:
    """TypeError for a non-tensor or a wrong dtype (floating True / False: integer; None: either), ValueError
    for a wrong shape."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape_text}, got {type(value).__name__}")
    is_float = value.is_floating_point()
    is_int = not is_float and not value.is_complex() and value.dtype != torch.bool
    if (floating is True and not is_float) or (floating is False and not is_int) or not (is_float or is_int):
        kind = {True: "a floating", False: "an integer", None: "an integer or floating"}[floating]
        raise TypeError(f"{name} must have {kind} dtype, got {value.dtype}")
    if (ndim is not None and value.dim() != ndim) or (shape is not None and tuple(value.shape) != shape):
        raise ValueError(f"{name} must have shape {shape_text}; got {tuple(value.shape)}")


def _check_timesteps(t: torch.Tensor) -> None:
    """Timesteps in [0, MAX_TIMESTEP] (checked for CPU tensors only: no device sync)."""
    if t.device.type != "cpu":
        return
    values = t.double()
    if not bool(torch.isfinite(values).all()) or values.min() < 0 or values.max() > MAX_TIMESTEP:
        raise ValueError(f"t holds timesteps in [{values.min().item():g}, {values.max().item():g}] but must be in "
                         f"[0, {MAX_TIMESTEP}] (diffusion timesteps, 0 .. diffusion_steps - 1)")


def _check_labels(name: str, labels: torch.Tensor, top: int, cfg: LatteConfig) -> None:
    """Labels in [0, top) (checked for CPU tensors only: no device sync)."""
    if labels.device.type != "cpu" or labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= top:
        null = (f"; {cfg.num_classes} (the null class) is allowed only as the unconditional half of a "
                "CFG batch of a model with class_dropout_prob > 0" if top == cfg.num_classes else "")
        allowed = (f"[0, {cfg.num_classes - 1}], or {cfg.num_classes} for the null class (classifier-free guidance)"
                   if top > cfg.num_classes else f"[0, {top - 1}]")
        raise ValueError(f"{name} holds labels in [{low}, {high}] but must be in {allowed} "
                         f"(num_classes={cfg.num_classes}){null}")
