"""Checkers for notebook 12 (ablations): a 95 % t-interval across seeds, the paired verdict rule."""
from __future__ import annotations

import math
import statistics

from ..ablate.stats import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, paired_verdict, summarize, t_quantile, verdict
from .core import assert_equal, call, passed

# Per-seed FD-probe values of two arms (lower is better), chosen so that each usual mistake changes the answer.
_CASES = (
    [8.69, 8.31, 9.02],
    [10.8, 10.1, 11.6, 10.4],
    [5.0, 5.0],
    [12.0, 9.5],
)


def _as_interval(name: str, got) -> tuple[float, float, float]:
    try:
        mean, low, high = (float(v) for v in got)
    except (TypeError, ValueError):
        raise AssertionError(f"{name}: expected three numbers (mean, low, high), got {got!r}"[:300]) from None
    return mean, low, high


def check_t_interval(t_interval) -> None:
    """``t_interval(values)`` -> (mean, low, high): mean ± t₀.₉₇₅,ₙ₋₁ · s / √n, s the sample standard
    deviation (n − 1 in its denominator). ``t_quantile(df)`` is given. Tolerance 1e-9 relative.
    """
    for values in _CASES:
        name = f"t_interval({values})"
        mean, low, high = _as_interval(name, call("t_interval", t_interval, list(values)))
        want = summarize(values)
        expected = (want["mean"], want["ci_low"], want["ci_high"])
        if all(math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12) for g, e in zip((mean, low, high), expected)):
            continue
        n, m = len(values), statistics.fmean(values)
        half = t_quantile(n - 1) * statistics.stdev(values) / math.sqrt(n)
        hint = "compare with the interval of section 3: the mean, the sample standard deviation, the t quantile, n"
        if math.isclose(high - low, 2 * t_quantile(n - 1) * statistics.pstdev(values) / math.sqrt(n), rel_tol=1e-9):
            hint = "that is the population standard deviation (it divides by n); the interval takes the sample one"
        elif math.isclose(high - low, 2 * t_quantile(n) * statistics.stdev(values) / math.sqrt(n), rel_tol=1e-9):
            hint = "the t quantile's degrees of freedom are off by one"
        elif math.isclose(high - low, 2 * 1.96 * statistics.stdev(values) / math.sqrt(n), rel_tol=1e-9):
            hint = "1.96 is the normal's quantile; with 2-4 seeds the t quantile is much larger (4.30 for n = 3)"
        elif math.isclose(high - low, 2 * t_quantile(n - 1) * statistics.stdev(values), rel_tol=1e-9):
            hint = "the interval is √n times too wide: it is for the mean of n seeds, not for one seed"
        raise AssertionError(f"{name}: got (mean, low, high) = ({mean:.6g}, {low:.6g}, {high:.6g}), expected "
                             f"({m:.6g}, {m - half:.6g}, {m + half:.6g})\n  hint: {hint}")
    passed("t_interval", detail=f" on {len(_CASES)} sets of per-seed values")


def check_verdict(my_verdict) -> None:
    """``my_verdict(winner_values, other_values)`` -> "reproduced" / "not reproduced" / "inconclusive at this
    scale" for a finding "the winner's FD is lower", by the paired rule of ``minilatte.ablate.stats``: seed k of
    both lists is one pair."""
    cases = [([8.69, 9.38, 10.29], [10.83, 11.10, 12.98]),     # the conditioning study: apart only seed by seed
             ([10.83, 11.10, 12.98], [8.69, 9.38, 10.29]),     # the same, the other way round
             ([9.46, 8.31, 10.2], [9.60, 9.90, 9.0]),          # differences of both signs
             ([8.0], [12.0]),                                  # one seed: no interval
             ([6.0, 6.2, 6.1], [6.3, 6.5, 6.4]),               # the same difference on every seed
             ([7.0, 11.0], [9.0, 10.0])]
    for winner, other in cases:
        expected = paired_verdict({"w": winner, "o": other}, "w")
        got = call("my_verdict", my_verdict, list(winner), list(other))
        if got == expected:
            continue
        unpaired = verdict({"w": summarize(winner), "o": summarize(other)}, "w")
        swapped = paired_verdict({"w": other, "o": winner}, "w")
        if got == unpaired:
            hint = "that is what the two arms' own intervals say; the rule compares the arms seed by seed"
        elif got == swapped:
            hint = "the two arms' roles are exchanged somewhere: which side of zero favours the paper's best arm?"
        else:
            hint = {REPRODUCED: "the interval of the per-seed differences lies on the winner's side of zero",
                    NOT_REPRODUCED: "the interval of the per-seed differences lies on the other arm's side of zero",
                    INCONCLUSIVE: "the interval of the per-seed differences contains zero (or one seed gives none)"}[
                expected]
        assert_equal(f"my_verdict({winner}, {other})", got, expected, hint=hint, what="verdict")
    passed("verdict", detail=f" on {len(cases)} pairs of arms")
