"""Gaussian diffusion with a learned variance: the DiT/IDDPM recipe that Latte trains with.

Forward process: ``q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)``. The network sees ``x_t`` and ``t`` and
predicts ε (or x_0) plus, with a learned variance, values v ∈ [-1, 1] that interpolate the reverse
step's log-variance between the posterior variance β̃_t and β_t.

Loss (``loss_type="mse"``, the paper's): ``MSE(ε, ε̂) + VB``, where VB is the KL between the true
posterior q(x_{t-1} | x_t, x_0) and the model's step, computed with the *detached* mean — the VB
term only teaches the variance.

Tensor layout: video (B, F, C, H, W) has its channels on dim 2, images (B, C, H, W) on dim 1;
the model's output has 2C channels there when the variance is learned (ε first).
All schedule tables are float64 numpy arrays; values are looked up per sample and cast to float32.
"""
from __future__ import annotations

import numpy as np
import torch

from .likelihood import discretized_gaussian_log_likelihood, normal_kl

MEAN_TYPES = ("epsilon", "x_start")
VAR_TYPES = ("learned_range", "fixed_small", "fixed_large")
LOSS_TYPES = ("mse", "rescaled_mse", "kl", "rescaled_kl")


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    """Mean over every axis but the batch: (B, ...) -> (B,)."""
    return x.mean(dim=list(range(1, x.dim())))


def channel_dim(x: torch.Tensor) -> int:
    """Channels are dim 2 of a video (B, F, C, H, W) and dim 1 of an image batch (B, C, H, W)."""
    return 2 if x.dim() == 5 else 1


def extract(table: np.ndarray, t: torch.Tensor, shape) -> torch.Tensor:
    """table[t] for each sample, shaped (B, 1, 1, ...) to broadcast against ``shape``."""
    values = torch.from_numpy(table).to(t.device)[t].float()
    return values.view(-1, *([1] * (len(shape) - 1)))


class GaussianDiffusion:
    def __init__(self, betas: np.ndarray, mean_type: str = "epsilon", var_type: str = "learned_range",
                 loss_type: str = "mse"):
        for name, value, allowed in (("mean_type", mean_type, MEAN_TYPES), ("var_type", var_type, VAR_TYPES),
                                     ("loss_type", loss_type, LOSS_TYPES)):
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")
        self.mean_type, self.var_type, self.loss_type = mean_type, var_type, loss_type
        self.betas = betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas <= 1)).all():
            raise ValueError("betas must be a 1-D array of values in (0, 1]")
        self.num_timesteps = len(betas)

        alphas = 1.0 - betas
        self.alphas_cumprod = ac = np.cumprod(alphas)                   # ᾱ_t
        self.alphas_cumprod_prev = ac_prev = np.append(1.0, ac[:-1])     # ᾱ_{t-1}
        self.sqrt_alphas_cumprod = np.sqrt(ac)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - ac)
        self.log_one_minus_alphas_cumprod = np.log(1.0 - ac)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / ac)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / ac - 1)
        # Posterior q(x_{t-1} | x_t, x_0) = N(coef1·x_0 + coef2·x_t, β̃_t).
        self.posterior_variance = betas * (1.0 - ac_prev) / (1.0 - ac)
        # β̃_0 = 0: its log is clipped to β̃_1 so the learned interpolation stays finite.
        self.posterior_log_variance_clipped = (
            np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
            if len(betas) > 1 else np.array([]))
        self.posterior_mean_coef1 = betas * np.sqrt(ac_prev) / (1.0 - ac)
        self.posterior_mean_coef2 = (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac)

    # ------------------------------------------------------------------ forward process
    def q_mean_variance(self, x_start, t):
        """Mean, variance and log-variance of q(x_t | x_0)."""
        return (extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start,
                extract(1.0 - self.alphas_cumprod, t, x_start.shape),
                extract(self.log_one_minus_alphas_cumprod, t, x_start.shape))

    def q_sample(self, x_start, t, noise=None):
        """Draw x_t ~ q(x_t | x_0) = √ᾱ_t x_0 + √(1 − ᾱ_t) ε."""
        noise = torch.randn_like(x_start) if noise is None else noise
        return (extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
                + extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise)

    def q_posterior_mean_variance(self, x_start, x_t, t):
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0)."""
        mean = (extract(self.posterior_mean_coef1, t, x_t.shape) * x_start
                + extract(self.posterior_mean_coef2, t, x_t.shape) * x_t)
        return (mean, extract(self.posterior_variance, t, x_t.shape),
                extract(self.posterior_log_variance_clipped, t, x_t.shape))

    def _predict_xstart_from_eps(self, x_t, t, eps):
        return (extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
                - extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * eps)

    def _predict_eps_from_xstart(self, x_t, t, pred_xstart):
        return ((extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - pred_xstart)
                / extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape))

    # ------------------------------------------------------------------ reverse process
    def p_mean_variance(self, model, x, t, clip_denoised=True, denoised_fn=None, model_kwargs=None):
        """The model's reverse step p(x_{t-1} | x_t): {"mean", "variance", "log_variance", "pred_xstart"}."""
        output = model(x, t, **(model_kwargs or {}))
        dim, C = channel_dim(x), x.shape[channel_dim(x)]
        if self.var_type == "learned_range":
            output, var_values = torch.split(output, C, dim=dim)
            min_log = extract(self.posterior_log_variance_clipped, t, x.shape)   # log β̃_t
            max_log = extract(np.log(self.betas), t, x.shape)                     # log β_t
            frac = (var_values + 1) / 2                                           # v ∈ [-1, 1] -> [0, 1]
            log_variance = frac * max_log + (1 - frac) * min_log
            variance = torch.exp(log_variance)
        else:
            if self.var_type == "fixed_large":   # β_t, with β̃_1 at t=0 for a better decoder likelihood
                table = np.append(self.posterior_variance[1], self.betas[1:])
                log_table = np.log(table)
            else:
                table, log_table = self.posterior_variance, self.posterior_log_variance_clipped
            variance, log_variance = extract(table, t, x.shape), extract(log_table, t, x.shape)

        def process(x0):
            x0 = denoised_fn(x0) if denoised_fn is not None else x0
            return x0.clamp(-1, 1) if clip_denoised else x0

        if self.mean_type == "x_start":
            pred_xstart = process(output)
        else:
            pred_xstart = process(self._predict_xstart_from_eps(x, t, output))
        mean, _, _ = self.q_posterior_mean_variance(pred_xstart, x, t)
        return {"mean": mean, "variance": variance, "log_variance": log_variance, "pred_xstart": pred_xstart}

    def p_sample(self, model, x, t, clip_denoised=True, denoised_fn=None, model_kwargs=None, noise=None):
        """One ancestral step x_t -> x_{t-1} (no noise is added at t = 0)."""
        out = self.p_mean_variance(model, x, t, clip_denoised, denoised_fn, model_kwargs)
        noise = torch.randn_like(x) if noise is None else noise
        nonzero = (t != 0).float().view(-1, *([1] * (x.dim() - 1)))
        return {"sample": out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * noise,
                "pred_xstart": out["pred_xstart"]}

    def ddim_sample(self, model, x, t, clip_denoised=True, denoised_fn=None, model_kwargs=None, eta=0.0,
                    noise=None):
        """One DDIM step (eq. 12 of the DDIM paper); ``eta=0`` is deterministic."""
        out = self.p_mean_variance(model, x, t, clip_denoised, denoised_fn, model_kwargs)
        eps = self._predict_eps_from_xstart(x, t, out["pred_xstart"])   # re-derived: x0 may have been clipped
        alpha_bar = extract(self.alphas_cumprod, t, x.shape)
        alpha_bar_prev = extract(self.alphas_cumprod_prev, t, x.shape)
        sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
        noise = torch.randn_like(x) if noise is None else noise
        mean = out["pred_xstart"] * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev - sigma ** 2) * eps
        nonzero = (t != 0).float().view(-1, *([1] * (x.dim() - 1)))
        return {"sample": mean + nonzero * sigma * noise, "pred_xstart": out["pred_xstart"]}

    def _loop(self, step_fn, shape, noise, device, progress):
        device = device or "cpu"
        x = torch.randn(*shape, device=device) if noise is None else noise.to(device)
        indices = list(range(self.num_timesteps))[::-1]
        if progress:
            from tqdm.auto import tqdm
            indices = tqdm(indices, desc="sampling", leave=False)
        for i in indices:
            t = torch.full((shape[0],), i, device=device, dtype=torch.long)
            with torch.no_grad():
                out = step_fn(x, t)
            yield out
            x = out["sample"]

    def p_sample_loop_progressive(self, model, shape, noise=None, clip_denoised=True, denoised_fn=None,
                                  model_kwargs=None, device=None, progress=False):
        """Yield every step's {"sample", "pred_xstart"} from pure noise down to t = 0."""
        step = lambda x, t: self.p_sample(model, x, t, clip_denoised, denoised_fn, model_kwargs)  # noqa: E731
        yield from self._loop(step, shape, noise, device, progress)

    def p_sample_loop(self, model, shape, noise=None, clip_denoised=True, denoised_fn=None, model_kwargs=None,
                      device=None, progress=False):
        """Ancestral (DDPM) sampling: returns x_0 of ``shape``."""
        for out in self.p_sample_loop_progressive(model, shape, noise, clip_denoised, denoised_fn,
                                                  model_kwargs, device, progress):
            pass
        return out["sample"]

    def ddim_sample_loop_progressive(self, model, shape, noise=None, clip_denoised=True, denoised_fn=None,
                                     model_kwargs=None, device=None, progress=False, eta=0.0):
        step = lambda x, t: self.ddim_sample(model, x, t, clip_denoised, denoised_fn, model_kwargs, eta)  # noqa: E731
        yield from self._loop(step, shape, noise, device, progress)

    def ddim_sample_loop(self, model, shape, noise=None, clip_denoised=True, denoised_fn=None, model_kwargs=None,
                         device=None, progress=False, eta=0.0):
        """DDIM sampling: returns x_0 of ``shape``."""
        for out in self.ddim_sample_loop_progressive(model, shape, noise, clip_denoised, denoised_fn,
                                                     model_kwargs, device, progress, eta):
            pass
        return out["sample"]

    # ------------------------------------------------------------------ training
    def _vb_terms_bpd(self, model, x_start, x_t, t, clip_denoised=True, model_kwargs=None):
        """The VB term in bits per dimension: KL(q || p) for t > 0, the decoder NLL at t = 0."""
        true_mean, _, true_log_var = self.q_posterior_mean_variance(x_start, x_t, t)
        out = self.p_mean_variance(model, x_t, t, clip_denoised, model_kwargs=model_kwargs)
        kl = mean_flat(normal_kl(true_mean, true_log_var, out["mean"], out["log_variance"])) / np.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x_start, out["mean"], 0.5 * out["log_variance"])
        nll = mean_flat(nll) / np.log(2.0)
        return {"output": torch.where(t == 0, nll, kl), "pred_xstart": out["pred_xstart"]}

    def training_losses(self, model, x_start, t, model_kwargs=None, noise=None) -> dict[str, torch.Tensor]:
        """Per-sample losses (B,) for timesteps ``t``: {"loss", "mse", "vb"} (only "loss" for KL losses)."""
        model_kwargs = model_kwargs or {}
        noise = torch.randn_like(x_start) if noise is None else noise
        x_t = self.q_sample(x_start, t, noise)
        if self.loss_type in ("kl", "rescaled_kl"):
            loss = self._vb_terms_bpd(model, x_start, x_t, t, clip_denoised=False, model_kwargs=model_kwargs)["output"]
            return {"loss": loss * (self.num_timesteps if self.loss_type == "rescaled_kl" else 1)}

        output = model(x_t, t, **model_kwargs)
        terms = {}
        if self.var_type == "learned_range":
            dim, C = channel_dim(x_t), x_t.shape[channel_dim(x_t)]
            output, var_values = torch.split(output, C, dim=dim)
            # The VB term sees the mean as a constant: it trains the variance only.
            frozen = torch.cat([output.detach(), var_values], dim=dim)
            terms["vb"] = self._vb_terms_bpd(lambda *args, **kwargs: frozen, x_start, x_t, t, clip_denoised=False)["output"]
            if self.loss_type == "rescaled_mse":
                terms["vb"] = terms["vb"] * self.num_timesteps / 1000.0
        target = x_start if self.mean_type == "x_start" else noise
        terms["mse"] = mean_flat((target - output) ** 2)
        terms["loss"] = terms["mse"] + terms["vb"] if "vb" in terms else terms["mse"]
        return terms
