"""Gaussian diffusion with the IDDPM/DiT interface: ``create_diffusion(timestep_respacing, ...)``."""
from .gaussian import GaussianDiffusion, mean_flat
from .respace import SpacedDiffusion
from .schedules import beta_schedule, space_timesteps


def create_diffusion(timestep_respacing="", noise_schedule: str = "linear", use_kl: bool = False,
                     sigma_small: bool = False, predict_xstart: bool = False, learn_sigma: bool = True,
                     rescale_learned_sigmas: bool = False, diffusion_steps: int = 1000) -> SpacedDiffusion:
    """The diffusion of DiT/Latte; the paper's settings are the defaults.

    ``timestep_respacing``: ``""`` (all steps, for training), ``"250"`` (DDPM-250 sampling) or
    ``"ddim50"``. Learned σ uses the hybrid loss MSE + VB; ``predict_xstart`` makes the network
    predict x_0 instead of ε.
    """
    betas = beta_schedule(noise_schedule, diffusion_steps)
    loss_type = "rescaled_kl" if use_kl else "rescaled_mse" if rescale_learned_sigmas else "mse"
    var_type = "learned_range" if learn_sigma else ("fixed_small" if sigma_small else "fixed_large")
    spacing = timestep_respacing or [diffusion_steps]
    return SpacedDiffusion(space_timesteps(diffusion_steps, spacing), betas,
                           mean_type="x_start" if predict_xstart else "epsilon", var_type=var_type,
                           loss_type=loss_type)


__all__ = ["create_diffusion", "GaussianDiffusion", "SpacedDiffusion", "beta_schedule", "space_timesteps", "mean_flat"]
