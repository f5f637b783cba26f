"""Bootstrap confidence intervals for any metric of two feature sets.

A metric computed from N samples is itself a random number: a second set of N samples gives another
value. Resampling each feature set with replacement and recomputing the metric shows that spread
without generating more videos.

FD needs care: a resample repeats about 37% of its rows, so it holds fewer distinct samples, and FD
is biased upward at small N — the resampled FDs sit *above* the full-sample value, and at N = 64
the plain percentile interval can miss it altogether. So the interval keeps the bootstrap's spread
but centres it on the full-sample value: [value − (median − q_low), value + (q_high − median)],
with q the (1 ± level)/2 quantiles of the resampled values. For an unbiased metric (KID, a mean)
this is the usual percentile interval. ``bootstrap_median`` is reported too, so the shift is visible.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .frechet import as_features, check_feature_sizes


def bootstrap_ci(metric: Callable[[np.ndarray, np.ndarray], float], real, fake, num_resamples: int = 100,
                 level: float = 0.95, seed: int = 0) -> dict:
    """``metric(real, fake)`` on the full features (N₁, D), (N₂, D) and on resamples of both.

    Returns {"value", "ci_low", "ci_high", "std", "bootstrap_median", "level", "num_resamples"}.
    """
    if not callable(metric):
        raise TypeError(f"metric must be a function metric(real, fake) -> float, got {type(metric).__name__}")
    if not isinstance(num_resamples, int) or isinstance(num_resamples, bool) or num_resamples < 2:
        raise ValueError(f"num_resamples={num_resamples!r} must be an integer >= 2")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level} must be between 0 and 1, e.g. 0.95")
    real, fake = as_features(real, "real features"), as_features(fake, "fake features")
    check_feature_sizes(real, fake)
    rng = np.random.default_rng(seed)
    values = np.array([metric(real[rng.integers(0, len(real), len(real))],
                              fake[rng.integers(0, len(fake), len(fake))]) for _ in range(num_resamples)])
    tail = (1.0 - level) / 2 * 100
    low, median, high = np.percentile(values, [tail, 50, 100 - tail])
    value = float(metric(real, fake))
    return {"value": value, "ci_low": float(value - (median - low)), "ci_high": float(value + (high - median)),
            "std": float(values.std(ddof=1)), "bootstrap_median": float(median), "level": level,
            "num_resamples": num_resamples}
