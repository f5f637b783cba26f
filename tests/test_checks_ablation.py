"""Checkers of notebook 12 (ablations): each accepts a solution written from scratch and rejects a plausible
mistake with a message that says what is wrong."""
import math
import statistics

import pytest

from minilatte.ablate.stats import t_quantile
from minilatte.checks import check_t_interval, check_verdict


def t_interval(values, spread=statistics.stdev, df_offset=1, quantile=None, per_mean=True):
    n, mean = len(values), statistics.fmean(values)
    q = quantile if quantile is not None else t_quantile(n - df_offset)
    half = q * spread(values) / (math.sqrt(n) if per_mean else 1.0)
    return mean, mean - half, mean + half


def my_verdict(winner, other, compare_means=False, unpaired=False, swapped=False):
    """The paired rule written from scratch, or one of the usual mistakes."""
    if compare_means:
        return "reproduced" if statistics.fmean(winner) < statistics.fmean(other) else "not reproduced"
    if len(winner) < 2 or len(other) < 2:
        return "inconclusive at this scale"
    if unpaired:                                   # the two arms' own intervals apart
        _, w_low, w_high = t_interval(winner)
        _, o_low, o_high = t_interval(other)
        low, high = o_low - w_high, o_high - w_low
    else:
        diffs = [(w - o) if swapped else (o - w) for w, o in zip(winner, other)]
        _, low, high = t_interval(diffs)
    if low > 0:
        return "reproduced"
    if high < 0:
        return "not reproduced"
    return "inconclusive at this scale"


def test_interval_checker_accepts_a_solution(capsys):
    check_t_interval(t_interval)
    assert capsys.readouterr().out.startswith("✓ t_interval matches minilatte")


@pytest.mark.parametrize("wrong,words", [
    (lambda v: t_interval(v, spread=statistics.pstdev), "population standard deviation"),
    (lambda v: t_interval(v, df_offset=0), "degrees of freedom are off by one"),
    (lambda v: t_interval(v, quantile=1.96), "normal's quantile"),
    (lambda v: t_interval(v, per_mean=False), "√n times too wide"),
    (lambda v: (statistics.fmean(v), min(v), max(v)), "interval of section 3"),
    (lambda v: statistics.fmean(v), "three numbers"),
])
def test_interval_checker_names_the_mistake(wrong, words):
    with pytest.raises(AssertionError) as info:
        check_t_interval(wrong)
    assert words in str(info.value), str(info.value)


def test_verdict_checker_accepts_a_solution(capsys):
    check_verdict(my_verdict)
    assert capsys.readouterr().out.startswith("✓ verdict matches minilatte")


@pytest.mark.parametrize("mistake,words", [
    ({"unpaired": True}, "the rule compares the arms seed by seed"),
    ({"swapped": True}, "roles are exchanged"),
    ({"compare_means": True}, "contains zero"),
])
def test_verdict_checker_names_the_mistake(mistake, words):
    with pytest.raises(AssertionError) as info:
        check_verdict(lambda w, o: my_verdict(w, o, **mistake))
    assert words in str(info.value), str(info.value)
