"""Sampling videos from a trained model: DDPM or DDIM, with classifier-free guidance over class labels
or, for a text-to-video model, over captions (prompts) against the null caption."""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_weights_into, read_config, read_weights, resolve_checkpoint
from .config import DiffusionSection, RunConfig, build_config
from .data.captioned_folder import CaptionedVideoFolder
from .data.captions import CaptionedSynthetic
from .data.synthetic import SYNTHETIC, synthetic_dataset
from .models import Latte
from .text_encoders import WordEncoder, text_encoder
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


def _check_prompts(latte_cfg, num_videos: int, labels, prompts, encoder, cfg_scale: float) -> None:
    """Prompts exactly for a text model: one str per video, a text encoder, words it knows."""
    if latte_cfg.conditioning != "text":
        if prompts is not None:
            kind = "class-conditional" if latte_cfg.num_classes else "unconditional"
            raise ValueError(f"prompts given but the model is {kind}; prompts need a text-to-video model "
                             "(conditioning='text')" + (", use labels" if latte_cfg.num_classes else ""))
        return
    if labels is not None:
        raise ValueError("labels given but the model is a text-to-video model: give prompts (captions) instead")
    if prompts is None:
        raise ValueError("prompts are required: the model is a text-to-video model (conditioning='text')")
    if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
        raise TypeError("prompts must be a list of str, one per video")
    if len(prompts) != num_videos:
        raise ValueError(f"prompts must hold num_videos={num_videos} captions; got {len(prompts)}")
    for i, text in enumerate(prompts):
        if not text.strip():
            raise ValueError(f"prompt {i} ({text!r}) is empty; a prompt says what the video shows")
    if encoder is None:
        raise ValueError("prompts need the run's text encoder: pass text_encoder=load_text_encoder(cfg)")
    if isinstance(encoder, WordEncoder):
        encoder.check_known(prompts)
    if cfg_scale > 1.0 and not latte_cfg.class_dropout_prob:
        raise ValueError(f"cfg_scale={cfg_scale} needs the null caption, which a model trained with "
                         "class_dropout_prob=0 never learned; use cfg_scale=1")


def _check_labels(latte_cfg, num_videos: int, labels: torch.Tensor | None, cfg_scale: float) -> None:
    if not isinstance(num_videos, int) or isinstance(num_videos, bool) or num_videos < 1:
        raise ValueError(f"num_videos={num_videos!r} must be a positive integer")
    if not isinstance(cfg_scale, (int, float)) or isinstance(cfg_scale, bool) or cfg_scale < 0:
        raise ValueError(f"cfg_scale={cfg_scale!r} must be a number >= 0 (1 = no guidance)")
    if latte_cfg.conditioning == "text":
        return                                      # _check_prompts
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
                  clip_denoised: bool = True, prompts: list[str] | None = None,
                  text_encoder: torch.nn.Module | None = None) -> torch.Tensor:
    """Generate ``num_videos`` videos: (B, F, C, H, W), values as the model was trained on (pixels in [-1, 1]).

    With ``cfg_scale > 1`` and class labels, the batch is doubled ([cond; null class]) and
    ``model.forward_with_cfg`` guides the ε channels. ``clip_denoised`` clamps each x_0 estimate to
    [-1, 1]: right for pixels, wrong for VAE latents (pass False there, as Latte and DiT do).

    A text-to-video model takes ``prompts`` (one caption per video) and the run's ``text_encoder``
    (:func:`load_text_encoder`); guidance pairs each caption with the null caption that caption dropout
    trained (``model.null_caption``). The word encoder refuses words it does not know, naming them.
    """
    latte_cfg = model.config
    device = next(model.parameters()).device
    sampler = sampler or diffusion_cfg.sampler
    cfg_scale = diffusion_cfg.cfg_scale if cfg_scale is None else cfg_scale
    diffusion = sampling_diffusion(diffusion_cfg, sampler, steps)
    _check_labels(latte_cfg, num_videos, labels, cfg_scale)
    _check_prompts(latte_cfg, num_videos, labels, prompts, text_encoder, cfg_scale)
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
    if prompts is not None:
        tokens, mask = text_encoder(list(prompts))
        kwargs = {"text": tokens.to(device), "text_mask": mask.to(device)}
        if cfg_scale > 1.0:
            noise = torch.cat([noise, noise])
            null, null_mask = model.null_caption(kwargs["text"], kwargs["text_mask"])
            kwargs = {"y": None, "text": torch.cat([kwargs["text"], null]),
                      "text_mask": torch.cat([kwargs["text_mask"], null_mask]), "cfg_scale": cfg_scale}
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
                   progress: bool = True, labels: torch.Tensor | None = None, codec: LatentCodec | None = None,
                   prompts: list[str] | None = None, text_encoder: torch.nn.Module | None = None):
    """``num_samples`` sampled clips (N, F, C, H, W) in [-1, 1], decoded to pixels for latent-space runs,
    and the class labels asked for (or None): sampling as the run ``cfg`` configures it, then decoding.

    Class-conditional models get ``labels``, by default the classes in turn (0, 1, …, K−1, 0, …), so
    every class is equally represented. One generator seeded by ``seed`` drives all batches. Latent
    samples are decoded by ``codec``, by default the run's VAE (``data.vae``) loaded here.

    Text models get ``prompts`` taken in turn (by default :func:`default_prompts`), encoded by
    ``text_encoder`` (by default the run's, loaded here).
    """
    device = next(model.parameters()).device
    num_classes = model.config.num_classes
    if labels is None and num_classes:
        labels = torch.arange(num_samples) % num_classes
    if model.config.conditioning == "text":
        if isinstance(prompts, str) or (prompts is not None and not len(prompts)):
            raise ValueError("prompts must be a non-empty list of captions (a list, also for one prompt)")
        prompts = default_prompts(cfg, num_samples, seed) if prompts is None else list(prompts)
        if len(prompts) > num_samples:
            raise ValueError(f"{len(prompts)} prompts for {num_samples} videos: the prompts past the first "
                             f"{num_samples} would be dropped; ask for at least {len(prompts)} videos")
        prompts = [prompts[i % len(prompts)] for i in range(num_samples)]
        text_encoder = text_encoder or load_text_encoder(cfg, device)
    generator = torch.Generator(device).manual_seed(seed)
    if cfg.data.vae and codec is None:
        codec = LatentCodec.from_pretrained(cfg.data.vae).to(device)
    out = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        videos = sample_videos(model, cfg.diffusion, n, labels=None if labels is None else labels[start:start + n],
                               sampler=sampler, steps=steps, cfg_scale=cfg_scale, generator=generator,
                               progress=progress, clip_denoised=not cfg.data.vae, text_encoder=text_encoder,
                               prompts=None if prompts is None else prompts[start:start + n])
        out.append((codec.decode(videos) if cfg.data.vae else videos).clamp(-1, 1).cpu())
    return torch.cat(out), labels


def load_text_encoder(cfg: RunConfig, device: str | torch.device = "cpu") -> torch.nn.Module | None:
    """The run's frozen text encoder (``data.text_encoder``), or None for a run without captions.

    A checkpoint's config names it: ``"words"``, or the local folder of the T5 / CLIP model it was
    trained with (which must be on this machine).
    """
    if not cfg.is_text:
        return None
    encoder = text_encoder(cfg.data.text_encoder)
    text_dim = cfg.latte_config().text_dim
    if encoder.dim != text_dim:
        raise ValueError(f"data.text_encoder={cfg.data.text_encoder!r} gives {encoder.dim} caption channels but the "
                         f"model takes {text_dim}")
    return encoder.to(device).eval()


def default_prompts(cfg: RunConfig, num: int, seed: int = 0) -> list[str]:
    """``num`` captions to sample a text run with: of the synthetic set's clips under seed ``train.seed + seed``,
    or of a captioned folder's clips in turn."""
    data_cfg = cfg.data
    if data_cfg.dataset in SYNTHETIC:
        clips = synthetic_dataset(data_cfg.dataset, num_frames=cfg.latte_config().num_frames,
                                  image_size=data_cfg.image_size, seed=cfg.train.seed + seed, length=num)
        return [CaptionedSynthetic(clips).caption(i) for i in range(num)]
    captions = list(CaptionedVideoFolder(data_cfg.root, num_frames=cfg.latte_config().num_frames,
                                         frame_interval=data_cfg.frame_interval,
                                         image_size=data_cfg.image_size).captions.values())
    return [captions[i % len(captions)] for i in range(num)]


def load_for_sampling(checkpoint: str | Path, device: str | torch.device = "cpu"):
    """(EMA model, RunConfig) of a checkpoint: a run folder, a checkpoint folder, or an exported one.

    Only ``ema.safetensors`` and ``config.yaml`` are read (see :func:`minilatte.checkpoint.export_for_sampling`).
    For latent-space runs, decode the samples with ``LatentCodec.from_pretrained(cfg.data.vae)``; for a text
    run, encode prompts with ``load_text_encoder(cfg)`` (the config names the encoder).
    """
    path = resolve_checkpoint(checkpoint)
    cfg = build_config(read_config(path))
    model = Latte(cfg.latte_config())
    load_weights_into(model, read_weights(path / "ema.safetensors"), path / "ema.safetensors")
    return model.to(device).eval(), cfg
