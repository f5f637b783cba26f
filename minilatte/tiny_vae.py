"""A small Stable-Diffusion-style VAE trained in-package on the synthetic videos, so the latent
pipeline of Latte (video -> frame-wise VAE latents -> transformer -> decode) works fully offline.

It is the same diffusers class as Stable Diffusion's VAE (``AutoencoderKL``) with the same interface
(``LatentCodec.from_pretrained(folder)``), only smaller: 3 resolution levels instead of 4, so 32×32
frames become 4 × 8 × 8 latents (4× downsampling; SD's VAE is 8×). The training objective is SD's
without the perceptual and adversarial terms, which need pretrained networks:

    loss = mean |x − x̂|  +  kl_weight · KL(q(z|x) ‖ N(0, I))

After training, the latents' mean and standard deviation are measured **per channel** on training
frames and stored in the config as diffusers' ``latents_mean`` / ``latents_std`` (with
``scaling_factor`` 1), so :class:`~minilatte.vae.LatentCodec` hands the transformer centred latents
of unit variance in every channel. SD's VAE has one global scale instead (0.18215, found as 1 / std);
the tiny VAE's channels are too different for that: on shapes their means are 0.8–2.5 and their
standard deviations 0.4–2.1, so a single scale leaves three of the four channels with a large offset
and a quarter of the noise's spread, and the diffusion buries their content early.

    python -m minilatte.tiny_vae train --out data_samples/tiny-vae     # a few CPU minutes
    python -m minilatte.tiny_vae stats --vae data_samples/tiny-vae     # (re)measure latents_mean/std
    python -m minilatte.tiny_vae psnr  --vae data_samples/tiny-vae     # held-out reconstruction
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from .progress import progress_bar
from .data import synthetic_dataset
from .vae import LatentCodec

DATASETS = ("shapes", "moving-digits", "clouds")
IMAGE_SIZE = 32
TRAIN_SEED, HELD_OUT_SEED = 0, 1   # training clips and held-out clips come from different seeds
STATS_SEED_OFFSET = 1000           # the training clips' seed, another stream of frames for the latent statistics


def tiny_vae_config() -> dict:
    """AutoencoderKL settings: SD's block layout shrunk (widths 32-64-64, one ResNet per level)."""
    return dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=16,
                block_out_channels=(32, 64, 64), down_block_types=("DownEncoderBlock2D",) * 3,
                up_block_types=("UpDecoderBlock2D",) * 3, sample_size=IMAGE_SIZE)


def frame_batches(seed: int, batch_size: int, num_frames: int = 8, length: int = 100_000):
    """Endless batches of single frames (B, 3, 32, 32) in [-1, 1], mixed over the three synthetic datasets.

    Batch ``i`` depends only on (seed, i): each draws clips of every dataset and keeps random frames.
    """
    sets = [synthetic_dataset(name, num_frames=num_frames, image_size=IMAGE_SIZE, seed=seed, length=length)
            for name in DATASETS]
    per_set = math.ceil(batch_size / len(sets))
    i = 0
    while True:
        rng = np.random.default_rng([seed, i, 7])
        frames = []
        for ds in sets:
            for index in rng.integers(length, size=per_set):
                frames.append(ds[int(index)]["video"][int(rng.integers(num_frames))])
        yield torch.stack(frames[:batch_size])
        i += 1


def train_tiny_vae(out: str | Path, steps: int = 1200, batch_size: int = 24, lr: float = 1e-3,
                   kl_weight: float = 1e-6, seed: int = 0, progress: bool = True) -> Path:
    """Train the tiny VAE on synthetic frames and save it to ``out`` (diffusers folder layout)."""
    from diffusers import AutoencoderKL   # a heavy import (seconds): only where a VAE is trained or loaded

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps={steps} and batch_size={batch_size} must be >= 1")
    torch.manual_seed(seed)
    vae = AutoencoderKL(**tiny_vae_config())
    opt = torch.optim.AdamW(vae.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    batches = frame_batches(TRAIN_SEED, batch_size)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    bar = progress_bar(range(steps), desc="tiny VAE", disable=not progress)
    for step in bar:
        x = next(batches)
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen)
        recon = vae.decode(z).sample
        l1 = (recon - x).abs().mean()
        kl = posterior.kl().mean() / x[0].numel()          # per pixel, as the L1 term
        loss = l1 + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if step % 50 == 0:
            bar.set_postfix(l1=f"{l1.item():.4f}")
    vae.eval()
    vae.register_to_config(**latent_statistics(vae))
    out = Path(out)
    vae.save_pretrained(out, safe_serialization=True)
    (out / "training.json").write_text(json.dumps(
        {"steps": steps, "batch_size": batch_size, "lr": lr, "kl_weight": kl_weight, "seed": seed,
         "datasets": DATASETS, "image_size": IMAGE_SIZE, "seconds": round(time.perf_counter() - start, 1),
         "final_l1": round(l1.item(), 5)}, indent=2) + "\n")
    return out


@torch.no_grad()
def latent_statistics(vae, num_batches: int = 16, batch_size: int = 24) -> dict:
    """Per-channel mean and std of the posterior means on training frames (a fixed stream of them),
    as the config entries ``latents_mean``, ``latents_std`` and ``scaling_factor=1.0``."""
    batches = frame_batches(TRAIN_SEED + STATS_SEED_OFFSET, batch_size)
    z = torch.cat([vae.encode(next(batches)).latent_dist.mode() for _ in range(num_batches)])   # (N, C, h, w)
    return {"latents_mean": [round(v, 5) for v in z.mean(dim=(0, 2, 3)).tolist()],
            "latents_std": [round(v, 5) for v in z.std(dim=(0, 2, 3)).tolist()], "scaling_factor": 1.0}


def write_latent_statistics(vae_path: str | Path) -> dict:
    """Measure :func:`latent_statistics` of a saved tiny VAE and write them into its config.json."""
    from diffusers import AutoencoderKL   # heavy, as in train_tiny_vae

    path = Path(vae_path)
    stats = latent_statistics(AutoencoderKL.from_pretrained(str(path), local_files_only=True,
                                                           low_cpu_mem_usage=False).eval())
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, **stats}, indent=2, sort_keys=True) + "\n")
    return stats


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per item of two batches in [-1, 1] (peak-to-peak range 2)."""
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


@torch.no_grad()
def held_out_psnr(vae_path: str | Path, num_clips: int = 64, num_frames: int = 8) -> dict[str, float]:
    """Mean PSNR (dB) of encode(mode) -> decode on clips of a seed never used in training, per dataset."""
    codec = LatentCodec.from_pretrained(vae_path)
    result = {}
    for name in DATASETS:
        ds = synthetic_dataset(name, num_frames=num_frames, image_size=IMAGE_SIZE, seed=HELD_OUT_SEED,
                               length=num_clips)
        videos = torch.stack([ds[i]["video"] for i in range(num_clips)])          # (N, F, 3, 32, 32)
        recon = codec.decode(codec.encode(videos, sample=False))
        per_frame = psnr(rearrange(recon, "n f c h w -> (n f) c h w"), rearrange(videos, "n f c h w -> (n f) c h w"))
        result[name] = round(per_frame.mean().item(), 2)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m minilatte.tiny_vae", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train the tiny VAE on synthetic frames")
    p.add_argument("--out", default="data_samples/tiny-vae")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch-size", type=int, default=24)
    p = sub.add_parser("stats", help="measure per-channel latents_mean/latents_std into a tiny VAE's config.json")
    p.add_argument("--vae", default="data_samples/tiny-vae")
    p = sub.add_parser("psnr", help="reconstruction PSNR on held-out synthetic clips")
    p.add_argument("--vae", default="data_samples/tiny-vae")
    p.add_argument("--num-clips", type=int, default=64)
    args = parser.parse_args(argv)
    if args.command == "train":
        out = train_tiny_vae(args.out, steps=args.steps, batch_size=args.batch_size)
        print(f"wrote {out}")
        print(json.dumps(held_out_psnr(out)))
    elif args.command == "stats":
        print(json.dumps(write_latent_statistics(args.vae)))
    else:
        print(json.dumps(held_out_psnr(args.vae, num_clips=args.num_clips)))


if __name__ == "__main__":
    main()
