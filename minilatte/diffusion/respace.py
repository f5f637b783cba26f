"""Sampling with fewer steps: a diffusion over a subset of the original timesteps.

Keeping timesteps S = {s_1 < … < s_K} of the original T defines new betas
``β'_k = 1 − ᾱ_{s_k} / ᾱ_{s_{k-1}}`` with the same ᾱ at the kept steps. The network was trained on
the original indices, so every call maps the respaced index k back to s_k.
"""
from __future__ import annotations

import numpy as np
import torch

from .gaussian import GaussianDiffusion


class _OriginalTimesteps:
    """Wraps a model so that respaced timestep indices reach it as original timesteps."""

    def __init__(self, model, timestep_map: list[int]):
        self.model, self.timestep_map = model, timestep_map

    def __call__(self, x, t, **kwargs):
        table = torch.tensor(self.timestep_map, device=t.device, dtype=t.dtype)
        return self.model(x, table[t], **kwargs)


class SpacedDiffusion(GaussianDiffusion):
    def __init__(self, use_timesteps, betas, **kwargs):
        self.use_timesteps = set(use_timesteps)
        self.original_num_steps = len(betas)
        base = GaussianDiffusion(betas, **kwargs)
        self.timestep_map, new_betas, last = [], [], 1.0
        for i, alpha_bar in enumerate(base.alphas_cumprod):
            if i in self.use_timesteps:
                new_betas.append(1 - alpha_bar / last)
                last = alpha_bar
                self.timestep_map.append(i)
        super().__init__(np.array(new_betas), **kwargs)

    def _wrap(self, model):
        return model if isinstance(model, _OriginalTimesteps) else _OriginalTimesteps(model, self.timestep_map)

    def p_mean_variance(self, model, *args, **kwargs):
        return super().p_mean_variance(self._wrap(model), *args, **kwargs)

    def training_losses(self, model, *args, **kwargs):
        return super().training_losses(self._wrap(model), *args, **kwargs)
