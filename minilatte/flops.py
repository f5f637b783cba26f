"""Exact FLOP counts of a Latte forward pass (2 FLOPs per multiply-add), from the configuration alone.

Counted: every matmul and convolution (patch embedding, timestep MLP, qkv/proj, attention scores and
weighted sums, MLP, adaLN, final layer; for a text model the caption projection, adaLN-single's t_block
and the cross-attention to ``caption_length`` tokens). Not counted: element-wise work (norms, softmax, GELU, adds),
which is < 1 % here. A training step costs about 3x the forward (backward = 2x forward).
"""
from __future__ import annotations

from .models import LatteConfig


def forward_flops(cfg: LatteConfig, batch_size: int = 1, num_images: int = 0, caption_length: int = 120) -> int:
    D = cfg.hidden_size
    N = cfg.grid_size ** 2 + (2 if cfg.num_classes else 1) * (cfg.conditioning == "tokens")   # tokens per frame
    n_video = cfg.token_frames
    frames = n_video + num_images                          # token frames incl. images
    tokens = frames * N
    mlp_hidden = int(D * cfg.mlp_ratio)
    flops = 2 * frames * cfg.grid_size ** 2 * D * cfg.in_channels * cfg.patch_size ** 2 * cfg.tubelet_stride
    flops += 2 * (256 * D + D * D)                         # timestep MLP (per sample)
    cond_rows = frames if num_images and cfg.num_classes else 1   # adaLN runs once per distinct condition

    def attention(seq_len: int, n_seq: int, width: int) -> int:
        # scores q·k and weights·v: 2 matmuls of seq_len² × width per sequence
        return 2 * 2 * n_seq * seq_len * seq_len * width

    def linear_per_token(n_tokens: int) -> int:
        return 2 * n_tokens * (3 * D * D + D * D + 2 * D * mlp_hidden)   # qkv, proj, fc1, fc2

    spatial = attention(N, frames, D)
    temporal = attention(n_video, N, D)
    video_tokens = n_video * N
    adaln_block = 2 * cond_rows * D * 6 * D * (cfg.conditioning == "s-adaln")
    adaln_temporal = adaln_block // cond_rows * (n_video if cond_rows > 1 else 1)   # video frames only
    depth = cfg.depth
    if cfg.variant in (1, 2):
        per_pair = linear_per_token(tokens) + spatial + linear_per_token(video_tokens) + temporal
        flops += depth // 2 * (per_pair + adaln_block + adaln_temporal)
    elif cfg.variant == 3:
        linear = 2 * tokens * (4 * D * D + 2 * D * mlp_hidden) + 2 * video_tokens * 4 * D * D
        flops += depth * (linear + spatial + temporal + adaln_block * 3 // 2)
    else:   # variant 4: half the heads each way
        flops += depth * (linear_per_token(tokens) + attention(N, frames, D // 2)
                          + attention(n_video, N, D // 2) + adaln_block)
    if cfg.conditioning == "text":   # variants 1, 2: cross-attention in every spatial block, all frames
        L = caption_length
        cross = 2 * tokens * 2 * D * D + 2 * L * 2 * D * D + attention(1, tokens, D) * L
        flops += depth // 2 * cross + 2 * L * (cfg.text_dim * D + D * D) + 2 * D * 6 * D
    out = cfg.tubelet_stride * cfg.patch_size ** 2 * cfg.out_channels
    flops += 2 * frames * cfg.grid_size ** 2 * D * out + 2 * cond_rows * D * 2 * D * (cfg.conditioning == "s-adaln")
    return batch_size * flops


def train_step_flops(cfg: LatteConfig, batch_size: int, num_images: int = 0) -> int:
    """Forward + backward ≈ 3 × forward."""
    return 3 * forward_flops(cfg, batch_size, num_images)
