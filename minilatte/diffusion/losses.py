"""The pieces of the variational bound (VB): Gaussian KL and the decoder likelihood.

All functions work elementwise on tensors of any shape and return values in **nats**; the
diffusion class divides by log 2 to report bits, the unit of the IDDPM/DiT papers.
"""
from __future__ import annotations

import math

import torch


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    """Mean over every axis except the batch: (B, ...) -> (B,).

    For a video (B, F, C, H, W) that is one number per video, averaged over frames, channels and
    pixels, so the loss scale does not depend on the clip length or resolution.
    """
    return x.mean(dim=list(range(1, x.dim())))


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL( N(mean1, e^logvar1) ‖ N(mean2, e^logvar2) ), elementwise, with broadcasting.

    Closed form for two diagonal Gaussians:
    ½ [ log σ₂² − log σ₁² + σ₁²/σ₂² + (μ₁ − μ₂)²/σ₂² − 1 ].
    Plain Python numbers are accepted for any argument (e.g. a standard-normal prior: 0.0, 0.0).
    """
    ref = next(a for a in (mean1, logvar1, mean2, logvar2) if isinstance(a, torch.Tensor))
    logvar1, logvar2 = (torch.as_tensor(v).to(ref) for v in (logvar1, logvar2))
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """Φ(x), the standard normal CDF, via the tanh approximation (the one GELU uses).

    Kept instead of the exact ``erf`` form so that the decoder NLL is the same number as in
    IDDPM/DiT/Latte; the two differ by less than 1e-3.
    """
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor,
                                        log_scales: torch.Tensor) -> torch.Tensor:
    """log p(x) of 8-bit data under N(means, e^(2·log_scales)), elementwise (nats).

    The data were integers 0…255 rescaled to [-1, 1], so each value stands for a bin of width
    2/255: its probability is the Gaussian mass in [x − 1/255, x + 1/255]. The two edge bins
    take the whole tail (everything below −1, everything above 1) so the bins sum to one.
    This is the VB term L_0 (the "decoder") at the last reverse step t = 0.
    """
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_upper = approx_standard_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_lower = approx_standard_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    # Clamp before the log: far-out bins have probability that underflows to 0.
    log_cdf_upper = torch.log(cdf_upper.clamp(min=1e-12))                # lowest bin: P(X ≤ upper edge)
    log_one_minus_cdf_lower = torch.log((1.0 - cdf_lower).clamp(min=1e-12))  # highest bin: P(X ≥ lower edge)
    log_bin = torch.log((cdf_upper - cdf_lower).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_upper,
                       torch.where(x > 0.999, log_one_minus_cdf_lower, log_bin))
