"""Latent space: Stable Diffusion's VAE (diffusers ``AutoencoderKL``) applied frame by frame.

Latte never compresses time: each frame is encoded on its own into 4 × H/8 × W/8 latents and
multiplied by the Stable Diffusion scale 0.18215 (so latents have roughly unit variance), and the
transformer models the latent video. Frames go through the VAE in chunks to bound memory.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from einops import rearrange

from .assets import resolve
from .files import read_json_object

SD_SCALE = 0.18215


def vae_folder(name_or_path: str | os.PathLike) -> Path:
    """The folder holding a VAE's config.json: ``path`` itself or its ``vae/`` subfolder (SD pipeline layout).

    Relative paths such as ``data_samples/tiny-vae`` are also found from outside the repository root.
    """
    path = resolve(name_or_path)
    return path / "vae" if (path / "vae" / "config.json").is_file() else path


def vae_downsample(name_or_path: str | os.PathLike) -> int:
    """Spatial downsampling of a local VAE read from its config.json (8 when there is none to read)."""
    config = vae_folder(name_or_path) / "config.json"
    if not config.is_file():
        return 8
    return 2 ** (len(read_json_object(config, "VAE config", ("block_out_channels",))["block_out_channels"]) - 1)


class LatentCodec(torch.nn.Module):
    """Video <-> latent video with a frozen ``AutoencoderKL``.

    encode: (B, F, 3, H, W) in [-1, 1] -> (B, F, C, H/d, W/d) · scale;  decode: the inverse.
    C and the downsampling d come from the VAE: 4 and 8 for Stable Diffusion's, 4 and 4 for the tiny one.

    Where the VAE's config has per-channel ``latents_mean`` and ``latents_std`` (diffusers' convention,
    as for SDXL's VAE), latents are ``(z − mean) · scale / std``: every channel centred with unit
    variance. One global scale cannot do that when channels differ: the tiny VAE's channels on shapes
    have means 0.8–2.5 and standard deviations 0.4–2.1 before normalisation.
    """

    def __init__(self, vae, scale: float | None = None, chunk_size: int = 16):
        super().__init__()
        self.vae = vae.eval().requires_grad_(False)
        self.scale = float(scale if scale is not None else getattr(vae.config, "scaling_factor", SD_SCALE))
        self.chunk_size = chunk_size
        self.downsample = 2 ** (len(vae.config.block_out_channels) - 1)
        self.latent_channels = C = vae.config.latent_channels
        mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
        if (mean is None) != (std is None) or (mean is not None and not len(mean) == len(std) == C):
            raise ValueError(f"the VAE config must give both latents_mean and latents_std with {C} values, or neither")
        self.register_buffer("shift", torch.tensor(mean if mean else [0.0] * C).view(C, 1, 1), persistent=False)
        self.register_buffer("spread", torch.tensor(std if std else [1.0] * C).view(C, 1, 1), persistent=False)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, chunk_size: int = 16) -> "LatentCodec":
        """Load a VAE from a local folder (``config.json`` + weights, or a ``vae/`` subfolder) or a hub id.

        A hub id works only where the files are already in the local Hugging Face cache; minilatte
        never downloads.
        """
        from diffusers import AutoencoderKL   # a heavy import (seconds): paid only when a VAE is loaded

        try:
            vae = AutoencoderKL.from_pretrained(str(vae_folder(name_or_path)), local_files_only=True,
                                                low_cpu_mem_usage=False)  # no "install accelerate" nag
        except (OSError, ValueError) as err:
            raise FileNotFoundError(
                f"no VAE at {str(name_or_path)!r} ({type(err).__name__}); give a local folder with config.json and "
                "diffusion_pytorch_model.safetensors (e.g. a copy of stabilityai/sd-vae-ft-ema), or train the "
                "small synthetic-data VAE") from None
        return cls(vae, chunk_size=chunk_size)

    def _frames(self, fn, video: torch.Tensor) -> torch.Tensor:
        B = video.shape[0]
        frames = rearrange(video, "b f c h w -> (b f) c h w")
        out = torch.cat([fn(chunk) for chunk in frames.split(self.chunk_size)])
        return rearrange(out, "(b f) c h w -> b f c h w", b=B)

    @torch.no_grad()
    def encode(self, video: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pixels (B, F, 3, H, W) -> scaled latents; ``sample=True`` draws from the posterior like the paper."""
        def enc(x):
            dist = self.vae.encode(x.to(self.vae.dtype)).latent_dist
            z = dist.sample(generator) if sample else dist.mode()
            return (z.float() - self.shift) * self.scale / self.spread
        return self._frames(enc, video)

    @torch.no_grad()
    def encode_moments(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels (B, F, 3, H, W) -> the posterior's scaled (mean, std), each (B, F, C, H/d, W/d)."""
        def enc(x):
            dist = self.vae.encode(x.to(self.vae.dtype)).latent_dist
            return torch.cat([dist.mean.float() - self.shift, dist.std.float()], dim=1) * self.scale / self.spread.repeat(2, 1, 1)
        both = self._frames(enc, video)
        return both[:, :, :self.latent_channels], both[:, :, self.latent_channels:]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, F, C, h, w) -> pixels (B, F, 3, d·h, d·w), clamped to [-1, 1]."""
        def dec(z):
            z = z * self.spread / self.scale + self.shift
            return self.vae.decode(z.to(self.vae.dtype)).sample.float().clamp(-1, 1)
        return self._frames(dec, latents)
