"""Controlled damage to real clips, to see what a metric notices (the sanity checks of the tests
and notebooks). Every function takes clips (B, F, C, H, W) in [-1, 1] and returns the same shape."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange


def add_noise(videos: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """Gaussian pixel noise of standard deviation ``std`` (in [-1, 1] units), clamped back into range."""
    noise = torch.randn(videos.shape, generator=torch.Generator().manual_seed(seed))
    return (videos + std * noise.to(videos)).clamp(-1, 1)


def blur(videos: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of every frame, ``sigma`` in pixels (separable kernel, edges replicated)."""
    radius = max(1, int(3 * sigma + 0.5))
    taps = torch.arange(-radius, radius + 1, dtype=videos.dtype)
    kernel = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    b, c = videos.shape[0], videos.shape[2]
    x = rearrange(videos, "b f c h w -> (b f) c h w")
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return rearrange(x, "(b f) c h w -> b f c h w", b=b)


def shuffle_frames(videos: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Each clip's frames in a random order: every single frame is still real, the motion is not."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(videos.shape[1], generator=gen) for _ in range(videos.shape[0])])
    return videos[torch.arange(videos.shape[0])[:, None], order]


def reverse_time(videos: torch.Tensor) -> torch.Tensor:
    """Each clip played backwards."""
    return videos.flip(1)


def freeze(videos: torch.Tensor) -> torch.Tensor:
    """Each clip's first frame held for the whole clip: real frames, no motion at all."""
    return videos[:, :1].expand_as(videos).contiguous()
