"""Noise schedules β_t and timestep respacing.

Two small pieces of bookkeeping that the rest of the diffusion code builds on:

* ``beta_schedule(name, T)`` — how much noise each of the T forward steps adds.
* ``space_timesteps(T, spacing)`` — which of the T steps a faster sampler keeps
  (``"250"`` for DDPM-250, ``"ddim50"`` for DDIM-50, ``"10,10,10"`` for sections).

Both follow the conventions of improved DDPM (IDDPM), which DiT and Latte inherit, so a respacing
string means exactly the same set of timesteps here as in those code bases.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

NOISE_SCHEDULES = ("linear", "squaredcos_cap_v2")


def beta_schedule(name: str, num_steps: int) -> np.ndarray:
    """β_t for t = 0 … T-1 as a float64 array of shape (T,).

    * ``"linear"`` — the paper's schedule (Ho et al.): β rises linearly from 1e-4 to 0.02 over
      1000 steps. For another number of steps T both ends are multiplied by 1000 / T, so that the
      schedule destroys about the same amount of signal whatever T is.
    * ``"squaredcos_cap_v2"`` — the cosine schedule of IDDPM: ᾱ(s) = cos²((s + 0.008) / 1.008 · π/2)
      for s ∈ [0, 1], each β derived from consecutive ᾱ values and capped at 0.999 (the last step
      would otherwise be exactly 1 and wipe out the signal completely).

    Float64 on purpose: ᾱ_t = ∏(1 − β) over 1000 steps loses digits in float32.
    """
    if name == "linear":
        scale = 1000 / num_steps
        return np.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=np.float64)
    if name == "squaredcos_cap_v2":
        def alpha_bar(s: float) -> float:
            return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), 0.999)
                 for i in range(num_steps)]
        return np.array(betas, dtype=np.float64)
    raise ValueError(f"noise_schedule={name!r} is not one of {', '.join(map(repr, NOISE_SCHEDULES))}")



def space_timesteps(num_steps: int, spacing: str | Iterable[int]) -> set[int]:
    """The subset of the original timesteps 0 … T-1 that a respaced sampler visits.

    ``spacing`` can be

    * ``"ddimN"`` — DDIM's integer stride: the smallest stride s with ``len(range(0, T, s)) == N``,
      giving ``{0, s, 2s, …}``. ``"ddim50"`` of 1000 steps keeps 0, 20, …, 980.
    * ``"N"`` or ``"N1,N2,…"`` (or a list of ints) — cut the T steps into as many equal sections as
      there are numbers (the first ``T % sections`` sections get one extra step) and pick Ni evenly
      spaced steps inside section i, always including its first and last step. ``"250"`` of 1000
      steps keeps 0, 4, 8, …, 995, 999 (a fractional stride of 999/249, rounded).

    Returns a set: the order is always increasing time, so only membership matters.
    """
    if isinstance(spacing, str):
        if spacing.startswith("ddim"):
            wanted = int(spacing[len("ddim"):])
            for stride in range(1, num_steps):
                if len(range(0, num_steps, stride)) == wanted:
                    return set(range(0, num_steps, stride))
            raise ValueError(f"timestep_respacing={spacing!r}: no integer stride gives exactly {wanted} of "
                             f"{num_steps} steps; pick another count")
        spacing = [int(part) for part in spacing.split(",")]
    counts = list(spacing)

    base_size, extra = divmod(num_steps, len(counts))
    kept: list[int] = []
    start = 0
    for i, count in enumerate(counts):
        size = base_size + (1 if i < extra else 0)
        if count > size:
            raise ValueError(f"timestep_respacing: cannot take {count} steps from a section of {size}")
        # A fractional stride that lands exactly on the section's first and last step.
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        # Accumulate the position step by step (rather than j * stride) so that the rounding —
        # Python's round-half-to-even — sees the same floats as IDDPM and picks the same steps.
        position = 0.0
        for _ in range(count):
            kept.append(start + round(position))
            position += stride
        start += size
    return set(kept)
