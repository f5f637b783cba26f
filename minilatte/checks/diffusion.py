"""Checkers for notebook 06 (diffusion): the forward jump q_sample, one deterministic DDIM step."""
from __future__ import annotations

import numpy as np
import torch

from ..diffusion import create_diffusion
from .core import assert_close, call, passed, seeded


def check_q_sample(q_sample) -> None:
    """``q_sample(x0, t, noise, alphas_cumprod)`` -> x_t = √ᾱ_t · x0 + √(1 − ᾱ_t) · noise.

    x0 and noise are videos (B, F, C, H, W), t a (B,) long tensor, ``alphas_cumprod`` the float64
    numpy table ᾱ of shape (T,). Compared with ``create_diffusion("").q_sample``, tolerance 1e-5.
    """
    diffusion = create_diffusion("", learn_sigma=False)
    gen = seeded(5)
    x0 = torch.randn(3, 2, 3, 4, 4, generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.tensor([0, 400, 999])
    expected = diffusion.q_sample(x0, t, noise)
    got = call("q_sample", q_sample, x0, t, noise, diffusion.alphas_cumprod)
    hint = ("compare with the prompt's formula: each video has its own ᾱ_t, which has to reach every "
            "value of that video")
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        ab = torch.from_numpy(diffusion.alphas_cumprod).float()[t].view(-1, 1, 1, 1, 1)
        if torch.allclose(got, ab * x0 + (1 - ab) * noise, atol=1e-5):
            hint = "your coefficients are ᾱ_t and 1 − ᾱ_t themselves: those are variances (see the formula)"
        elif torch.allclose(got, (1 - ab).sqrt() * x0 + ab.sqrt() * noise, atol=1e-5):
            hint = "the coefficients are swapped: x0 got the noise's and the noise got x0's"
    max_diff = assert_close("q_sample", got, expected, atol=1e-5, rtol=1e-5, hint=hint)
    passed("q_sample", max_diff)


def check_ddim_step(ddim_step) -> None:
    """``ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev)`` -> x_prev, DDIM with η = 0.

    x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t, then x_prev = √ᾱ_prev · x̂_0 + √(1 − ᾱ_prev) · ε̂.
    ``alpha_bar_t`` and ``alpha_bar_prev`` are tensors shaped (B, 1, 1, 1, 1). Compared with one
    step of minilatte's DDIM-50 sampler (``ddim_sample``, no clipping), tolerance 1e-4.
    """
    diffusion = create_diffusion("ddim50", learn_sigma=False)
    gen = seeded(6)
    x_t = torch.randn(3, 2, 3, 4, 4, generator=gen)
    eps = torch.randn(x_t.shape, generator=gen)
    k = torch.tensor([1, 20, 45])                      # respaced indices: original steps 20, 400, 900
    expected = diffusion.ddim_sample(lambda x, t: eps, x_t, k, clip_denoised=False)["sample"]
    table = lambda a: torch.from_numpy(np.asarray(a)).float()[k].view(-1, 1, 1, 1, 1)  # noqa: E731
    ab, ab_prev = table(diffusion.alphas_cumprod), table(diffusion.alphas_cumprod_prev)
    got = call("ddim_step", ddim_step, x_t, eps, ab, ab_prev)
    hint = "compare with the two steps in the prompt: the estimate x̂_0, then the move to the noise level ᾱ_prev"
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
        if torch.allclose(got, x0, atol=1e-4):
            hint = "that is x̂_0, the first of the two steps; the move to the noise level ᾱ_prev is missing"
        elif torch.allclose(got, ab_prev.sqrt() * x0 - (1 - ab_prev).sqrt() * eps, atol=1e-4):
            hint = "the noise term of the second step has the wrong sign"
    max_diff = assert_close("ddim_step", got, expected, atol=1e-4, rtol=1e-4, hint=hint)
    passed("ddim_step", max_diff)
