"""Run tiers: how much work a notebook, test or demo does on this machine.

``MINILATTE_TIER`` picks one of

* ``ci``  — seconds: the smallest sizes, enough to prove the code runs (``pytest --nbval-lax``);
* ``cpu`` — minutes on a laptop CPU: real pictures and curves (the outputs committed in notebooks/);
* ``gpu`` — one GPU: the scaled-down configs.

Unset, it is ``gpu`` when CUDA is available and ``cpu`` otherwise. The variable is read at every
call, never cached, so a notebook or test can change it while running.

    from minilatte.tiers import current_tier, by_tier
    steps = by_tier(ci=20, cpu=1_500, gpu=20_000)
"""
from __future__ import annotations

import os

import torch

TIERS = ("ci", "cpu", "gpu")


def current_tier() -> str:
    """The tier named by ``MINILATTE_TIER``, or the default for this machine."""
    tier = os.environ.get("MINILATTE_TIER")
    if tier is None:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if tier not in TIERS:
        raise ValueError(f"MINILATTE_TIER={tier!r} is not one of {', '.join(map(repr, TIERS))}")
    return tier


def by_tier(*, ci, cpu, gpu):
    """The value given for the current tier: ``by_tier(ci=2, cpu=200, gpu=5000)``."""
    return {"ci": ci, "cpu": cpu, "gpu": gpu}[current_tier()]
