"""Classifier-free guidance (CFG) for any denoiser ``model(x, t, **kwargs)``.

A class-conditional model trained with label dropout knows both ε(x_t | y) and ε(x_t | ∅). At
sampling time we push the prediction away from the unconditional one:

    ε̂ = ε(x_t | ∅) + s · (ε(x_t | y) − ε(x_t | ∅)),     s = cfg_scale (s = 1: no guidance)

Batch convention (DiT/Latte ``forward_with_cfg``): the sampler runs on a batch of 2N whose first N
rows are the conditional copies and last N the unconditional ones — the caller doubles the noise
and passes ``y = [labels; null class]``. Only the first half of x is used: it is duplicated so both
halves see the same x_t, one forward pass computes both predictions, and the guided ε̂ is returned
for both halves (keep the first N samples at the end).

Only the ε channels (the first C) are guided; learned-variance channels pass through unchanged.
The arithmetic is written once, in ``minilatte.models.classifier_free_guidance`` (which a Latte
model's ``forward_with_cfg`` also uses); this module makes it a wrapper the samplers can call.
"""
from __future__ import annotations

import torch

from ..models import classifier_free_guidance
from .gaussian_diffusion import Model


class ClassifierFreeGuidance:
    """``model`` wrapped so that calling it returns classifier-free-guided outputs.

    Args:
        model: ``model(x, t, **kwargs)`` -> (2N, …, C or 2C, …) with channels on ``channel_dim``.
        cfg_scale: the guidance scale s.
        channel_dim: the channel axis; ``None`` means dim 2 for 5-D videos (B, F, C, H, W) and dim 1
            otherwise — the same rule as the diffusion classes.

    Example::

        noise = torch.cat([z, z]); y = torch.cat([labels, torch.full_like(labels, null_class)])
        x = diffusion.p_sample_loop(guided_model(net, 4.0), noise.shape, noise,
                                    model_kwargs={"y": y})[:len(z)]

    It computes the same as a Latte model's ``forward_with_cfg(x, t, y, cfg_scale)``.
    """

    def __init__(self, model: Model, cfg_scale: float, channel_dim: int | None = None):
        self.model = model
        self.cfg_scale = cfg_scale
        self.channel_dim = channel_dim

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **kwargs) -> torch.Tensor:
        dim = self.channel_dim if self.channel_dim is not None else (2 if x.dim() == 5 else 1)
        return classifier_free_guidance(self.model, x, t, self.cfg_scale, channel_dim=dim, **kwargs)


def guided_model(model: Model, cfg_scale: float, channel_dim: int | None = None) -> ClassifierFreeGuidance:
    """``model`` with classifier-free guidance of scale ``cfg_scale`` (see ``ClassifierFreeGuidance``)."""
    return ClassifierFreeGuidance(model, cfg_scale, channel_dim)
