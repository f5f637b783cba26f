"""Gaussian diffusion for Latte, with the IDDPM/DiT interface.

    from minilatte.diffusion import create_diffusion
    diffusion = create_diffusion("")                  # training: all 1000 steps
    losses = diffusion.training_losses(model, x0, t, model_kwargs={"y": y})   # {"loss", "mse", "vb"}: (B,)
    sampler = create_diffusion("250")                 # 250 evenly spaced steps (the official Latte sampler
                                                      # respaces DDIM this way too; "ddim50": DDIM's stride)
    videos = sampler.p_sample_loop(model, (B, F, C, H, W), clip_denoised=False, model_kwargs={"y": y})

Modules: ``schedules`` (betas, respacing), ``losses`` (KL and decoder likelihood),
``gaussian_diffusion`` (the process, samplers, loss), ``respace`` (fewer sampling steps),
``guidance`` (classifier-free guidance).
Layout rule: channels are dim 2 of 5-D videos (B, F, C, H, W) and dim 1 of anything else.
"""
from __future__ import annotations

from .gaussian_diffusion import GaussianDiffusion
from .guidance import ClassifierFreeGuidance, guided_model
from .losses import discretized_gaussian_log_likelihood, mean_flat, normal_kl
from .respace import SpacedDiffusion
from .schedules import beta_schedule, space_timesteps


def create_diffusion(timestep_respacing="", noise_schedule: str = "linear", use_kl: bool = False,
                     sigma_small: bool = False, predict_xstart: bool = False, learn_sigma: bool = True,
                     rescale_learned_sigmas: bool = False, diffusion_steps: int = 1000,
                     channel_dim: int | None = None, predict_v: bool = False,
                     min_snr_gamma: float | None = None, prediction: str | None = None) -> SpacedDiffusion:
    """Build the diffusion the way DiT and Latte do; the defaults are the paper's settings.

    Args:
        timestep_respacing: which steps to use: ``""`` or ``None`` for all (training), ``"250"``
            (DDPM-250 sampling), ``"ddim50"`` (DDIM-50), ``"10,10,10"`` (sections), or a list of counts.
        noise_schedule: ``"linear"`` (β 1e-4 → 0.02 for 1000 steps) or ``"squaredcos_cap_v2"``.
        use_kl: train on the variational bound alone (×T) instead of MSE + VB.
        sigma_small: with ``learn_sigma=False``, use the small fixed variance β̃_t instead of β_t.
        predict_xstart: DiT's flag for ``prediction="x_start"``.
        learn_sigma: the network also outputs C variance channels (learned-range variance).
        rescale_learned_sigmas: scale the VB term by T/1000 (only differs from plain MSE + VB when T≠1000).
        diffusion_steps: T of the training process.
        channel_dim: override the channel-axis rule (dim 2 for 5-D, dim 1 otherwise).
        predict_v: a flag in DiT's style for ``prediction="velocity"``.
        min_snr_gamma: Min-SNR loss weighting with this γ (5 in Hang et al. 2023); None: none (the paper).
        prediction: what the network predicts: ``"epsilon"`` (the paper), ``"x_start"``, or ``"velocity"``
            (v = √ᾱ ε − √(1−ᾱ) x_0, Salimans & Ho: like ε when the noise is small and like x_0 when it is
            large, which a tiny model learns far faster). The one name of the config
            (``diffusion.prediction``) and of ``GaussianDiffusion``; the two flags say the same in DiT's
            keywords. Default: the flags' choice, else ``"epsilon"``.
    """
    if predict_xstart and predict_v:
        raise ValueError("choose one of predict_xstart and predict_v")
    flagged = "x_start" if predict_xstart else "velocity" if predict_v else None
    if prediction is None:
        prediction = flagged or "epsilon"
    elif flagged not in (None, prediction):
        raise ValueError(f"prediction={prediction!r} contradicts predict_{'xstart' if predict_xstart else 'v'}=True")
    betas = beta_schedule(noise_schedule, diffusion_steps)
    if use_kl:
        loss_type = "rescaled_kl"
    elif rescale_learned_sigmas:
        loss_type = "rescaled_mse"
    else:
        loss_type = "mse"
    if learn_sigma:
        var_type = "learned_range"
    else:
        var_type = "fixed_small" if sigma_small else "fixed_large"
    if timestep_respacing is None or timestep_respacing == "":
        timestep_respacing = [diffusion_steps]            # one section holding every step
    return SpacedDiffusion(space_timesteps(diffusion_steps, timestep_respacing), betas,
                           prediction=prediction,
                           var_type=var_type,
                           loss_type=loss_type, channel_dim=channel_dim, min_snr_gamma=min_snr_gamma)


__all__ = [
    "create_diffusion", "GaussianDiffusion", "SpacedDiffusion", "ClassifierFreeGuidance", "guided_model",
    "beta_schedule", "space_timesteps",
    "mean_flat", "normal_kl", "discretized_gaussian_log_likelihood",
]
