"""Sampling with fewer steps: the same diffusion, looked at only at some of its timesteps.

Keep the original timesteps s_0 < s_1 < … < s_{K-1} (see ``space_timesteps``). Choosing new betas

    β'_k = 1 − ᾱ_{s_k} / ᾱ_{s_{k-1}}        (with ᾱ_{s_{-1}} = 1)

gives a K-step diffusion whose ᾱ'_k equals the original ᾱ_{s_k}: the noisy x at respaced step k
is distributed exactly like the original x at step s_k. Everything in ``GaussianDiffusion`` then
works unchanged on the K-step schedule — with one catch: the network was trained on the original
indices, so before every call the respaced index k must be translated back to s_k. That is all
``SpacedDiffusion`` adds. (As in DiT and Latte, the timesteps are passed as integers 0 … T-1;
IDDPM's optional ``rescale_timesteps`` is not supported.)
"""
from __future__ import annotations

import numpy as np
import torch

from .gaussian_diffusion import GaussianDiffusion, Model


class _OriginalTimesteps:
    """Wraps a model so that it receives original timesteps s_k instead of respaced indices k."""

    def __init__(self, model: Model, timestep_map: list[int]):
        self.model = model
        self.timestep_map = timestep_map

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **kwargs):
        original = torch.tensor(self.timestep_map, device=t.device, dtype=t.dtype)[t]
        return self.model(x, original, **kwargs)


class SpacedDiffusion(GaussianDiffusion):
    """A ``GaussianDiffusion`` over a subset of the timesteps of a base schedule.

    Args:
        use_timesteps: the original timesteps to keep (any iterable; order does not matter).
        betas: the base schedule's betas, shape (T,).
        **kwargs: ``prediction``, ``var_type``, ``loss_type``, ``channel_dim``, ``min_snr_gamma`` as for
            GaussianDiffusion.

    Attributes:
        timestep_map: ``timestep_map[k]`` is the original timestep of respaced step k.
        original_num_steps: T of the base schedule.
    """

    def __init__(self, use_timesteps, betas, **kwargs):
        self.use_timesteps = set(use_timesteps)
        self.original_num_steps = len(betas)
        base_alphas_cumprod = GaussianDiffusion(betas, **kwargs).alphas_cumprod

        self.timestep_map: list[int] = []
        new_betas = []
        last_alpha_cumprod = 1.0
        for i, alpha_cumprod in enumerate(base_alphas_cumprod):
            if i in self.use_timesteps:
                new_betas.append(1.0 - alpha_cumprod / last_alpha_cumprod)
                last_alpha_cumprod = alpha_cumprod
                self.timestep_map.append(i)
        super().__init__(np.array(new_betas), **kwargs)

    def _wrap_model(self, model: Model) -> Model:
        if isinstance(model, _OriginalTimesteps):
            return model
        return _OriginalTimesteps(model, self.timestep_map)

    # Every model call goes through one of these two methods (the samplers and the VB term call
    # p_mean_variance), so wrapping here is enough.
    def p_mean_variance(self, model: Model, *args, **kwargs) -> dict:
        return super().p_mean_variance(self._wrap_model(model), *args, **kwargs)

    def training_losses(self, model: Model, *args, **kwargs) -> dict:
        return super().training_losses(self._wrap_model(model), *args, **kwargs)
