"""The FVD protocol behind the Latte paper's table, one record per dataset, and its real clips.

Every value says where it comes from (``SOURCES``): the official code (Vchitect/Latte's ``sample/``
configs and ``tools/`` FVD scripts, which are StyleGAN-V's with Latte's changes), the paper, a
maintainer's answer in a Latte issue thread, or a guess. ``README.md`` ("Reproducing the paper's FVD")
lists them with the measured effect of changing each one.

The real set, as the official ``tools/calc_metrics_for_dataset.py`` builds it (``fvd2048_16f``):

* every video of the **training split** the model was trained on (at most 20,480, chosen at random),
  each **once**, as one clip — not 2,048 clips;
* a clip is **16 frames taken every ``real_subsample_factor`` frames** (3 by default, 6 for Taichi-HD)
  from a random start; videos shorter than ``16 × factor`` frames are left out;
* frames at **256 × 256** (short side resized, centre crop), **no flip**;
* videos are flat folders of frames (``root/clip/frame.jpg``); here any clip minilatte reads counts
  — a video file or a frame folder at any depth — so no conversion is needed.

The generated set is ``num_videos`` (2,048) videos of 16 frames, all frames in order.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from .data.transforms import resize_center_crop
from .data.video_folder import VideoFolder
from .data.video_io import read_frames

# Where a value comes from: every field of a Protocol names one of these in ``sources``.
SOURCES = {
    "code": "the official code (Vchitect/Latte: sample/ configs, tools/ FVD scripts)",
    "paper": "the Latte paper (arXiv 2401.03048), FVD table",
    "issue#103": "maintainer's answer in Vchitect/Latte issue #103 (and #141): the split the model was trained on",
    "issue#115": "maintainer's answer in Vchitect/Latte issue #115: realdata_subsample_factor 6 for Taichi-HD",
    "issue#135": "maintainer's answer in Vchitect/Latte issue #135: FVD computed on one GPU",
    "issue#80": "Vchitect/Latte issue #80: the 256-pixel SkyTimelapse release scores near the paper, the original far off",
    "issue#117": "maintainer's answer in Vchitect/Latte issue #117 (#97): one flat folder of frames per clip",
    "stylegan-v": "StyleGAN-V's fvd2048_16f (universome/stylegan-v), which the official tools copy",
    "guess": "not stated anywhere found; minilatte's choice",
}


@dataclass(frozen=True)
class Protocol:
    """How the paper's FVD for one dataset was measured."""
    dataset: str                 # the CLI name
    title: str                   # the paper's name for it
    paper_fvd: float             # Latte (videos only, no joint image training), the paper's FVD table
    layout: str                  # minilatte's VideoFolder layout of the data folder
    data_folder: str             # what --data points at, in the official releases
    num_classes: int             # 0 = unconditional
    cfg_scale: float             # classifier-free guidance at sampling (1 = none)
    sampler: str = "ddpm"
    sampling_steps: int = 250
    num_videos: int = 2048       # generated videos
    num_frames: int = 16
    resolution: int = 256
    real_subsample_factor: int = 3
    max_real_videos: int = 20480
    real_split: str = "train"
    sources: tuple[tuple[str, str], ...] = ()     # (field, SOURCES key)

    def source_of(self, field: str) -> str:
        return dict(self.sources).get(field, "guess")

    def as_dict(self) -> dict:
        out = asdict(self)
        out["sources"] = dict(self.sources)
        return out


_COMMON_SOURCES = (("sampler", "code"), ("sampling_steps", "code"), ("num_videos", "code"), ("num_frames", "code"),
                   ("resolution", "code"), ("max_real_videos", "code"), ("cfg_scale", "code"),
                   ("paper_fvd", "paper"), ("real_split", "issue#103"), ("real_subsample_factor", "code"),
                   ("data_folder", "issue#117"))

PROTOCOLS = {
    "ffs": Protocol("ffs", "FaceForensics", 34.00, layout="ffs", data_folder="preprocess_ffs/train/videos",
                    num_classes=0, cfg_scale=1.0, sources=_COMMON_SOURCES),
    "sky": Protocol("sky", "SkyTimelapse", 59.82, layout="sky", data_folder="sky_timelapse (256-pixel release)/sky_train",
                    num_classes=0, cfg_scale=1.0,
                    sources=_COMMON_SOURCES + (("data_folder", "issue#80"),)),
    "ucf101": Protocol("ucf101", "UCF101", 477.97, layout="ucf101", data_folder="UCF-101 (all 101 class folders)",
                       num_classes=101, cfg_scale=7.0, real_split="train+test",
                       sources=_COMMON_SOURCES + (("real_split", "code"),)),
    "taichi": Protocol("taichi", "Taichi-HD", 159.60, layout="taichi", data_folder="taichi-256/frames/train",
                       num_classes=0, cfg_scale=1.0, real_subsample_factor=6,
                       sources=_COMMON_SOURCES + (("real_subsample_factor", "issue#115"),)),
}
# UCF101: the official loader trains on every video under the folder (no split list) and StyleGAN-V
# computes UCF101's real statistics on train+test, so the real set is the whole folder.


def get_protocol(dataset: str) -> Protocol:
    if dataset not in PROTOCOLS:
        raise ValueError(f"--dataset {dataset!r} is not one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[dataset]


def real_frame_indices(total: int, num_frames: int, factor: int, rng: np.random.Generator) -> np.ndarray:
    """The official real clip: ``num_frames`` frames every ``factor`` frames from a random start.

    The start is uniform in [0, total − num_frames·factor + factor − 1], so the last frame read is
    at most total − 1 (StyleGAN-V's ``load_n_consecutive`` with ``subsample_factor``).
    """
    span = num_frames * factor
    if total < span:
        raise ValueError(f"a video of {total} frames is shorter than {num_frames} × {factor} frames")
    start = int(rng.integers(0, total - span + factor))
    return start + factor * np.arange(num_frames)


@dataclass
class RealSet:
    """The real videos of a protocol: the clips used (path, frame count) and the ones left out."""
    clips: list[tuple[str, int]]
    too_short: int
    skipped: list[tuple[str, str]]


def find_real_videos(root: str | os.PathLike, protocol: Protocol, num_frames: int, factor: int,
                     seed: int = 0) -> RealSet:
    """Every usable video under ``root`` in the protocol's layout, at most ``max_real_videos`` of them.

    Videos shorter than ``num_frames × factor`` are left out, as the official tool's
    ``discard_short_videos`` does. Which videos are kept when there are more than the maximum
    depends on ``seed`` only.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--data {str(root)!r} is not a folder")
    # VideoFolder finds and probes the clips of a layout (bad files skipped with a reason); its own
    # clip sampling is the training one, so only its list of clips is used here.
    try:
        folder = VideoFolder(root, num_frames=num_frames, frame_interval=1, image_size=protocol.resolution,
                             layout=protocol.layout, train=False)
    except ValueError as err:
        raise ValueError(f"--data {str(root)!r} does not hold {protocol.title} in its layout: {err}") from None
    long_enough = [(str(path), total) for path, total, _ in folder.clips if total >= num_frames * factor]
    if len(long_enough) > protocol.max_real_videos:
        keep = np.random.default_rng([seed, 17]).choice(len(long_enough), protocol.max_real_videos, replace=False)
        long_enough = [long_enough[i] for i in sorted(keep)]
    return RealSet(long_enough, len(folder.clips) - len(long_enough), folder.skipped)


def read_real_clip(path: str, total: int, index: int, num_frames: int, factor: int, resolution: int,
                   seed: int = 0) -> torch.Tensor:
    """Real clip ``index`` as uint8 (F, S, S, 3): its frames (start from (seed, index)), resized, centre-cropped."""
    rng = np.random.default_rng([seed, index])
    frames = read_frames(path, real_frame_indices(total, num_frames, factor, rng))     # (F, H, W, 3) uint8
    video = resize_center_crop(rearrange(frames, "f h w c -> f c h w"), resolution)
    return rearrange(video.round().clamp(0, 255).to(torch.uint8) if video.is_floating_point() else video,
                     "f c h w -> f h w c").contiguous()
