"""Fréchet Video Distance with the canonical Kinetics-400 I3D, StyleGAN-V's ``fvd2048_16f`` protocol.

The protocol Latte reports (StyleGAN-V, 2022):

* clips of **16 frames** (longer clips: their first 16; the I3D needs at least 9);
* every frame resized **bilinearly to 224×224** (``align_corners=False``, no antialiasing);
* values scaled from 0..255 to **[-1, 1]**;
* features: the **400 logits averaged over time** (before the softmax);
* **2,048 real and 2,048 generated clips** (the count is the caller's: pass that many);
* FD between Gaussians fitted to the two feature sets.

Inputs are uint8 videos (N, F, H, W, 3) in 0..255, as arrays or tensors; :func:`to_uint8_videos`
turns minilatte samples (B, F, C, H, W) in [-1, 1] into that form.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ..progress import progress_bar
from .frechet import frechet_distance
from .i3d_weights import load_i3d

NUM_FRAMES = 16
RESOLUTION = 224
MIN_FRAMES = 9        # the logits head pools 2 time steps after three 2× temporal reductions


def to_uint8_videos(videos: torch.Tensor) -> torch.Tensor:
    """minilatte videos (B, F, C, H, W) in [-1, 1] → uint8 (B, F, H, W, C) in 0..255."""
    if videos.ndim != 5 or videos.shape[2] not in (1, 3):
        raise ValueError(f"videos must be (B, F, C, H, W) with C = 1 or 3; got {tuple(videos.shape)}")
    if videos.shape[2] == 1:
        videos = videos.expand(-1, -1, 3, -1, -1)
    pixels = ((videos.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return rearrange(pixels, "b f c h w -> b f h w c").contiguous()


def _check_uint8(videos, name: str) -> torch.Tensor:
    videos = torch.as_tensor(np.asarray(videos)) if not isinstance(videos, torch.Tensor) else videos
    if videos.dtype != torch.uint8:
        raise ValueError(f"{name} must be uint8 in 0..255 (N, F, H, W, 3); got dtype {videos.dtype} "
                         "(use minilatte.metrics.to_uint8_videos for [-1, 1] videos)")
    if videos.ndim != 5 or videos.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, F, H, W, 3); got {tuple(videos.shape)}")
    return videos


def check_matching_clips(real, fake, layout: str = "NFHWC") -> None:
    """ValueError unless real and fake are two sets of >= 2 clips of one length and frame size.

    ``layout``: ``"NFHWC"`` for uint8 videos (N, F, H, W, 3), ``"NFCHW"`` for minilatte videos
    (B, F, C, H, W). A metric between sets of different clip lengths or sizes would compare the
    preprocessing as much as the videos, so it is refused rather than computed.
    """
    if layout not in ("NFHWC", "NFCHW"):
        raise ValueError(f"layout={layout!r} is not one of 'NFHWC', 'NFCHW'")
    shapes = {}
    for name, videos in (("real", real), ("fake", fake)):
        shape = tuple(videos.shape) if hasattr(videos, "shape") else np.shape(videos)
        if len(shape) != 5:
            raise ValueError(f"{name} videos must have shape ({', '.join(layout)}); got {shape}")
        if shape[0] < 2:
            raise ValueError(f"{name} videos: need at least 2 clips to fit a distribution; got {shape[0]}")
        shapes[name] = shape[1:]
    if shapes["real"] != shapes["fake"]:
        raise ValueError(f"real and fake clips differ in shape ({', '.join(layout[1:])}): real {shapes['real']}, "
                         f"fake {shapes['fake']}; compare clips of one length and frame size")


def preprocess_for_i3d(videos: torch.Tensor, num_frames: int = NUM_FRAMES, frame_repeat: int = 1) -> torch.Tensor:
    """uint8 (N, F, H, W, 3) → I3D input (N, 3, T, 224, 224) in [-1, 1], T = min(F·frame_repeat, num_frames).

    ``frame_repeat`` = k shows every frame k times (nearest-neighbour slow motion) so that clips
    shorter than 9 frames fit the I3D; that is **not** the canonical protocol — report it.
    """
    videos = _check_uint8(videos, "videos")
    if frame_repeat < 1:
        raise ValueError(f"frame_repeat={frame_repeat} must be >= 1")
    videos = videos.repeat_interleave(frame_repeat, dim=1)[:, :num_frames]      # (N, T, H, W, 3)
    n, t = videos.shape[:2]
    if t < MIN_FRAMES:
        raise ValueError(f"the I3D needs clips of at least {MIN_FRAMES} frames, got {t}; pass "
                         f"frame_repeat={-(-MIN_FRAMES // t)} to repeat frames (not the canonical protocol)")
    frames = rearrange(videos, "n t h w c -> (n t) c h w").float()
    frames = F.interpolate(frames, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
    frames = frames / 127.5 - 1.0                                               # 0..255 → [-1, 1]
    return rearrange(frames, "(n t) c h w -> n c t h w", n=n)                   # (N, 3, T, 224, 224)


@torch.no_grad()
def i3d_features(videos, model: torch.nn.Module | None = None, batch_size: int = 8, num_frames: int = NUM_FRAMES,
                 frame_repeat: int = 1, device: str | torch.device | None = None, progress: bool = False) -> np.ndarray:
    """I3D logits (N, 400), float64, of uint8 videos (N, F, H, W, 3); batches are preprocessed one at a time."""
    videos = _check_uint8(videos, "videos")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    if not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < MIN_FRAMES:
        raise ValueError(f"num_frames={num_frames!r} must be an integer >= {MIN_FRAMES} (the I3D's minimum)")
    if not isinstance(frame_repeat, int) or isinstance(frame_repeat, bool) or frame_repeat < 1:
        raise ValueError(f"frame_repeat={frame_repeat!r} must be an integer >= 1")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = (load_i3d() if model is None else model).to(device).eval()
    starts = range(0, len(videos), batch_size)
    if progress:
        starts = progress_bar(starts, desc="I3D features", unit="batch")
    out = [model(preprocess_for_i3d(videos[s:s + batch_size], num_frames, frame_repeat).to(device)).double().cpu()
           for s in starts]
    return torch.cat(out).numpy()


def compute_fvd(real, fake, model: torch.nn.Module | None = None, batch_size: int = 8,
                num_frames: int = NUM_FRAMES, frame_repeat: int = 1, device=None, progress: bool = False) -> float:
    """FVD between uint8 videos real (N₁, F, H, W, 3) and fake (N₂, F, H, W, 3), 0..255.

    The canonical number uses N₁ = N₂ = 2048 clips of 16 frames; FD is biased upward for smaller N,
    so compare FVDs only at equal N. Real and fake clips must have one length and frame size.
    """
    real, fake = _check_uint8(real, "real"), _check_uint8(fake, "fake")
    check_matching_clips(real, fake)
    model = load_i3d() if model is None else model
    kwargs = dict(model=model, batch_size=batch_size, num_frames=num_frames, frame_repeat=frame_repeat,
                  device=device, progress=progress)
    return frechet_distance(i3d_features(real, **kwargs), i3d_features(fake, **kwargs))
