"""Pictures: video grids as GIFs and PNGs, loss curves."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from .files import write_atomic

# PIL and matplotlib are imported inside the functions that draw: train.py and the CLI import this
# module, and ``python -m minilatte --help`` should not pay for them (matplotlib alone takes ~1 s).


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """[-1, 1] float video(s) -> uint8 in 0..255, same shape, channels last: (..., F, H, W, C)."""
    video = ((video.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rearrange(video, "... f c h w -> ... f h w c").numpy()


def video_grid(videos: torch.Tensor, ncols: int | None = None, pad: int = 1, scale: int = 1) -> np.ndarray:
    """(B, F, C, H, W) in [-1, 1] -> (F, rows*(H+pad), cols*(W+pad), 3) uint8, videos side by side."""
    if videos.dim() == 4:
        videos = videos[None]
    B = videos.shape[0]
    ncols = ncols or math.ceil(math.sqrt(B))
    nrows = math.ceil(B / ncols)
    frames = to_uint8(videos)                                    # (B, F, H, W, C)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    frames = frames[..., :3]
    if scale > 1:
        frames = frames.repeat(scale, axis=2).repeat(scale, axis=3)
    blank = np.full((nrows * ncols - B, *frames.shape[1:]), 255, np.uint8)
    frames = np.pad(np.concatenate([frames, blank]), ((0, 0), (0, 0), (0, pad), (0, pad), (0, 0)), constant_values=255)
    return rearrange(frames, "(r c) f h w ch -> f (r h) (c w) ch", r=nrows, c=ncols)


def save_gif(videos: torch.Tensor, path: str | Path, fps: int = 8, ncols: int | None = None, scale: int = 4) -> Path:
    """Write one video (F, C, H, W) or a grid of videos (B, F, C, H, W) in [-1, 1] as a looping GIF (atomically)."""
    from PIL import Image

    grid = video_grid(videos, ncols, scale=scale)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in grid]
    return write_atomic(path, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                          duration=int(1000 / fps), loop=0))


def is_gif(path: str | Path) -> bool:
    """Does ``path`` start like a GIF file?"""
    with open(path, "rb") as f:
        return f.read(4) == b"GIF8"


def save_frames_png(videos: torch.Tensor, path: str | Path, scale: int = 4) -> Path:
    """All frames of a grid of videos in one PNG: one row of frames per video."""
    from PIL import Image

    frames = to_uint8(videos if videos.dim() == 5 else videos[None])[..., :3]   # (B, F, H, W, 3)
    frames = np.pad(frames, ((0, 0), (0, 0), (0, 1), (0, 1), (0, 0)), constant_values=255)
    sheet = rearrange(frames, "b f h w c -> (b h) (f w) c")
    sheet = sheet.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)
    return path


def plot_loss_curve(csv_path: str | Path, png_path: str | Path, smooth: int = 20) -> Path:
    """Loss against step from a training log CSV (raw and a running mean) -> PNG."""
    # A bare Figure, not pyplot: no backend switch (matplotlib.use("Agg") would turn off inline plots
    # in a notebook that trains) and no global figure state to close.
    from matplotlib.figure import Figure

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    steps = np.array([int(r["step"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.subplots()
    ax.plot(steps, loss, alpha=0.35, label="loss (per log interval)")
    smooth = min(smooth, len(loss) // 5)
    if smooth >= 2:
        kernel = np.ones(smooth) / smooth
        ax.plot(steps[smooth - 1:], np.convolve(loss, kernel, mode="valid"), label=f"running mean of {smooth}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (MSE + VB)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path)
    return Path(png_path)
