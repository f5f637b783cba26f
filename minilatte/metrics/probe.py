"""A small video classifier ("probe") for the synthetic datasets, and its features for FD / KID.

FVD's I3D was trained on human actions at 224×224; on 16×16 bouncing shapes its features mostly
measure blur from upsampling. The probe is trained on the data we actually generate, so its
features separate what matters there: *what* moves (content) and *how* it moves (motion).

Two encoders, trained together, kept apart on purpose:

* ``frame_encoder`` (2D, one frame at a time) → per-frame features (B, F, 64). Trained to name the
  content from single frames. An FD on them is blind to motion: shuffling the frames of a clip
  leaves it unchanged.
* ``clip_encoder`` (3D convolutions over the whole clip) → clip features (B, 128), trained to name
  content *and* motion (the start direction). An FD on them sees temporal order.

One probe covers all three synthetic datasets (``shapes``, ``moving-digits``, ``clouds``) with
14 content classes — shapes 0–2, digits 3–12, sky 13 (see :data:`CLASS_OFFSETS`) — and 8 motions.

**Input**: clips (B, F, 3, H, W) in [-1, 1] with F ≥ 8 and H = W a multiple of 16. The probe sees
8 frames at 16×16 (the ``cpu`` tier): longer clips give their first 8 frames, larger frames are
average-pooled down to 16×16 (the synthetic clips scale sizes and speeds with the frame size, so a
64×64 clip pooled to 16×16 looks like a 16×16 one). Anything else is a ValueError.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

NUM_FRAMES = 8
IMAGE_SIZE = 16
DATASETS = ("shapes", "moving-digits", "clouds")
CLASS_OFFSETS = {"shapes": 0, "moving-digits": 3, "clouds": 13}      # dataset label + offset = probe class
NUM_CLASSES = 14
NUM_MOTIONS = 8
FRAME_DIM = 64
CLIP_DIM = 128


def prepare_clips(videos: torch.Tensor) -> torch.Tensor:
    """Clips (B, F, 3, H, W) in [-1, 1] → the probe's input (B, 8, 3, 16, 16) (see the module doc)."""
    if not isinstance(videos, torch.Tensor) or not videos.is_floating_point():
        kind = videos.dtype if isinstance(videos, torch.Tensor) else type(videos).__name__
        raise TypeError(f"probe input must be a float tensor (B, F, 3, H, W) in [-1, 1]; got {kind}")
    if videos.ndim != 5 or videos.shape[2] != 3:
        raise ValueError(f"probe input must be (B, F, 3, H, W); got {tuple(videos.shape)}")
    b, f, _, h, w = videos.shape
    if f < NUM_FRAMES or h != w or h % IMAGE_SIZE:
        raise ValueError(f"the probe accepts clips of >= {NUM_FRAMES} frames with square frames whose side is a "
                         f"multiple of {IMAGE_SIZE} (16, 32, 64, ...); got {f} frames of {h}x{w}")
    videos = videos[:, :NUM_FRAMES].float()
    if h != IMAGE_SIZE:
        frames = F.avg_pool2d(rearrange(videos, "b f c h w -> (b f) c h w"), h // IMAGE_SIZE)
        videos = rearrange(frames, "(b f) c h w -> b f c h w", b=b)            # (B, 8, 3, 16, 16)
    return videos


def _conv2d(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def _conv3d(c_in: int, c_out: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU())


class Probe(nn.Module):
    """Frame encoder + clip encoder with content and motion heads (see the module docstring)."""

    def __init__(self):
        super().__init__()
        self.frame_encoder = nn.Sequential(                           # one frame (3, 16, 16)
            _conv2d(3, 32), _conv2d(32, 64, 2), _conv2d(64, FRAME_DIM, 2),  # → (64, 4, 4)
            nn.AdaptiveAvgPool2d(1), nn.Flatten())                    # → (64,)
        self.clip_encoder = nn.Sequential(                            # clip (3, 8, 16, 16) as (C, F, H, W)
            _conv3d(3, 24, (1, 1, 1)), _conv3d(24, 48, (1, 2, 2)),    # → (24, 8, 16, 16) → (48, 8, 8, 8)
            _conv3d(48, 64, (2, 2, 2)), _conv3d(64, CLIP_DIM, (2, 2, 2)),  # → (64, 4, 4, 4) → (128, 2, 2, 2)
            nn.AdaptiveAvgPool3d(1), nn.Flatten())                    # → (128,)
        self.frame_content = nn.Linear(FRAME_DIM, NUM_CLASSES)
        self.clip_content = nn.Linear(CLIP_DIM, NUM_CLASSES)
        self.clip_motion = nn.Linear(CLIP_DIM, NUM_MOTIONS)

    def frame_features(self, videos: torch.Tensor) -> torch.Tensor:
        """Clips (B, F, 3, H, W) → per-frame features (B, 8, 64)."""
        x = prepare_clips(videos)
        feats = self.frame_encoder(rearrange(x, "b f c h w -> (b f) c h w"))      # (B·8, 64)
        return rearrange(feats, "(b f) d -> b f d", b=x.shape[0])

    def clip_features(self, videos: torch.Tensor) -> torch.Tensor:
        """Clips (B, F, 3, H, W) → clip features (B, 128)."""
        return self.clip_encoder(rearrange(prepare_clips(videos), "b f c h w -> b c f h w"))

    def forward(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits: "content" (B, 14) and "motion" (B, 8) from the clip, "frame_content" (B, 8, 14) per frame."""
        clip = self.clip_features(videos)
        return {"content": self.clip_content(clip), "motion": self.clip_motion(clip),
                "frame_content": self.frame_content(self.frame_features(videos))}
