"""Checkers for notebook 09 (evaluation): the Fréchet distance from Gaussian statistics, unbiased MMD²."""
from __future__ import annotations

import numpy as np

from ..metrics import frechet_distance_from_stats, gaussian_stats, mmd2_unbiased
from ..metrics.frechet import trace_sqrt_product
from ..metrics.kid import polynomial_kernel
from .core import call, passed


def _as_float(name: str, value) -> float:
    """A learner's scalar as a float; complex round-off from ``scipy.linalg.sqrtm`` is accepted if tiny."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.size != 1:
        raise AssertionError(f"{name}: expected one number, got an array of shape {value.shape}\n"
                             "  hint: sum the terms into a single float")
    value = value.reshape(())[()]
    if np.iscomplexobj(value):
        if abs(value.imag) > 1e-6 * max(1.0, abs(value.real)):
            raise AssertionError(f"{name}: got the complex number {value}; its imaginary part is not round-off\n"
                                 "  hint: an imaginary part this large is not round-off: check the matrix whose "
                                 "square root you take")
        value = value.real
    return float(value)


def _within(got: float, expected: float, tol: float) -> bool:
    return abs(got - expected) <= tol * max(1.0, abs(expected))


def _fd_cases():
    """Seeded (mu1, sigma1, mu2, sigma2): non-commuting covariances, one singular (fewer samples than D)."""
    rng = np.random.default_rng(9)
    cases = []
    for n1, n2, d, shift in ((400, 300, 5, 0.5), (200, 200, 12, 0.0), (6, 300, 10, 1.0)):
        a = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d))
        b = rng.normal(size=(n2, d)) @ rng.normal(size=(d, d)) + shift
        cases.append((*gaussian_stats(a), *gaussian_stats(b)))
    return cases


def check_frechet_distance(fd_from_stats) -> None:
    """``fd_from_stats(mu1, sigma1, mu2, sigma2)`` -> float:
    ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2·tr((Σ₁Σ₂)^½). Relative tolerance 1e-4.
    """
    for i, (mu1, s1, mu2, s2) in enumerate(_fd_cases()):
        name = f"frechet_distance (case {i}: D={len(mu1)})"
        got = _as_float(name, call("frechet_distance", fd_from_stats, mu1.copy(), s1.copy(), mu2.copy(), s2.copy()))
        expected = frechet_distance_from_stats(mu1, s1, mu2, s2)
        if _within(got, expected, 1e-4):
            continue
        mean_sq, mean_norm = float(((mu1 - mu2) ** 2).sum()), float(np.linalg.norm(mu1 - mu2))
        traces, root = float(np.trace(s1) + np.trace(s2)), trace_sqrt_product(s1, s2)
        hint = "compare each term with the formula of section 1"
        if _within(got, mean_sq + traces - 2 * float(np.trace(s1 @ s2)), 1e-4):
            hint = "the cross term is tr(Σ₁Σ₂), without the matrix square root"
        elif _within(got, mean_sq + traces - 2 * float(np.sqrt(np.clip(s1 * s2, 0, None)).sum()), 1e-4) or \
                _within(got, mean_sq + traces - 2 * float(np.trace(np.sqrt(np.abs(s1 @ s2)))), 1e-4):
            hint = "the square root was taken element by element; the formula's is a matrix square root"
        elif _within(got, mean_sq + traces - root, 1e-4):
            hint = "the factor 2 of the cross term is missing"
        elif _within(got, mean_norm + traces - 2 * root, 1e-4):
            hint = "the mean term is the distance ‖μ₁ − μ₂‖, not its square"
        elif _within(got, traces - 2 * root, 1e-4):
            hint = "the mean term ‖μ₁ − μ₂‖² is missing"
        raise AssertionError(f"{name}: got {got:.6g}, expected {expected:.6g} (relative tolerance 1e-4)\n  hint: {hint}")
    passed("frechet_distance", detail=" on 3 pairs of Gaussians (one covariance singular)")


def _biased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    return float(polynomial_kernel(x, x).mean() + polynomial_kernel(y, y).mean() - 2 * polynomial_kernel(x, y).mean())


def check_mmd2_unbiased(mmd2) -> None:
    """``mmd2(x, y)``: x (N, D), y (M, D) -> float, the unbiased MMD² with k(a, b) = (aᵀb / D + 1)³:
    mean over i≠j of k(xᵢ, xⱼ) + mean over i≠j of k(yᵢ, yⱼ) − 2·mean over all i, j of k(xᵢ, yⱼ).
    Relative tolerance 1e-6 (absolute 1e-9).
    """
    rng = np.random.default_rng(10)
    for i, (n, m, d, shift) in enumerate(((20, 30, 4, 0.3), (50, 50, 16, 0.0), (8, 5, 3, 1.0))):
        x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + shift
        name = f"mmd2_unbiased (case {i}: x {x.shape}, y {y.shape})"
        got = _as_float(name, call("mmd2_unbiased", mmd2, x.copy(), y.copy()))
        expected = mmd2_unbiased(x, y)
        if abs(got - expected) <= 1e-9 + 1e-6 * abs(expected):
            continue
        kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
        within = (kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        hint = "compare the kernel and each of the three means with the estimate of section 2"
        if abs(got - _biased_mmd2(x, y)) < 1e-6 * max(1.0, abs(got)):
            hint = "this is the biased estimate: your within-set means include the diagonal terms k(xᵢ, xᵢ)"
        elif abs(got - float((kxx.sum() - np.trace(kxx)) / n ** 2 + (kyy.sum() - np.trace(kyy)) / m ** 2
                             - 2 * kxy.mean())) < 1e-6 * max(1.0, abs(got)):
            hint = "the diagonal is left out, but the within-set means still count N² terms"
        elif abs(got - float(within - kxy.mean())) < 1e-6 * max(1.0, abs(got)):
            hint = "the weight of the cross term is off (see the formula of section 2)"
        else:
            xs, ys = x * np.sqrt(d), y * np.sqrt(d)             # a kernel without the 1/D scaling
            if abs(got - mmd2_unbiased(xs, ys)) < 1e-6 * max(1.0, abs(got)):
                hint = "your kernel does not scale the dot product by the feature size D"
        raise AssertionError(f"{name}: got {got:.8g}, expected {expected:.8g} (tolerance 1e-9 + 1e-6·|expected|)\n"
                             f"  hint: {hint}")
    passed("mmd2_unbiased", detail=" on 3 pairs of feature sets")
