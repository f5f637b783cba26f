"""Video patch embedding: turn a latent video into a grid of tokens, and back.

Two ways to cut a video into tokens (Latte §3.2.1):

* **uniform** — every frame is patchified like a ViT image: ``n_f = F`` token frames of
  ``n_h * n_w`` patches each.
* **compression** — ViViT "tubelets" that also span ``s`` frames (``tubelet_stride``), so
  ``n_f = F / s``: fewer tokens, but each token mixes ``s`` frames before any attention.

Both embedders return the token *grid* ``(B, n_f, N, D)`` with ``N = n_h * n_w``; keeping the frame
axis separate is what lets the blocks switch between spatial and temporal attention with one
einops pattern. ``patchify``/``unpatchify`` are the exact, parameter-free inverse pair that the
final layer relies on.

Axes: B batch, F frames, C channels, H/W height/width, N tokens per frame, D width.
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


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
