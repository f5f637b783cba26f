"""The Fréchet distance between two Gaussians fitted to feature sets (FID, FVD, FD-probe).

    FD = ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2·tr((Σ₁Σ₂)^½)

Only the *trace* of the matrix square root is needed, and Σ₁Σ₂ is not symmetric, so a general
``sqrtm`` (what most FID code calls) can return complex noise or fail when Σ is singular — as it
is whenever there are fewer samples than feature dimensions. The stable route: Σ₁Σ₂ is similar to
the symmetric positive semi-definite matrix A = Σ₁^½ Σ₂ Σ₁^½, so tr((Σ₁Σ₂)^½) = Σᵢ √λᵢ(A).
Two symmetric eigendecompositions in float64, negative round-off eigenvalues clipped to zero.
"""
from __future__ import annotations

import numpy as np
import torch


def as_features(x, name: str = "features") -> np.ndarray:
    """A (N, D) float64 array from a tensor or array; a clear error for anything else."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D); got {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples to estimate a covariance; got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_feature_sizes(real: np.ndarray, fake: np.ndarray) -> None:
    """ValueError unless the two feature sets (N₁, D) and (N₂, D) have one D."""
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real D={real.shape[1]}, fake D={fake.shape[1]}")


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    x = as_features(features)
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (D, D)."""
    eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((Σ₁Σ₂)^½) for two covariance matrices (D, D), computed through symmetric matrices only."""
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1                                          # Σ₁^½ Σ₂ Σ₁^½, (D, D)
    eigvals = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(eigvals, 0.0, None)).sum())


def textbook_sqrtm(matrix: np.ndarray, rtol: float = 1e-3) -> np.ndarray:
    """The real square root of Σ₁Σ₂ (D, D) the way FID and FVD code takes it: ``scipy.linalg.sqrtm``,
    its imaginary part dropped when it is round-off.

    sqrtm of the non-symmetric, often singular Σ₁Σ₂ returns complex numbers although the exact root is
    real; their imaginary parts are round-off (1e-8 to 1e-6 for notebook 09's covariances, depending on
    the CPU), and scipy may warn that the matrix is singular or ill-conditioned. Here the warning is
    replaced by a check: imaginary parts up to ``rtol`` times the largest real entry are dropped; larger
    ones, or a root that is not finite, are no round-off and raise ValueError. minilatte's own FD does not
    use this (``trace_sqrt_product`` needs no complex numbers); it is the reference it is compared with.
    """
    import warnings

    import scipy.linalg

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(np.asarray(matrix, np.float64))
    said = "; scipy: " + "; ".join(str(w.message) for w in caught) if caught else ""
    if not np.isfinite(root).all():
        raise ValueError(f"sqrtm returned non-finite values{said}")
    imag, real = float(np.abs(root.imag).max(initial=0.0)), float(np.abs(root.real).max(initial=0.0))
    if imag > rtol * real:
        raise ValueError(f"sqrtm's imaginary part {imag:.3g} is more than {rtol:g} x its largest real entry "
                         f"{real:.3g}: not round-off (the matrix has no real square root, or sqrtm failed){said}")
    return root.real


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """FD between N(mu1 (D,), sigma1 (D, D)) and N(mu2, sigma2)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"shapes do not fit: mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, "
                         f"sigma2 {sigma2.shape}; expected (D,) and (D, D) with one D")
    mean_term = float(((mu1 - mu2) ** 2).sum())
    cov_term = float(np.trace(sigma1) + np.trace(sigma2)) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return mean_term + max(cov_term, 0.0)       # ≥ 0 in exact arithmetic; round-off can dip below


def frechet_distance(real, fake) -> float:
    """FD between Gaussians fitted to two feature sets (N₁, D) and (N₂, D) (tensors or arrays)."""
    real, fake = as_features(real, "real features"), as_features(fake, "fake features")
    check_feature_sizes(real, fake)
    return frechet_distance_from_stats(*gaussian_stats(real), *gaussian_stats(fake))
