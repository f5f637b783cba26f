"""MINILATTE_TIER picks how much work notebooks and demos do."""
import pytest
import torch

from minilatte.tiers import by_tier, current_tier


@pytest.mark.parametrize("tier", ["ci", "cpu", "gpu"])
def test_tier_from_environment(monkeypatch, tier):
    monkeypatch.setenv("MINILATTE_TIER", tier)
    assert current_tier() == tier
    assert by_tier(ci=1, cpu=2, gpu=3) == {"ci": 1, "cpu": 2, "gpu": 3}[tier]


def test_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("MINILATTE_TIER", raising=False)
    assert current_tier() == ("gpu" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert current_tier() == "gpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert current_tier() == "cpu"


def test_read_at_every_call(monkeypatch):
    monkeypatch.setenv("MINILATTE_TIER", "ci")
    assert by_tier(ci="a", cpu="b", gpu="c") == "a"
    monkeypatch.setenv("MINILATTE_TIER", "cpu")
    assert by_tier(ci="a", cpu="b", gpu="c") == "b"


def test_unknown_tier_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("MINILATTE_TIER", "laptop")
    with pytest.raises(ValueError, match=r"MINILATTE_TIER='laptop' is not one of 'ci', 'cpu', 'gpu'"):
        current_tier()


def test_by_tier_needs_all_three_values():
    with pytest.raises(TypeError):
        by_tier(ci=1, cpu=2)   # noqa: the gpu value is missing on purpose
