"""Kernel Inception Distance (Bińkowski et al., 2018): an unbiased MMD² with a cubic polynomial kernel.

    k(x, y) = (xᵀy / D + 1)³
    MMD² = mean_{i≠j} k(xᵢ, xⱼ) + mean_{i≠j} k(yᵢ, yⱼ) − 2·mean_{i,j} k(xᵢ, yⱼ)

Unlike FD, the estimate is unbiased: its expectation does not depend on the number of samples, it is
≈ 0 (and can be slightly negative) for two samples of one distribution, and it needs no covariance,
so it works with fewer samples than feature dimensions. The paper averages it over random subsets
(100 subsets of 1,000): the spread over subsets shows how much a single estimate varies.
"""
from __future__ import annotations

import numpy as np

from .frechet import as_features, check_feature_sizes


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (xᵀy / D + 1)³ for every pair: x (N, D), y (M, D) → (N, M)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD² estimate between samples x (N, D) and y (M, D), N, M ≥ 2."""
    n, m = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    # Off-diagonal means: k(xᵢ, xᵢ) would compare a sample with itself, the source of the bias in
    # the plain (V-statistic) estimate.
    within_x = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def kid_subsets(real, fake, subset_size: int = 1000, num_subsets: int = 100, seed: int = 0) -> np.ndarray:
    """MMD² on ``num_subsets`` random subsets (without replacement) of both sets: (num_subsets,).

    With fewer samples than ``subset_size`` the whole sets are used once (a single estimate).
    """
    real, fake = as_features(real, "real features"), as_features(fake, "fake features")
    check_feature_sizes(real, fake)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (subset_size, num_subsets)) \
            or subset_size < 2 or num_subsets < 1:
        raise ValueError(f"subset_size={subset_size} must be >= 2 and num_subsets={num_subsets} >= 1")
    if subset_size >= len(real) and subset_size >= len(fake):
        return np.array([mmd2_unbiased(real, fake)])
    m = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    return np.array([mmd2_unbiased(real[rng.choice(len(real), m, replace=False)],
                                   fake[rng.choice(len(fake), m, replace=False)]) for _ in range(num_subsets)])


def kid(real, fake, subset_size: int = 1000, num_subsets: int = 100, seed: int = 0) -> float:
    """KID between features real (N₁, D) and fake (N₂, D): the mean MMD² over random subsets."""
    return float(kid_subsets(real, fake, subset_size, num_subsets, seed).mean())
