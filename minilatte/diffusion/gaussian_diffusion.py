"""Gaussian diffusion with a learned variance: the IDDPM recipe that DiT and Latte train with.

Forward process (fixed, no parameters)::

    q(x_t | x_0) = N( √ᾱ_t · x_0 , (1 − ᾱ_t) · I ),      ᾱ_t = ∏_{s≤t} (1 − β_s)

Reverse process (learned): the network sees x_t and t and outputs, along the channel axis,

* ε̂ — its guess of the noise in x_t (or x̂_0 with ``prediction="x_start"``), which fixes the mean
  of p(x_{t-1} | x_t) through the posterior q(x_{t-1} | x_t, x_0 = x̂_0);
* v ∈ [-1, 1] (with ``var_type="learned_range"``) — where the step's log-variance lies between
  log β̃_t (the posterior variance, the smallest sensible choice) and log β_t (the largest).

Training loss (``loss_type="mse"``, the paper's "hybrid" loss): ``‖ε − ε̂‖²`` + VB, where VB is
KL(q(x_{t-1} | x_t, x_0) ‖ p(x_{t-1} | x_t)) in bits. VB is computed with the mean *detached*, so
it only teaches the variance; the MSE alone teaches the mean.

Tensor layout — the one rule used everywhere in this package:

* a 5-D tensor is a batch of videos (B, F, C, H, W): channels are **dim 2** (Latte's layout);
* any other tensor, e.g. images (B, C, H, W), has its channels on **dim 1** (DiT's layout);
* pass ``channel_dim=k`` to override the rule and always use axis k.

With a learned variance the model's output has 2C channels on that axis: the first C are ε̂,
the last C are v. Timesteps ``t`` are a (B,) tensor of integer indices 0 … num_timesteps − 1.

Schedule tables are float64 numpy arrays (plot them in a notebook); every lookup returns float32
so the maths on the tensors runs in the model's precision, exactly as in IDDPM.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch

from ..progress import progress_bar
from .losses import discretized_gaussian_log_likelihood, mean_flat, normal_kl

PREDICTIONS = ("epsilon", "x_start", "velocity")
VAR_TYPES = ("learned_range", "fixed_small", "fixed_large")
LOSS_TYPES = ("mse", "rescaled_mse", "kl", "rescaled_kl")

# A denoiser: model(x_t, t, **model_kwargs) -> output with C or 2C channels.
Model = Callable[..., torch.Tensor]


def _extract(table: np.ndarray, t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``table[t]`` for each sample as float32, broadcast to ``shape`` (a view, no copy).

    The table is cast to float32 on the CPU before it moves, so this also works on devices
    without float64 support (Apple MPS).
    """
    values = torch.from_numpy(table).float().to(t.device)[t]          # (B,)
    return values.view(-1, *([1] * (len(shape) - 1))).expand(shape)  # (B, 1, …, 1) -> shape


def _nonzero_mask(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """1 where t > 0, 0 where t == 0, shaped (B, 1, …, 1): the last step adds no noise."""
    return (t != 0).float().view(-1, *([1] * (ndim - 1)))


class GaussianDiffusion:
    """Training and sampling utilities for one noise schedule.

    Args:
        betas: β_t for t = 0 … T-1, shape (T,), each in (0, 1].
        prediction: what the network's first C channels predict: ``"epsilon"`` (the paper),
            ``"x_start"`` or ``"velocity"`` (v = √ᾱ ε − √(1−ᾱ) x_0); the config's ``diffusion.prediction``.
        var_type: ``"learned_range"`` (the paper: the network outputs 2C channels), or a fixed
            variance: ``"fixed_small"`` (β̃_t) or ``"fixed_large"`` (β_t).
        loss_type: ``"mse"`` (MSE + VB, the paper), ``"rescaled_mse"`` (VB scaled by T/1000),
            ``"kl"`` or ``"rescaled_kl"`` (the variational bound alone, the latter times T).
        channel_dim: the channel axis; ``None`` applies the module's rule (dim 2 for 5-D videos,
            dim 1 otherwise).
        min_snr_gamma: weight the MSE of timestep t so that it equals an x_0-MSE weighted by
            min(SNR_t, γ) (Hang et al. 2023, "Min-SNR"): the many almost-noise-free steps, whose
            loss is easy and large in number, stop dominating. ``None`` (the paper): no weighting.
    """

    def __init__(self, betas, *, prediction: str = "epsilon", var_type: str = "learned_range",
                 loss_type: str = "mse", channel_dim: int | None = None, min_snr_gamma: float | None = None):
        for name, value, allowed in (("prediction", prediction, PREDICTIONS), ("var_type", var_type, VAR_TYPES),
                                     ("loss_type", loss_type, LOSS_TYPES)):
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")
        if min_snr_gamma is not None and not min_snr_gamma > 0:
            raise ValueError(f"min_snr_gamma={min_snr_gamma!r} must be > 0 (or None for no weighting)")
        self.prediction, self.var_type, self.loss_type = prediction, var_type, loss_type
        self.channel_dim, self.min_snr_gamma = channel_dim, min_snr_gamma

        self.betas = betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas <= 1)).all():
            raise ValueError("betas must be a 1-D array of values in (0, 1]")
        self.num_timesteps = len(betas)

        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)                                  # ᾱ_t
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])       # ᾱ_{t-1}, with ᾱ_{-1} = 1
        ab, ab_prev = self.alphas_cumprod, self.alphas_cumprod_prev

        # q(x_t | x_0) and its inversion x_0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t.
        self.sqrt_alphas_cumprod = np.sqrt(ab)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - ab)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / ab)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / ab - 1.0)

        # The posterior q(x_{t-1} | x_t, x_0) = N(coef1 · x_0 + coef2 · x_t, β̃_t).
        self.posterior_variance = betas * (1.0 - ab_prev) / (1.0 - ab)            # β̃_t
        # β̃_0 = 0, whose log is -inf: use β̃_1 in its place so the learned-range interpolation
        # and the KL stay finite at t = 0.
        self.posterior_log_variance_clipped = (
            np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
            if self.num_timesteps > 1 else np.array([]))
        self.posterior_mean_coef1 = betas * np.sqrt(ab_prev) / (1.0 - ab)
        self.posterior_mean_coef2 = (1.0 - ab_prev) * np.sqrt(alphas) / (1.0 - ab)

        # Per-step MSE weights. An ε-, x_0- or v-error is the x_0-error times SNR, 1 or SNR + 1
        # (SNR = ᾱ/(1−ᾱ)), so weighting the x_0-error by min(SNR, γ) divides by that factor.
        self.mse_weights = np.ones_like(ab)
        if min_snr_gamma is not None:
            snr = ab / (1.0 - ab)
            per_type = {"epsilon": snr, "x_start": np.ones_like(snr), "velocity": snr + 1.0}[prediction]
            self.mse_weights = np.minimum(snr, min_snr_gamma) / per_type

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_timesteps={self.num_timesteps}, prediction={self.prediction!r}, "
                f"var_type={self.var_type!r}, loss_type={self.loss_type!r})")

    # ------------------------------------------------------------------ layout
    def channel_axis(self, x: torch.Tensor) -> int:
        """The channel axis of ``x``: dim 2 of a 5-D video, dim 1 otherwise (or ``channel_dim``)."""
        if self.channel_dim is not None:
            return self.channel_dim
        return 2 if x.dim() == 5 else 1

    def _split_output(self, output: torch.Tensor, x: torch.Tensor):
        """Split the model output into (ε̂ or x̂_0, v); v is None for a fixed variance."""
        dim = self.channel_axis(x)
        C = x.shape[dim]
        learned = self.var_type == "learned_range"
        expected = list(x.shape)
        expected[dim] = 2 * C if learned else C
        if list(output.shape) != expected:
            hint = " (a learned variance needs 2C output channels: build the model with learn_sigma=True)" \
                if learned else " (a fixed variance needs C output channels: use learn_sigma=False)"
            raise ValueError(f"model output has shape {tuple(output.shape)}, expected {tuple(expected)} with "
                             f"channels on dim {dim}{hint}")
        if not learned:
            return output, None
        prediction, var_values = torch.split(output, C, dim=dim)
        return prediction, var_values

    # ------------------------------------------------------------------ forward process
    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Jump straight to step t: x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε, with ε ~ N(0, I) unless given."""
        if noise is None:
            noise = torch.randn_like(x_start)
        return (_extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
                + _extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise)

    def q_posterior_mean_variance(self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor):
        """(mean, variance, clipped log-variance) of the true posterior q(x_{t-1} | x_t, x_0).

        This is the distribution the reverse step tries to match; all three have x_t's shape.
        """
        mean = (_extract(self.posterior_mean_coef1, t, x_t.shape) * x_start
                + _extract(self.posterior_mean_coef2, t, x_t.shape) * x_t)
        variance = _extract(self.posterior_variance, t, x_t.shape)
        log_variance = _extract(self.posterior_log_variance_clipped, t, x_t.shape)
        return mean, variance, log_variance

    def _predict_xstart_from_eps(self, x_t, t, eps):
        """x̂_0 = x_t / √ᾱ_t − √(1/ᾱ_t − 1) · ε̂ (the forward formula solved for x_0)."""
        return (_extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
                - _extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * eps)

    def _predict_eps_from_xstart(self, x_t, t, pred_xstart):
        """ε̂ = (x_t / √ᾱ_t − x̂_0) / √(1/ᾱ_t − 1) (the same formula solved for ε)."""
        return ((_extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - pred_xstart)
                / _extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape))

    # ------------------------------------------------------------------ reverse process
    def p_mean_variance(self, model: Model, x: torch.Tensor, t: torch.Tensor, *, clip_denoised: bool = True,
                        model_kwargs: dict | None = None) -> dict:
        """Run the model once and turn its output into the reverse step p(x_{t-1} | x_t).

        Args:
            x: x_t, (B, F, C, H, W) or (B, C, H, W).
            t: (B,) timestep indices.
            clip_denoised: clamp x̂_0 to [-1, 1] — right for pixels, wrong for VAE latents (DiT and
                Latte sample latents with ``clip_denoised=False``).
        Returns:
            ``{"mean", "variance", "log_variance", "pred_xstart"}``, each of x's shape.
        """
        output = model(x, t, **(model_kwargs or {}))
        prediction, var_values = self._split_output(output, x)

        if var_values is not None:
            # v ∈ [-1, 1] picks a point between the two natural variances, in log space.
            min_log = _extract(self.posterior_log_variance_clipped, t, x.shape)   # log β̃_t
            max_log = _extract(np.log(self.betas), t, x.shape)                     # log β_t
            frac = (var_values + 1) / 2
            log_variance = frac * max_log + (1 - frac) * min_log
            variance = torch.exp(log_variance)
        else:
            if self.var_type == "fixed_large":
                # β_t, except β̃_1 at t = 0: β_0 is tiny and would give a poor decoder likelihood.
                table = np.append(self.posterior_variance[1], self.betas[1:])
                log_table = np.log(table)
            else:
                table, log_table = self.posterior_variance, self.posterior_log_variance_clipped
            variance, log_variance = _extract(table, t, x.shape), _extract(log_table, t, x.shape)

        def finish_xstart(x0):
            return x0.clamp(-1, 1) if clip_denoised else x0

        if self.prediction == "x_start":
            pred_xstart = finish_xstart(prediction)
        elif self.prediction == "velocity":   # v = √ᾱ ε − √(1−ᾱ) x_0  =>  x_0 = √ᾱ x_t − √(1−ᾱ) v
            pred_xstart = finish_xstart(_extract(self.sqrt_alphas_cumprod, t, x.shape) * x
                                        - _extract(self.sqrt_one_minus_alphas_cumprod, t, x.shape) * prediction)
        else:
            pred_xstart = finish_xstart(self._predict_xstart_from_eps(x, t, prediction))
        # The model's mean is the true posterior mean with x_0 replaced by the model's guess.
        mean, _, _ = self.q_posterior_mean_variance(pred_xstart, x, t)
        return {"mean": mean, "variance": variance, "log_variance": log_variance, "pred_xstart": pred_xstart}

    def p_sample(self, model: Model, x: torch.Tensor, t: torch.Tensor, *, clip_denoised: bool = True,
                 model_kwargs: dict | None = None, noise: torch.Tensor | None = None) -> dict:
        """One ancestral (DDPM) step: x_{t-1} = mean + σ · z, z ~ N(0, I), no noise at t = 0.

        ``noise`` fixes z (for tests); by default it is drawn with ``torch.randn_like``.
        Returns ``{"sample": x_{t-1}, "pred_xstart": x̂_0}``.
        """
        out = self.p_mean_variance(model, x, t, clip_denoised=clip_denoised,
                                   model_kwargs=model_kwargs)
        if noise is None:
            noise = torch.randn_like(x)
        sample = out["mean"] + _nonzero_mask(t, x.dim()) * torch.exp(0.5 * out["log_variance"]) * noise
        return {"sample": sample, "pred_xstart": out["pred_xstart"]}

    def ddim_sample(self, model: Model, x: torch.Tensor, t: torch.Tensor, *, clip_denoised: bool = True,
                    model_kwargs: dict | None = None, eta: float = 0.0, noise: torch.Tensor | None = None) -> dict:
        """One DDIM step (eq. 12 of Song et al.); ``eta=0`` is deterministic, ``eta=1`` is DDPM-like.

        x_{t-1} = √ᾱ_{t-1} · x̂_0 + √(1 − ᾱ_{t-1} − σ²) · ε̂ + σ · z,
        σ = η · √((1 − ᾱ_{t-1}) / (1 − ᾱ_t)) · √(1 − ᾱ_t / ᾱ_{t-1}).
        The learned variance channels are ignored. Returns ``{"sample", "pred_xstart"}``.
        """
        out = self.p_mean_variance(model, x, t, clip_denoised=clip_denoised,
                                   model_kwargs=model_kwargs)
        # Re-derive ε̂ from x̂_0 rather than using the raw output: x̂_0 may have been clipped
        # (or the model may predict x_0), and the two must stay consistent.
        eps = self._predict_eps_from_xstart(x, t, out["pred_xstart"])
        alpha_bar = _extract(self.alphas_cumprod, t, x.shape)
        alpha_bar_prev = _extract(self.alphas_cumprod_prev, t, x.shape)
        sigma = (eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar))
                 * torch.sqrt(1 - alpha_bar / alpha_bar_prev))
        if noise is None:
            noise = torch.randn_like(x)
        mean = out["pred_xstart"] * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev - sigma ** 2) * eps
        sample = mean + _nonzero_mask(t, x.dim()) * sigma * noise
        return {"sample": sample, "pred_xstart": out["pred_xstart"]}

    # ------------------------------------------------------------------ sampling loops
    def _reverse_loop(self, step: Callable, model: Model, shape, noise, device, progress) -> Iterator[dict]:
        """Start from pure noise and apply ``step(x, t)`` for t = T-1 … 0, yielding each result."""
        device = torch.device(device) if device is not None else _infer_device(model, noise)
        x = noise.to(device) if noise is not None else torch.randn(*shape, device=device)
        timesteps = list(range(self.num_timesteps))[::-1]
        if progress:
            timesteps = progress_bar(timesteps, desc="sampling", leave=False)
        for i in timesteps:
            t = torch.full((x.shape[0],), i, device=device, dtype=torch.long)
            with torch.no_grad():
                out = step(x, t)
            yield out
            x = out["sample"]

    def p_sample_loop_progressive(self, model: Model, shape, noise: torch.Tensor | None = None, *,
                                  clip_denoised: bool = True, model_kwargs: dict | None = None, device=None,
                                  progress: bool = False) -> Iterator[dict]:
        """Like ``p_sample_loop`` but yields every step's ``{"sample", "pred_xstart"}`` (for animations)."""
        def step(x, t):
            return self.p_sample(model, x, t, clip_denoised=clip_denoised,
                                 model_kwargs=model_kwargs)
        yield from self._reverse_loop(step, model, shape, noise, device, progress)

    def p_sample_loop(self, model: Model, shape, noise: torch.Tensor | None = None, *, clip_denoised: bool = True,
                      model_kwargs: dict | None = None, device=None, progress: bool = False) -> torch.Tensor:
        """Ancestral (DDPM) sampling over all ``num_timesteps`` steps; returns x_0 of ``shape``.

        ``noise`` is the starting x_T (drawn if None); the per-step noise comes from torch's global RNG.
        ``device`` defaults to the device of ``noise``, else of the model's parameters, else CPU.
        """
        out = None
        for out in self.p_sample_loop_progressive(model, shape, noise, clip_denoised=clip_denoised,
                                                  model_kwargs=model_kwargs,
                                                  device=device, progress=progress):
            pass
        return out["sample"]

    def ddim_sample_loop_progressive(self, model: Model, shape, noise: torch.Tensor | None = None, *,
                                     clip_denoised: bool = True, model_kwargs: dict | None = None, device=None, progress: bool = False,
                                     eta: float = 0.0) -> Iterator[dict]:
        """Like ``ddim_sample_loop`` but yields every step's ``{"sample", "pred_xstart"}``."""
        def step(x, t):
            return self.ddim_sample(model, x, t, clip_denoised=clip_denoised,
                                    model_kwargs=model_kwargs, eta=eta)
        yield from self._reverse_loop(step, model, shape, noise, device, progress)

    def ddim_sample_loop(self, model: Model, shape, noise: torch.Tensor | None = None, *, clip_denoised: bool = True,
                         model_kwargs: dict | None = None, device=None, progress: bool = False, eta: float = 0.0) -> torch.Tensor:
        """DDIM sampling over all ``num_timesteps`` steps (respace, e.g. ``"50"`` as Latte samples, to make it fast)."""
        out = None
        for out in self.ddim_sample_loop_progressive(model, shape, noise, clip_denoised=clip_denoised,
                                                     model_kwargs=model_kwargs,
                                                     device=device, progress=progress, eta=eta):
            pass
        return out["sample"]

    # ------------------------------------------------------------------ training
    def _vb_terms_bpd(self, model: Model, x_start, x_t, t, *, clip_denoised: bool = True,
                      model_kwargs: dict | None = None) -> dict:
        """One term of the variational bound, per sample, in bits per dimension: shape (B,).

        For t > 0: KL(q(x_{t-1} | x_t, x_0) ‖ p(x_{t-1} | x_t)). For t = 0 there is no x_{-1}:
        the term is the decoder's negative log-likelihood of the (8-bit) data instead.
        """
        true_mean, _, true_log_variance = self.q_posterior_mean_variance(x_start, x_t, t)
        out = self.p_mean_variance(model, x_t, t, clip_denoised=clip_denoised, model_kwargs=model_kwargs)
        kl = normal_kl(true_mean, true_log_variance, out["mean"], out["log_variance"])
        kl = mean_flat(kl) / np.log(2.0)
        decoder_nll = -discretized_gaussian_log_likelihood(x_start, out["mean"], 0.5 * out["log_variance"])
        decoder_nll = mean_flat(decoder_nll) / np.log(2.0)
        return {"output": torch.where(t == 0, decoder_nll, kl), "pred_xstart": out["pred_xstart"]}

    def training_losses(self, model: Model, x_start: torch.Tensor, t: torch.Tensor,
                        model_kwargs: dict | None = None, noise: torch.Tensor | None = None) -> dict:
        """The per-sample training loss at timesteps ``t`` (drawn uniformly by the caller).

        Args:
            x_start: clean data x_0, (B, F, C, H, W) or (B, C, H, W).
            t: (B,) timestep indices.
            noise: the ε used to make x_t (drawn if None).
        Returns:
            For the MSE loss types ``{"loss", "mse", "vb"}`` (``"vb"`` only with a learned variance),
            for the KL types ``{"loss"}``; every value has shape (B,). Average ``"loss"`` yourself.
        """
        model_kwargs = model_kwargs or {}
        if noise is None:
            noise = torch.randn_like(x_start)
        x_t = self.q_sample(x_start, t, noise=noise)

        if self.loss_type in ("kl", "rescaled_kl"):
            loss = self._vb_terms_bpd(model, x_start, x_t, t, clip_denoised=False, model_kwargs=model_kwargs)["output"]
            if self.loss_type == "rescaled_kl":
                loss = loss * self.num_timesteps     # one term stands in for the sum of all T terms
            return {"loss": loss}

        output = model(x_t, t, **model_kwargs)
        prediction, var_values = self._split_output(output, x_t)
        terms = {}
        if var_values is not None:
            # Rebuild the output with the mean part detached and feed it back through the VB as
            # a constant "model": gradients of VB then reach only the variance channels. The
            # mean is learned from the MSE alone (the VB would otherwise pull it around).
            frozen = torch.cat([prediction.detach(), var_values], dim=self.channel_axis(x_t))
            terms["vb"] = self._vb_terms_bpd(lambda *args, **kwargs: frozen, x_start, x_t, t,
                                             clip_denoised=False)["output"]
            if self.loss_type == "rescaled_mse":
                terms["vb"] = terms["vb"] * (self.num_timesteps / 1000.0)

        if self.prediction == "velocity":
            target = (_extract(self.sqrt_alphas_cumprod, t, x_t.shape) * noise
                      - _extract(self.sqrt_one_minus_alphas_cumprod, t, x_t.shape) * x_start)
        else:
            target = x_start if self.prediction == "x_start" else noise
        terms["mse"] = mean_flat((target - prediction) ** 2)
        if self.min_snr_gamma is not None:
            terms["mse"] = terms["mse"] * _extract(self.mse_weights, t, terms["mse"].shape)
        terms["loss"] = terms["mse"] + terms["vb"] if "vb" in terms else terms["mse"]
        return terms


def _infer_device(model: Model, noise: torch.Tensor | None) -> torch.device:
    """Where to sample: the starting noise's device, else the model's parameters' device, else the CPU.

    Looks through bound methods (``model.forward_with_cfg``) and wrappers that keep the network
    in a ``.model`` attribute (``guided_model``).
    """
    if noise is not None:
        return noise.device
    for _ in range(8):
        if isinstance(model, torch.nn.Module):
            param = next(model.parameters(), None)
            return param.device if param is not None else torch.device("cpu")
        inner = getattr(model, "__self__", None)
        if inner is None:
            inner = getattr(model, "model", None)
        if inner is None:
            break
        model = inner
    return torch.device("cpu")
