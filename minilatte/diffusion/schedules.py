"""Noise schedules β_t and timestep respacing (IDDPM conventions, as used by DiT and Latte)."""
from __future__ import annotations

import math

import numpy as np


def beta_schedule(name: str, num_steps: int) -> np.ndarray:
    """β_1..β_T in float64.

    * ``linear`` (the paper's): β from 1e-4 to 0.02 over 1000 steps; for other step counts both ends
      are scaled by 1000/T so the total amount of noise stays the same.
    * ``squaredcos_cap_v2`` (cosine): ᾱ(t) = cos²((t/T + 0.008)/1.008 · π/2), β capped at 0.999.
      It destroys information more slowly, which helps tiny images (the CPU tier).
    """
    if name == "linear":
        scale = 1000 / num_steps
        return np.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=np.float64)
    if name == "squaredcos_cap_v2":
        alpha_bar = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        return np.array([min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), 0.999)
                         for i in range(num_steps)], dtype=np.float64)
    raise ValueError(f"noise_schedule={name!r} is not one of 'linear', 'squaredcos_cap_v2'")


def space_timesteps(num_steps: int, spacing) -> set[int]:
    """Which of the ``num_steps`` original timesteps a respaced sampler keeps.

    ``spacing`` is ``"ddimN"`` (the DDIM paper's fixed integer stride: ``range(0, T, stride)``),
    a comma-separated string ``"10,15,20"`` or a list: the original steps are cut into equal sections
    and each section is strided evenly to that many steps (``"250"`` = one section of 250 steps).
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
    size, extra = divmod(num_steps, len(spacing))
    kept, start = [], 0
    for i, count in enumerate(spacing):
        section = size + (1 if i < extra else 0)
        if section < count:
            raise ValueError(f"timestep_respacing: cannot take {count} steps from a section of {section}")
        stride = 1 if count <= 1 else (section - 1) / (count - 1)
        kept += [start + round(stride * j) for j in range(count)]
        start += section
    return set(kept)
