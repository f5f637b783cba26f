"""Across seeds: a mean with a 95 % t-interval per arm, and the verdict rule.

The interval is Student's t on the per-seed values (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n); with one seed there is
none. A finding is *reproduced* when the paper's best arm is better than every other arm and the
intervals do not overlap, *not reproduced* when another arm is better with non-overlapping intervals,
and *inconclusive at this scale* otherwise (overlap, or a single seed). A "little difference" finding
has no best arm: intervals that separate any two arms contradict it (*not reproduced*); overlap is
consistent with it but proves no equality, so it stays *inconclusive at this scale*.
"""
from __future__ import annotations

import math
import statistics

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive at this scale"

# t quantile 0.975 by degrees of freedom (df > 30: the normal's 1.96 is within 4 %).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


def t_quantile(df: int) -> float:
    """t₀.₉₇₅ with ``df`` degrees of freedom (the next smaller tabulated df: a slightly wider interval)."""
    if df < 1:
        raise ValueError(f"df={df} must be >= 1")
    return 1.96 if df > 30 else _T975[max(k for k in _T975 if k <= df)]


def summarize(values: list[float]) -> dict:
    """{"values", "mean", "ci_low", "ci_high"}: the interval is None for a single value."""
    values = [float(v) for v in values]
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"values": values, "mean": mean, "ci_low": None, "ci_high": None}
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return {"values": values, "mean": mean, "ci_low": mean - half, "ci_high": mean + half}


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
