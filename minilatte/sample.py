"""Sampling videos from a trained model: DDPM or DDIM, with classifier-free guidance."""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_weights_into, read_config, read_weights, resolve_checkpoint
from .config import DiffusionSection, RunConfig, build_config
from .models import Latte
from .vae import LatentCodec


def sampling_diffusion(diffusion_cfg: DiffusionSection, sampler: str | None = None, steps: int | None = None):
    """The respaced diffusion for sampling with ``steps`` steps, for DDPM and DDIM alike.

    As in the official Latte sampling script (sample/sample.py: ``create_diffusion(str(steps))``), both
    samplers use the evenly spaced steps of one section (``"50"``: 0, 20, 41, …, 999), not DDIM's
    integer stride (``"ddim50"``: 0, 20, …, 980); build ``diffusion_cfg.build("ddim50")`` for the latter.
    """
    sampler = sampler or diffusion_cfg.sampler
    steps = diffusion_cfg.sampling_steps if steps is None else steps
    if sampler not in ("ddpm", "ddim"):
        raise ValueError(f"sampler={sampler!r} is not one of 'ddpm', 'ddim'")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= diffusion_cfg.diffusion_steps:
        raise ValueError(f"steps={steps!r} must be an integer in [1, {diffusion_cfg.diffusion_steps}] "
                         "(diffusion_steps)")
    return diffusion_cfg.build(str(steps))


def _check_labels(latte_cfg, num_videos: int, labels: torch.Tensor | None, cfg_scale: float) -> None:
    if not isinstance(num_videos, int) or isinstance(num_videos, bool) or num_videos < 1:
        raise ValueError(f"num_videos={num_videos!r} must be a positive integer")
    if not isinstance(cfg_scale, (int, float)) or isinstance(cfg_scale, bool) or cfg_scale < 0:
        raise ValueError(f"cfg_scale={cfg_scale!r} must be a number >= 0 (1 = no guidance)")
    if latte_cfg.num_classes and labels is None:
        raise ValueError(f"labels are required: the model is class-conditional with {latte_cfg.num_classes} classes")
    if labels is None:
        if cfg_scale > 1.0:
            raise ValueError(f"cfg_scale={cfg_scale} needs class labels, but the model is unconditional "
                             "(num_classes=0); use cfg_scale=1")
        return
    if not latte_cfg.num_classes:
        raise ValueError("labels given but the model is unconditional (num_classes=0)")
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor of shape (num_videos,), got {labels!r:.60}")
    if tuple(labels.shape) != (num_videos,):
        raise ValueError(f"labels must have shape (num_videos,) = ({num_videos},); got {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= latte_cfg.num_classes:
        raise ValueError(f"class labels must be in [0, {latte_cfg.num_classes - 1}]")
    if cfg_scale > 1.0 and not latte_cfg.has_null_class:
        raise ValueError(f"cfg_scale={cfg_scale} needs the null class, which a model trained with "
                         "class_dropout_prob=0 does not have; use cfg_scale=1")


@torch.no_grad()
def sample_videos(model: Latte, diffusion_cfg: DiffusionSection, num_videos: int, labels: torch.Tensor | None = None,
                  sampler: str | None = None, steps: int | None = None, cfg_scale: float | None = None,
                  generator: torch.Generator | None = None, seed: int = 0, progress: bool = True,
                  clip_denoised: bool = True) -> torch.Tensor:
    """Generate ``num_videos`` videos: (B, F, C, H, W), values as the model was trained on (pixels in [-1, 1]).

    With ``cfg_scale > 1`` and class labels, the batch is doubled ([cond; null class]) and
    ``model.forward_with_cfg`` guides the ε channels. ``clip_denoised`` clamps each x_0 estimate to
    [-1, 1]: right for pixels, wrong for VAE latents (pass False there, as Latte and DiT do).
    """
    latte_cfg = model.config
    device = next(model.parameters()).device
    sampler = sampler or diffusion_cfg.sampler
    cfg_scale = diffusion_cfg.cfg_scale if cfg_scale is None else cfg_scale
    diffusion = sampling_diffusion(diffusion_cfg, sampler, steps)
    _check_labels(latte_cfg, num_videos, labels, cfg_scale)
    shape = (num_videos, latte_cfg.num_frames, latte_cfg.in_channels, latte_cfg.input_size, latte_cfg.input_size)
    generator = generator or torch.Generator(device).manual_seed(seed)
    noise = torch.randn(shape, generator=generator, device=device)
    model_fn, kwargs = model, {}
    if labels is not None:
        kwargs["y"] = labels.to(device)
        if cfg_scale > 1.0:
            noise = torch.cat([noise, noise])
            kwargs = {"y": torch.cat([kwargs["y"], torch.full_like(kwargs["y"], latte_cfg.num_classes)]),
                      "cfg_scale": cfg_scale}
            model_fn = model.forward_with_cfg
    loop = diffusion.ddim_sample_loop if sampler == "ddim" else diffusion.p_sample_loop
    was_training = model.training
    model.eval()
    # The sampler draws its per-step noise from torch's global RNG: seed it here without
    # disturbing the caller's random state.
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator, device=device).item()))
        out = loop(model_fn, noise.shape, noise=noise, clip_denoised=clip_denoised, model_kwargs=kwargs,
                   device=device, progress=progress)
    model.train(was_training)
    return out[:num_videos]


@torch.no_grad()
def generate_clips(model: Latte, cfg: RunConfig, num_samples: int, seed: int = 0, batch_size: int = 64,
                   sampler: str | None = None, steps: int | None = None, cfg_scale: float | None = None,
                   progress: bool = True, labels: torch.Tensor | None = None, codec: LatentCodec | None = None):
    """``num_samples`` sampled clips (N, F, C, H, W) in [-1, 1], decoded to pixels for latent-space runs,
    and the class labels asked for (or None): sampling as the run ``cfg`` configures it, then decoding.

    Class-conditional models get ``labels``, by default the classes in turn (0, 1, …, K−1, 0, …), so
    every class is equally represented. One generator seeded by ``seed`` drives all batches. Latent
    samples are decoded by ``codec``, by default the run's VAE (``data.vae``) loaded here.
    """
    device = next(model.parameters()).device
    num_classes = model.config.num_classes
    if labels is None and num_classes:
        labels = torch.arange(num_samples) % num_classes
    generator = torch.Generator(device).manual_seed(seed)
    if cfg.data.vae and codec is None:
        codec = LatentCodec.from_pretrained(cfg.data.vae).to(device)
    out = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        videos = sample_videos(model, cfg.diffusion, n, labels=None if labels is None else labels[start:start + n],
                               sampler=sampler, steps=steps, cfg_scale=cfg_scale, generator=generator,
                               progress=progress, clip_denoised=not cfg.data.vae)
        out.append((codec.decode(videos) if cfg.data.vae else videos).clamp(-1, 1).cpu())
    return torch.cat(out), labels


def load_for_sampling(checkpoint: str | Path, device: str | torch.device = "cpu"):
    """(EMA model, RunConfig) of a checkpoint: a run folder, a checkpoint folder, or an exported one.

    Only ``ema.safetensors`` and ``config.yaml`` are read (see :func:`minilatte.checkpoint.export_for_sampling`).
    For latent-space runs, decode the samples with ``LatentCodec.from_pretrained(cfg.data.vae)``.
    """
    path = resolve_checkpoint(checkpoint)
    cfg = build_config(read_config(path))
    model = Latte(cfg.latte_config())
    load_weights_into(model, read_weights(path / "ema.safetensors"), path / "ema.safetensors")
    return model.to(device).eval(), cfg
