"""Across seeds: a mean with a 95 % t-interval per arm, paired differences between arms, and the verdict rule.

Per arm, the interval is Student's t on the per-seed values (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n); with one seed
there is none. The runs of a study are paired by construction: seed k of every arm trains on the same
clips, timesteps and noise. So the verdict compares arms seed by seed: per seed the difference d_k
between two arms, and the paired t-interval of the mean difference (mean(d) ± t₀.₉₇₅,ₙ₋₁ · s_d/√n).
Seed-to-seed variation that every arm shares (an easier draw of data, a luckier evaluation) cancels
in d_k, which is why a paired interval can exclude zero where the two per-arm intervals overlap.

The rule (:func:`paired_verdict`): a finding is *reproduced* when, against every other arm, the
paired interval of (other − paper's best) lies on the side where the paper's best arm is better; *not
reproduced* when some other arm is better by its paired interval; *inconclusive at this scale*
otherwise (an interval containing zero, or a single seed). A "little difference" finding has no best
arm: a paired interval of any two arms that excludes zero contradicts it (*not reproduced*); intervals
containing zero are consistent with it but prove no equality (*inconclusive at this scale*).

Next to each interval stand an exact sign-flip test (with few seeds the t-interval rests on
normality; the sign-flip p-value does not: under "no difference" every sign pattern of the d_k is
equally likely, 2ⁿ of them) and the smallest difference the test detects with 80 % power at the
observed spread, (t₀.₉₇₅ + t₀.₈₀) · s_d/√n. :func:`verdict` is the older rule on unpaired per-arm
intervals (non-overlap), kept in the tables for comparison.
"""
from __future__ import annotations

import itertools
import math
import statistics

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive at this scale"

# t quantile 0.975 by degrees of freedom (df > 30: the normal's 1.96 is within 4 %).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


# t quantile 0.80 by degrees of freedom (df > 30: the normal's 0.842), for the detectable difference.
_T80 = {1: 1.376, 2: 1.061, 3: 0.978, 4: 0.941, 5: 0.920, 6: 0.906, 7: 0.896, 8: 0.889, 9: 0.883, 10: 0.879,
        12: 0.873, 15: 0.866, 20: 0.860, 25: 0.856, 30: 0.854}


def t_quantile(df: int, level: float = 0.975) -> float:
    """t quantile (0.975 or 0.80) with ``df`` degrees of freedom (the next smaller tabulated df: a little larger)."""
    if df < 1:
        raise ValueError(f"df={df} must be >= 1")
    table, normal = {0.975: (_T975, 1.96), 0.80: (_T80, 0.842)}[level]
    return normal if df > 30 else table[max(k for k in table if k <= df)]


def summarize(values: list[float]) -> dict:
    """{"values", "mean", "ci_low", "ci_high"}: the interval is None for a single value."""
    values = [float(v) for v in values]
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"values": values, "mean": mean, "ci_low": None, "ci_high": None}
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return {"values": values, "mean": mean, "ci_low": mean - half, "ci_high": mean + half}


def sign_flip_p(diffs: list[float]) -> float:
    """Exact two-sided p-value of "the mean difference is zero": the share of the 2ⁿ sign patterns whose
    mean is at least as far from zero as the observed one (the smallest possible: 2/2ⁿ, 0.0625 with 5 seeds)."""
    observed = abs(statistics.fmean(diffs)) * (1 - 1e-12)      # ties within rounding count as extreme
    patterns = list(itertools.product((1, -1), repeat=len(diffs)))
    extreme = sum(abs(statistics.fmean([s * d for s, d in zip(signs, diffs)])) >= observed for signs in patterns)
    return extreme / len(patterns)


def paired(a: list[float], b: list[float]) -> dict:
    """The paired comparison of two arms, seed by seed: d_k = a_k − b_k, with the 95 % t-interval of the mean
    difference, the sign-flip p-value and the difference detectable with 80 % power (None with one seed)."""
    if len(a) != len(b):
        raise ValueError(f"paired arms need the same seeds; got {len(a)} and {len(b)} values")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    result = {**summarize(diffs), "p_sign_flip": None, "detectable": None}
    if len(diffs) >= 2:
        spread = statistics.stdev(diffs) / math.sqrt(len(diffs))
        df = len(diffs) - 1
        result["p_sign_flip"] = sign_flip_p(diffs)
        result["detectable"] = (t_quantile(df) + t_quantile(df, 0.80)) * spread
    return result


def paired_comparisons(values: dict[str, list[float]], winner: str | None) -> list[dict]:
    """The pairs a verdict looks at: every other arm against the paper's best (``other − best``), or, for a
    "little difference" finding, every pair of arms in their order (``later − earlier``)."""
    names = list(values)
    if winner is None:
        pairs = [(later, earlier) for earlier, later in itertools.combinations(names, 2)]
    elif winner in values:
        pairs = [(other, winner) for other in names if other != winner]
    else:
        raise ValueError(f"winner {winner!r} is not one of the arms {', '.join(names)}")
    return [{"arm": a, "minus": b, **paired(values[a], values[b])} for a, b in pairs]


def paired_verdict(values: dict[str, list[float]], winner: str | None, lower_is_better: bool = True) -> str:
    """The verdict from paired intervals, ``values``: per arm its per-seed values in seed order."""
    comparisons = paired_comparisons(values, winner)
    if any(c["ci_low"] is None for c in comparisons):
        return INCONCLUSIVE
    excludes_zero = [c["ci_low"] > 0 or c["ci_high"] < 0 for c in comparisons]
    if winner is None:
        return NOT_REPRODUCED if any(excludes_zero) else INCONCLUSIVE
    # other − best: positive means the best arm is lower; for "higher is better" the sign turns
    best_ahead = [(c["ci_low"] > 0) if lower_is_better else (c["ci_high"] < 0) for c in comparisons]
    other_ahead = [(c["ci_high"] < 0) if lower_is_better else (c["ci_low"] > 0) for c in comparisons]
    if all(best_ahead):
        return REPRODUCED
    return NOT_REPRODUCED if any(other_ahead) else INCONCLUSIVE


def clearly_better(a: dict, b: dict, lower_is_better: bool = True) -> bool:
    """Is summary ``a`` better than ``b`` with non-overlapping intervals?"""
    if a["ci_low"] is None or b["ci_low"] is None:
        return False
    return a["ci_high"] < b["ci_low"] if lower_is_better else a["ci_low"] > b["ci_high"]


def verdict(arms: dict[str, dict], winner: str | None, lower_is_better: bool = True) -> str:
    """The verdict on a finding from per-arm summaries ``{name: summarize(...)}``; ``winner``: the paper's best arm."""
    if winner is None:
        separated = any(clearly_better(a, b, lower_is_better) for a in arms.values() for b in arms.values())
        return NOT_REPRODUCED if separated else INCONCLUSIVE
    if winner not in arms:
        raise ValueError(f"winner {winner!r} is not one of the arms {', '.join(arms)}")
    others = [s for name, s in arms.items() if name != winner]
    if all(clearly_better(arms[winner], s, lower_is_better) for s in others):
        return REPRODUCED
    if any(clearly_better(s, arms[winner], lower_is_better) for s in others):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def combine(*verdicts: str) -> str:
    """One verdict for a finding with several parts: reproduced only if every part is, not reproduced if any part is not."""
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE
