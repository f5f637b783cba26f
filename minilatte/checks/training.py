"""Checkers for notebook 07 (training): the EMA's memory of the start, one AdamW step, x̂_0 from ε or v."""
from __future__ import annotations

import math

import torch

from ..diffusion import create_diffusion
from ..train import ema_decay
from .core import assert_close, assert_equal, call, passed, seeded


def _ema_init_weight(num_steps: int, decay: float, warmup: bool) -> float:
    """Π_k d_k over the updates k = 0 … num_steps − 1, d_k as minilatte's trainer uses it (:func:`ema_decay`)."""
    weight = 1.0
    for k in range(num_steps):
        weight *= ema_decay(k, decay, warmup)
    return weight


def check_ema_init_weight(ema_init_weight) -> None:
    """``ema_init_weight(num_steps, decay, warmup)`` -> the weight the EMA still gives the initial weights.

    After ``num_steps`` updates ``ema ← d_k · ema + (1 − d_k) · model`` (k = 0, 1, …) the EMA is a
    weighted sum of the initial weights and every later model; the initial weights keep Π_k d_k.
    With ``warmup=True`` d_k = min(decay, (1 + k)/(10 + k)) (minilatte's ``train.ema_warmup``).
    Compared on seven cases with relative tolerance 1e-6.
    """
    cases = [(0, 0.99, False), (10, 0.9, False), (1800, 0.999, False), (1800, 0.999, True),
             (50, 0.9999, True), (20_000, 0.9999, True), (1_000_000, 0.9999, False)]
    for num_steps, decay, warmup in cases:
        expected = _ema_init_weight(num_steps, decay, warmup)
        got = call("ema_init_weight", ema_init_weight, num_steps, decay, warmup)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if not isinstance(got, (int, float)):
            raise AssertionError(f"ema_init_weight: expected a float, got {type(got).__name__} {got!r}")
        if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-300):
            continue
        hint = "at update k the initial weights keep the fraction d_k of their weight: follow it through every update"
        if warmup and math.isclose(got, decay ** num_steps, rel_tol=1e-6):
            hint = "your result ignores the warm-up: with warmup=True the early decays are smaller than decay"
        elif warmup and num_steps and math.isclose(got, _ema_init_weight(num_steps + 1, decay, True)
                                                   / min(decay, 1 / 10), rel_tol=1e-6):
            hint = "your warm-up starts one update late: the first update has k = 0"
        elif math.isclose(got, (1 - decay) ** num_steps, rel_tol=1e-6):
            hint = "that follows the model's share, 1 − d, of each update; the initial weights live in the EMA's old value"
        raise AssertionError(f"ema_init_weight(num_steps={num_steps}, decay={decay}, warmup={warmup}) "
                             f"returned {got:.6g}, expected {expected:.6g} (relative tolerance 1e-6)\n  hint: {hint}")
    passed("ema_init_weight", detail=f" on {len(cases)} cases")


def check_adamw_step(adamw_step) -> None:
    """``adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay)``
    -> ``(param, exp_avg, exp_avg_sq)`` after one AdamW update; ``step`` counts updates from 1.

    Three updates on seeded tensors, with weight decay 0.1 so that the decoupled decay matters,
    compared with ``torch.optim.AdamW`` (the optimizer minilatte's Trainer uses), tolerance 1e-6.
    """
    gen = seeded(7)
    start = torch.randn(4, 5, generator=gen)
    grads = [torch.randn(4, 5, generator=gen) for _ in range(3)]
    lr, betas, eps, weight_decay = 1e-2, (0.9, 0.999), 1e-8, 0.1

    reference = torch.nn.Parameter(start.clone())
    opt = torch.optim.AdamW([reference], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    l2 = torch.nn.Parameter(start.clone())            # the usual mistake, Adam with L2 regularisation: 1 update
    l2.grad = grads[0].clone()
    l2_opt = torch.optim.Adam([l2], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    l2_opt.step()
    param, exp_avg, exp_avg_sq = start.clone(), torch.zeros_like(start), torch.zeros_like(start)
    hints = {"exp_avg": "the first moment m is a running average of the gradient, weighted by β₁ (see the prompt)",
             "exp_avg_sq": "the second moment v is a running average of the squared gradient, weighted by β₂",
             "param": ("the moments match torch's but the weights do not: check the decoupled weight decay, the "
                       "correction of both moments for starting at zero, and where eps goes")}
    max_diff = 0.0
    for step, grad in enumerate(grads, start=1):
        reference.grad = grad.clone()
        opt.step()
        state = opt.state[reference]
        got = call("adamw_step", adamw_step, param.clone(), grad.clone(), exp_avg.clone(), exp_avg_sq.clone(),
                   step, lr, betas, eps, weight_decay)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise AssertionError(f"adamw_step: return (param, exp_avg, exp_avg_sq), got {type(got).__name__}")
        param, exp_avg, exp_avg_sq = got
        if step == 1 and isinstance(exp_avg, torch.Tensor) and exp_avg.shape == start.shape and torch.allclose(
                exp_avg, l2_opt.state[l2]["exp_avg"], atol=1e-6):
            hints["exp_avg"] = ("that is Adam with L2 regularisation: the weight decay went into the gradient, "
                                "where AdamW's is decoupled from it (see the prompt)")
        for what, value, expected in (("exp_avg", exp_avg, state["exp_avg"]),
                                      ("exp_avg_sq", exp_avg_sq, state["exp_avg_sq"]),
                                      ("param", param, reference.detach())):
            max_diff = max(max_diff, assert_close("adamw_step", value, expected, atol=1e-6, rtol=1e-6,
                                                  hint=hints[what], what=f"{what} after update {step}"))
    passed("adamw_step", max_diff, " over 3 updates of torch.optim.AdamW")


def check_x0_from_prediction(x0_from_prediction) -> None:
    """``x0_from_prediction(x_t, prediction, alpha_bar, kind)`` -> x̂_0, for kind "epsilon" or "velocity".

    x_t and prediction are videos (B, F, C, H, W), alpha_bar a (B,) tensor of ᾱ_t. Compared with the
    ``pred_xstart`` of minilatte's diffusion (``p_mean_variance``, no clipping) for an ε- and a
    v-predicting model, tolerance 1e-4.
    """
    gen = seeded(8)
    x_t = torch.randn(3, 2, 3, 4, 4, generator=gen)
    prediction = torch.randn(x_t.shape, generator=gen)
    t = torch.tensor([10, 500, 990])
    max_diff = 0.0
    for kind in ("epsilon", "velocity"):
        diffusion = create_diffusion("", learn_sigma=False, prediction=kind)
        expected = diffusion.p_mean_variance(lambda x, s: prediction, x_t, t, clip_denoised=False)["pred_xstart"]
        alpha_bar = torch.from_numpy(diffusion.alphas_cumprod).float()[t]
        got = call("x0_from_prediction", x0_from_prediction, x_t, prediction, alpha_bar, kind)
        hint = {"epsilon": "x̂_0 is the clean video that x_t = √ᾱ x_0 + √(1−ᾱ) ε came from (section 1a)",
                "velocity": "see how section 1a defines v from x_0 and ε"}[kind]
        hint += "; alpha_bar holds one ᾱ per video, for every value of that video"
        if kind == "velocity" and isinstance(got, torch.Tensor) and got.shape == x_t.shape:
            ab = alpha_bar.view(-1, 1, 1, 1, 1)
            if torch.allclose(got, (x_t - (1 - ab).sqrt() * prediction) / ab.sqrt(), atol=1e-4):
                hint = "that is the ε formula; a velocity prediction v is not ε (see how section 1a defines v)"
        max_diff = max(max_diff, assert_close("x0_from_prediction", got, expected, atol=1e-4, rtol=1e-4,
                                              hint=hint, what=f"x̂_0 for kind={kind!r}"))
    assert_equal("x0_from_prediction", tuple(got.shape), tuple(x_t.shape), what="shape")
    passed("x0_from_prediction", max_diff, " for ε and v")
