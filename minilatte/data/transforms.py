"""The official Latte clip pipeline, one small function per step.

1. ``temporal_crop_indices`` — a random window of num_frames × frame_interval frames, then
   num_frames evenly spaced frame indices inside it;
2. ``resize_center_crop`` — short side to ``image_size``, then the central square;
3. ``random_flip`` — a horizontal flip half of the time (training only);
4. ``to_unit_range`` — uint8 0..255 to float [-1, 1].

All randomness comes from a ``numpy.random.Generator`` the caller seeds, so a clip is reproducible.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def temporal_crop_indices(total: int, num_frames: int, frame_interval: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices (num_frames,) for one clip of a video with ``total`` frames.

    Latte's sampler: pick a random window of ``num_frames × frame_interval`` frames (the whole video
    if it is shorter), then ``num_frames`` indices spread evenly from its first to its last frame.
    The first and last index are exactly one window apart, so the average step is
    (window − 1) / (num_frames − 1) ≈ frame_interval; a frame_interval of 3 at 16 frames gives steps
    of 3, 3, 3, 4, ... (47 / 15). The official code draws the start from [0, total − window − 1];
    here the last window is allowed too: [0, total − window].
    """
    window = num_frames * frame_interval
    begin = int(rng.integers(0, max(0, total - window) + 1))
    end = min(begin + window, total)
    return np.linspace(begin, end - 1, num_frames).astype(np.int64)


def resize_center_crop(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(F, C, H, W) → (F, C, size, size): short side resized to ``size``, then the central square.

    Works on uint8 or float. Downscaling uses an antialiased filter (plain bilinear would alias on
    1080p → 256). uint8 frames laid out channels-last — what the decoder gives — resize fastest.
    """
    H, W = frames.shape[-2:]
    if min(H, W) != size:
        scale = size / min(H, W)
        new_size = (max(size, round(H * scale)), max(size, round(W * scale)))
        frames = F.interpolate(frames, size=new_size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (frames.shape[-2] - size) // 2, (frames.shape[-1] - size) // 2
    return frames[..., top:top + size, left:left + size]


def random_flip(frames: torch.Tensor, rng: np.random.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror every frame of the clip left-right with probability ``p`` (the same flip for all frames)."""
    return frames.flip(-1) if rng.random() < p else frames


def to_unit_range(frames: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 → float32 [-1, 1], the range the diffusion model works in."""
    return frames.float() / 127.5 - 1.0
