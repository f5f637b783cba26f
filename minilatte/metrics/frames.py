"""FID and Inception Score of single frames, through torchmetrics (optional; weights are yours).

The paper also reports FID and IS on frames. Both need the TF Inception-v3 of the FID paper, which
torchmetrics (with torch-fidelity) downloads from GitHub on first use — impossible offline — so
here the weights file is an argument: pass the ``pt_inception-2015-12-05`` file you obtained.
torchmetrics is not a minilatte dependency: ``pip install "torchmetrics[image]"`` first. These two
functions are thin wrappers; minilatte's own tests only check their error messages.
"""
from __future__ import annotations

from pathlib import Path

import torch
from einops import rearrange

from .fvd import check_matching_clips

INSTALL_HINT = 'pip install "torchmetrics[image]" (it brings torch-fidelity)'


def _torchmetrics_fid():
    try:   # an optional package: only frame FID/IS need it
        from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    except ImportError as err:
        raise ImportError(f"frame FID/IS need torchmetrics, which is not installed: {INSTALL_HINT}") from err
    return FrechetInceptionDistance, NoTrainInceptionV3


def _frames(videos: torch.Tensor, name: str) -> torch.Tensor:
    """uint8 videos (N, F, H, W, 3) → frames (N·F, 3, H, W)."""
    videos = torch.as_tensor(videos)
    if videos.dtype != torch.uint8 or videos.ndim != 5 or videos.shape[-1] != 3:
        raise ValueError(f"{name} must be uint8 videos (N, F, H, W, 3); got {videos.dtype} {tuple(videos.shape)}")
    return rearrange(videos, "n f h w c -> (n f) c h w")


def _weights(path) -> str:
    if path is None or not Path(path).is_file():
        raise FileNotFoundError(f"Inception weights file {path!r} not found; pass the FID Inception-v3 weights "
                                "(pt_inception-2015-12-05) you downloaded")
    return str(path)


@torch.no_grad()
def frame_fid(real, fake, weights_path, batch_size: int = 64) -> float:
    """FID between all frames of uint8 videos real (N₁, F, H, W, 3) and fake (N₂, F, H, W, 3)."""
    check_matching_clips(real, fake)
    fid_class, _ = _torchmetrics_fid()
    real, fake = _frames(real, "real"), _frames(fake, "fake")
    metric = fid_class(feature=2048, feature_extractor_weights_path=_weights(weights_path))
    for frames, is_real in ((real, True), (fake, False)):
        for s in range(0, len(frames), batch_size):
            metric.update(frames[s:s + batch_size], real=is_real)
    return float(metric.compute())


@torch.no_grad()
def frame_inception_score(fake, weights_path, splits: int = 10, batch_size: int = 64) -> tuple[float, float]:
    """Inception Score (mean, std over ``splits``) of all frames of uint8 videos (N, F, H, W, 3)."""
    _, inception_class = _torchmetrics_fid()
    from torchmetrics.image.inception import InceptionScore   # optional, like _torchmetrics_fid's imports

    extractor = inception_class(name="inception-v3-compat", features_list=["logits_unbiased"],
                                feature_extractor_weights_path=_weights(weights_path))
    metric = InceptionScore(feature=extractor, splits=splits)
    frames = _frames(fake, "fake")
    for s in range(0, len(frames), batch_size):
        metric.update(frames[s:s + batch_size])
    mean, std = metric.compute()
    return float(mean), float(std)
