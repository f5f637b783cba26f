"""Real videos from a folder, through the official Latte clip pipeline.

Per item: a random window of ``num_frames × frame_interval`` frames and ``num_frames`` evenly spaced
frames in it, short side resized to ``image_size`` and centre-cropped, a random horizontal flip
(``train=True``), values scaled to [-1, 1] (see ``transforms.py``). The randomness depends on
(seed, index, epoch) only, never on access order.

Clips are video files (mp4/avi/webm/mkv/mov/gif, decoded with PyAV) or folders of frame images.
Files that cannot be used — unreadable, corrupt, shorter than ``num_frames`` — are found when the
dataset is built (a cheap probe of each file), skipped with one warning each and listed in
``skipped`` as (path, reason). A file that passes the probe but fails to decode later is recorded
too and replaced by the next usable clip, so an epoch never stops on a bad file. (With DataLoader
workers, such late failures are recorded in the worker's copy of the dataset.)

Layouts (``layout=``), after the datasets of the Latte paper:

* ``None`` — every video file and frame folder under ``root``; label 0;
* ``"ffs"`` — FaceForensics: video files; label 0;
* ``"sky"`` — SkyTimelapse: nested folders of frame images, each folder of frames one clip; label 0;
  no flip (as in the official code);
* ``"ucf101"`` — one sub-folder per class holding videos (or frame folders); labels index the
  class folder names sorted alphabetically (``class_names``), as torchvision's and Latte's loaders do;
* ``"taichi"`` — Taichi-HD: frame folders or video files; label 0.
"""
from __future__ import annotations

import numbers
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset

from .transforms import random_flip, resize_center_crop, temporal_crop_indices, to_unit_range
from .video_io import VIDEO_EXTENSIONS, count_frames, is_image_file, is_video_file, read_frames

LAYOUTS = (None, "ffs", "sky", "ucf101", "taichi")
_EXPECTED = {None: "video files or folders of frame images", "ffs": "video files",
             "sky": "folders of frame images", "ucf101": "class sub-folders of videos or frame folders",
             "taichi": "video files or folders of frame images"}


class VideoFolder(Dataset):
    """Clips from the videos (or frame folders) under ``root``.

    Item = {"video": (F, 3, S, S) float32 in [-1, 1], "label": class index (ucf101) or 0,
    "path": the clip's file or folder}. ``flip=None`` flips at random when training, except for the
    "sky" layout; pass True/False to choose.
    """

    def __init__(self, root: str | Path, num_frames: int = 16, frame_interval: int = 3, image_size: int = 256,
                 layout: str | None = None, train: bool = True, seed: int = 0, flip: bool | None = None):
        if layout not in LAYOUTS:
            raise ValueError(f"layout={layout!r} is not one of {', '.join(map(repr, LAYOUTS))}")
        for arg, value in (("num_frames", num_frames), ("frame_interval", frame_interval), ("image_size", image_size)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{arg}={value!r} must be a positive integer")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        if not isinstance(train, bool):
            raise ValueError(f"train={train!r} must be True or False")
        if flip is not None and not isinstance(flip, bool):
            raise ValueError(f"flip={flip!r} must be True, False or None (None: flip when training, except 'sky')")
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a folder path (str or Path), got {type(root).__name__}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"root={str(root)!r} is not a folder")
        self.num_frames, self.frame_interval, self.image_size = int(num_frames), int(frame_interval), int(image_size)
        self.layout, self.train, self.seed, self.epoch = layout, train, int(seed), 0
        self.flip = bool(train) and (flip if flip is not None else layout != "sky")
        self.skipped: list[tuple[str, str]] = []
        self._failed: set[int] = set()        # clips that passed the probe but failed to decode

        if layout == "ucf101":
            self.class_names = sorted(entry.name for entry in os.scandir(self.root)
                                      if entry.is_dir() and not entry.name.startswith("."))
            if not self.class_names:
                raise ValueError(f"root={str(root)!r} has no class sub-folders; layout='ucf101' expects one per class")
        else:
            self.class_names = ["video"]

        self.clips: list[tuple[Path, int, int]] = []                # (path, frame count, label)
        for path in self._find_clips():
            label = 0
            if layout == "ucf101":
                parts = path.relative_to(self.root).parts
                if len(parts) < 2:
                    self._skip(path, "not inside a class folder (layout='ucf101')")
                    continue
                label = self.class_names.index(parts[0])
            try:
                total = count_frames(path)
            except Exception as err:   # whatever FFmpeg or PIL raise, the file is unusable
                self._skip(path, f"unreadable ({type(err).__name__}: {err})")
                continue
            if total < self.num_frames:
                self._skip(path, f"too short: {total} frames, need {self.num_frames}")
                continue
            self.clips.append((path, total, label))
        if not self.clips:
            raise ValueError(f"no usable clips under root={str(root)!r} ({len(self.skipped)} skipped); {self._expects()}")

    def _find_clips(self) -> list[Path]:
        """Video files and frame folders under root (one walk, sorted, hidden entries ignored)."""
        videos, frame_dirs = [], []
        for folder, dirnames, filenames in os.walk(self.root, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            videos += [Path(folder) / name for name in filenames if is_video_file(Path(name))]
            if any(is_image_file(name) for name in filenames):
                frame_dirs.append(Path(folder))
        if self.layout == "ffs":
            return sorted(videos)
        if self.layout == "sky":
            return sorted(frame_dirs)
        return sorted(videos + frame_dirs)

    def _expects(self) -> str:
        return f"layout={self.layout!r} expects {_EXPECTED[self.layout]} ({', '.join(VIDEO_EXTENSIONS)})"

    def _skip(self, path: Path, reason: str) -> None:
        self.skipped.append((str(path), reason))
        warnings.warn(f"skipping {path}: {reason}", stacklevel=3)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def set_epoch(self, epoch: int) -> None:
        """New random crops and flips for a new epoch (the DataLoader's sampler does not do this)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def __repr__(self) -> str:
        return (f"VideoFolder({str(self.root)!r}, {len(self.clips)} clips, {len(self.skipped)} skipped, "
                f"{self.num_frames} frames every ~{self.frame_interval} at {self.image_size}², layout={self.layout!r})")

    def frame_indices(self, total: int, rng: np.random.Generator) -> np.ndarray:
        """Indices (num_frames,) of the frames one item uses from a video of ``total`` frames."""
        return temporal_crop_indices(total, self.num_frames, self.frame_interval, rng)

    def _transform(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """uint8 (F, H, W, 3) → float (F, 3, S, S) in [-1, 1]: resize + centre crop, flip, rescale."""
        video = rearrange(frames, "f h w c -> f c h w")     # a channels-last view: resizes fastest
        video = resize_center_crop(video, self.image_size)
        if self.flip:
            video = random_flip(video, rng)
        return to_unit_range(video).contiguous()

    def _first_usable(self, index: int, load):
        """``load(clip, rng)`` on clip ``index``, or on the next clip that decodes if it fails."""
        if not 0 <= index < len(self.clips):
            raise IndexError(f"index {index} out of range for {len(self.clips)} clips")
        for attempt in range(len(self.clips)):
            clip = (index + attempt) % len(self.clips)
            if clip in self._failed:
                continue
            # Seeded by the item asked for, not the clip used: the same item every time.
            rng = np.random.default_rng([self.seed, index, self.epoch])
            try:
                return load(clip, rng)
            except Exception as err:   # a file that probed fine but does not decode: never again
                self._failed.add(clip)
                self._skip(self.clips[clip][0], f"failed while reading ({type(err).__name__}: {err})")
        raise RuntimeError(f"none of the {len(self.clips)} clips under {self.root} could be read")

    def __getitem__(self, index: int) -> dict:
        def load(clip, rng):
            path, total, label = self.clips[clip]
            video = self._transform(read_frames(path, self.frame_indices(total, rng)), rng)
            return {"video": video, "label": label, "path": str(path)}
        return self._first_usable(index, load)

    def random_image(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        """One random frame (3, S, S) of clip ``index`` (same resize, crop and flip) and its label.

        Used by JointImageVideo: decodes a single frame instead of a whole clip.
        """
        choice = int(rng.integers(2 ** 31))

        def load(clip, _):
            path, total, label = self.clips[clip]
            pick = np.random.default_rng([self.seed, choice])
            frame = read_frames(path, [int(pick.integers(total))])
            return self._transform(frame, pick)[0], label
        return self._first_usable(index, load)
