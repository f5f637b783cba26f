"""Real videos from a folder: the official Latte data pipeline over mp4/avi/webm/mkv/mov/gif files
(decoded with PyAV) or folders of frame images.

Per clip: a random window of ``num_frames × frame_interval`` frames, ``num_frames`` evenly spaced
indices in it, short side resized to ``image_size`` and centre-cropped, a random horizontal flip
(``train=True``), values scaled to [-1, 1]. Randomness depends on (seed, index, epoch) only.

Files that cannot be used — unreadable, corrupt, or shorter than ``num_frames`` — are found when the
dataset is built, skipped with one warning each and listed in ``skipped``; an epoch never stops on
a bad file (one that fails later is recorded too and replaced by the next usable clip).

Layouts: ``ffs`` (FaceForensics: video files), ``sky`` (SkyTimelapse: a folder of frames per clip),
``ucf101`` (one sub-folder per class: labels are the sorted class names), ``taichi`` (Taichi-HD: frame
folders or videos), or ``None`` (any videos and frame folders; label 0).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

VIDEO_EXTENSIONS = {".mp4", ".avi", ".webm", ".mkv", ".mov", ".gif"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
LAYOUTS = (None, "ffs", "sky", "ucf101", "taichi")


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def count_frames(path: Path) -> int:
    """Frames in a video file or frame folder (raises on unreadable input)."""
    if path.is_dir():
        return len(_frame_files(path))
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)   # no count in the header


def read_frames(path: Path, indices: np.ndarray) -> torch.Tensor:
    """The frames at sorted ``indices`` as uint8 (len(indices), H, W, 3)."""
    wanted = indices.tolist()
    if path.is_dir():
        from PIL import Image
        files = _frame_files(path)
        return torch.stack([torch.from_numpy(np.array(Image.open(files[i]).convert("RGB"))) for i in wanted])
    import av
    frames, last = {}, max(wanted)
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted and i not in frames:
                frames[i] = torch.from_numpy(frame.to_ndarray(format="rgb24"))
            if i >= last:
                break
    missing = [i for i in wanted if i not in frames]
    if missing:
        raise ValueError(f"only {len(frames)} of the requested frames could be decoded")
    return torch.stack([frames[i] for i in wanted])


def resize_center_crop(video: torch.Tensor, size: int) -> torch.Tensor:
    """(F, C, H, W) float: short side to ``size`` (bilinear), then the central size × size square."""
    H, W = video.shape[-2:]
    scale = size / min(H, W)
    video = F.interpolate(video, size=(max(size, round(H * scale)), max(size, round(W * scale))),
                          mode="bilinear", align_corners=False)
    top, left = (video.shape[-2] - size) // 2, (video.shape[-1] - size) // 2
    return video[..., top:top + size, left:left + size]


class VideoFolder(Dataset):
    """Clips from the videos (or frame folders) under ``root``; item = {"video": (F, 3, S, S) in [-1, 1], "label", "path"}."""

    def __init__(self, root: str | Path, num_frames: int = 16, frame_interval: int = 3, image_size: int = 256,
                 layout: str | None = None, train: bool = True, seed: int = 0):
        if layout not in LAYOUTS:
            raise ValueError(f"layout={layout!r} is not one of {', '.join(map(repr, LAYOUTS))}")
        for arg, value in (("num_frames", num_frames), ("frame_interval", frame_interval), ("image_size", image_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}={value!r} must be a positive integer")
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"root={str(root)!r} is not a folder")
        self.num_frames, self.frame_interval, self.image_size = num_frames, frame_interval, image_size
        self.layout, self.train, self.seed, self.epoch = layout, train, seed, 0
        candidates = self._find_clips()
        self.class_names = (sorted({p.relative_to(self.root).parts[0] for p in candidates})
                            if layout == "ucf101" else ["video"])
        self.skipped: list[tuple[str, str]] = []
        self.clips: list[tuple[Path, int, int]] = []        # (path, frame count, label)
        for path in candidates:
            try:
                total = count_frames(path)
            except Exception as err:   # any decoder failure: the file is unusable
                self._skip(path, f"unreadable ({type(err).__name__}: {err})")
                continue
            if total < num_frames:
                self._skip(path, f"too short: {total} frames, need {num_frames}")
                continue
            label = self.class_names.index(path.relative_to(self.root).parts[0]) if layout == "ucf101" else 0
            self.clips.append((path, total, label))
        if not self.clips:
            raise ValueError(f"no usable clips under {str(root)!r} ({len(self.skipped)} skipped); "
                             f"expected videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) or folders of frames")

    def _find_clips(self) -> list[Path]:
        videos = [p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
        frame_dirs = [p for p in self.root.rglob("*") if p.is_dir() and _frame_files(p)]
        if self.root not in frame_dirs and _frame_files(self.root):
            frame_dirs.append(self.root)
        if self.layout == "ffs":
            return sorted(videos)
        if self.layout == "sky":
            return sorted(frame_dirs)
        return sorted(videos + frame_dirs)

    def _skip(self, path: Path, reason: str) -> None:
        self.skipped.append((str(path), reason))
        warnings.warn(f"skipping {path}: {reason}", stacklevel=3)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def set_epoch(self, epoch: int) -> None:
        """New random crops and flips for a new epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def frame_indices(self, total: int, rng: np.random.Generator) -> np.ndarray:
        """Temporal random crop of num_frames × frame_interval frames, then evenly spaced indices."""
        window = self.num_frames * self.frame_interval
        begin = int(rng.integers(0, max(0, total - window - 1) + 1))
        end = min(begin + window, total)
        return np.linspace(begin, end - 1, self.num_frames).astype(int)

    def __getitem__(self, index: int) -> dict:
        for attempt in range(len(self.clips)):
            path, total, label = self.clips[(index + attempt) % len(self.clips)]
            rng = np.random.default_rng([self.seed, index, self.epoch])
            try:
                frames = read_frames(path, self.frame_indices(total, rng))     # (F, H, W, 3) uint8
            except Exception as err:
                if not any(p == str(path) for p, _ in self.skipped):
                    self._skip(path, f"failed while reading ({type(err).__name__}: {err})")
                continue
            video = frames.permute(0, 3, 1, 2).float() / 255.0                  # (F, 3, H, W) in [0, 1]
            video = resize_center_crop(video, self.image_size)
            if self.train and rng.random() < 0.5:
                video = video.flip(-1)
            return {"video": video * 2 - 1, "label": label, "path": str(path)}
        raise RuntimeError(f"no clip under {self.root} could be read")
