"""Where the demo model's FD-probe gap comes from: motion, frames, or the latent space.

    python benchmarks/demo_diagnosis.py [--checkpoint runs/demo] [--num-samples 256]

For the samples of a trained ``cpu``-config model (DDIM and CFG as its config says) against real
clips: the probe's metrics, the histogram of the probe's motion head (8 start directions) for
samples and real clips, the mean frame-to-frame change, the colour drift (the standard deviation
over a clip's frames of its mean colour, averaged over clips: a real clip keeps one colour), the
smoothness of the object's path (its centroid's acceleration from frame to frame, in pixels: a real
object moves at constant velocity except when it bounces), and the "VAE floor" — real clips passed
through the tiny VAE and back, scored against real clips (what a perfect latent model would reach).

Then which of those differences the probe's FD actually sees: each is put into *real* clips on its
own — the samples' share of diagonal starts, a colour that changes from frame to frame as much as
the samples' does, a path that jitters by a pixel or two — and the altered real clips are scored
like samples.
Writes benchmarks/results/demo_diagnosis.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from minilatte.data.synthetic import DIRECTIONS
from minilatte.evaluate import evaluate_videos, generate_clips, real_clips
from minilatte.metrics import load_probe
from minilatte.sample import load_for_sampling
from minilatte.vae import LatentCodec

RESULTS = Path(__file__).parent / "results" / "demo_diagnosis.json"
KEEP = ("value", "ci_low", "ci_high", "reference")


def _summary(scores: dict) -> dict:
    return {name: {k: m[k] for k in KEEP if k in m} for name, m in scores.items()}


def colour_drift(videos: torch.Tensor) -> float:
    """How much a clip's mean colour changes over its frames (one object, one colour), averaged over clips."""
    return float(videos.mean(dim=(-1, -2)).std(dim=1).mean())


def centroids(videos: torch.Tensor) -> torch.Tensor:
    """(B, F, 2) x, y in pixels of the bright object in each frame of (B, F, C, H, W) clips in [-1, 1]."""
    weight = ((videos + 1) / 2).sum(2)
    weight = torch.where(weight > 0.3, weight, torch.zeros_like(weight))     # the black background weighs nothing
    height, width = weight.shape[-2:]
    ys = torch.arange(height, dtype=weight.dtype).view(height, 1)
    xs = torch.arange(width, dtype=weight.dtype).view(1, width)
    mass = weight.sum((-1, -2)).clamp(min=1e-6)
    return torch.stack([(weight * xs).sum((-1, -2)) / mass, (weight * ys).sum((-1, -2)) / mass], dim=-1)


def path_acceleration(videos: torch.Tensor) -> dict:
    """How smooth the object's path is: speed and |second difference| of its centroid, in pixels per frame."""
    velocity = centroids(videos).diff(dim=1)
    acceleration = velocity.diff(dim=1).norm(dim=-1)
    return {"speed": float(velocity.norm(dim=-1).mean()), "median": float(acceleration.median()),
            "mean": float(acceleration.mean()), "share_over_1px": float((acceleration > 1).float().mean())}


def colour_jitter(videos: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """Each frame's colour channels scaled by 1 + sigma * N(0, 1), independently per frame: a drifting colour."""
    scale = 1 + sigma * torch.randn(*videos.shape[:3], 1, 1, generator=gen)
    return (((videos + 1) / 2 * scale).clamp(0, 1)) * 2 - 1


def position_jitter(videos: torch.Tensor, pixels: int, gen: torch.Generator, share: float = 1.0) -> torch.Tensor:
    """A jittery path: each frame, with probability ``share``, shifted by a random whole number of pixels in
    [-pixels, pixels] along x and y; what is uncovered is background (-1), what leaves the frame is lost."""
    out = videos.clone()
    padded = torch.nn.functional.pad(videos, (pixels, pixels, pixels, pixels), value=-1.0)
    height, width = videos.shape[-2:]
    shifts = torch.randint(-pixels, pixels + 1, (*videos.shape[:2], 2), generator=gen)
    moved = torch.rand(videos.shape[:2], generator=gen) < share
    for b, f in moved.nonzero().tolist():
        dx, dy = shifts[b, f].tolist()
        out[b, f] = padded[b, f, :, pixels - dy:pixels - dy + height, pixels - dx:pixels - dx + width]
    return out


@torch.no_grad()
def diagnose(checkpoint: str, num_samples: int) -> dict:
    model, cfg = load_for_sampling(checkpoint)
    fake, labels = generate_clips(model, cfg, num_samples, seed=0, progress=False)
    real, real_labels = real_clips(cfg, num_samples, 0)
    reference, _ = real_clips(cfg, num_samples, 1)
    through_vae, vae_labels = real_clips(cfg, num_samples, 2)
    codec = LatentCodec.from_pretrained(cfg.data.vae)
    through_vae = torch.cat([codec.decode(codec.encode(through_vae[s:s + 32])) for s in range(0, num_samples, 32)])
    metrics = ["fd-probe", "fd-frame", "kid", "acc"]
    probe = load_probe()

    def starts(videos):       # the probe's start direction of each clip, as an index into DIRECTIONS
        return torch.cat([probe(videos[s:s + 128])["motion"].argmax(-1) for s in range(0, len(videos), 128)])

    def motions(videos):
        return dict(zip(DIRECTIONS, torch.bincount(starts(videos), minlength=8).tolist()))

    def frame_change(videos):
        return float((videos[:, 1:] - videos[:, :-1]).abs().mean())

    pool, pool_labels = real_clips(cfg, 4 * num_samples, 3)        # real clips to alter

    def score_real_altered(videos, labels):
        scores = evaluate_videos(real, videos.clamp(-1, 1), ["fd-probe"], dataset=cfg.data.dataset, labels=labels,
                                 reference=reference, probe=probe)
        return {k: scores["fd-probe"][k] for k in KEEP}

    diagonals = torch.tensor([i for i, name in enumerate(DIRECTIONS) if len(name) == 2])     # NE, NW, SW, SE
    diagonal = torch.isin(starts(pool), diagonals)
    fake_diagonal = float(torch.isin(starts(fake), diagonals).float().mean())
    n_diag = round(fake_diagonal * num_samples)
    diagonal_ids, straight_ids = torch.nonzero(diagonal).flatten(), torch.nonzero(~diagonal).flatten()
    if len(diagonal_ids) < n_diag or len(straight_ids) < num_samples - n_diag:
        raise ValueError(f"{len(pool)} real clips hold {len(diagonal_ids)} diagonal and {len(straight_ids)} other "
                         f"starts; {n_diag} and {num_samples - n_diag} are needed")
    biased = torch.cat([diagonal_ids[:n_diag], straight_ids[:num_samples - n_diag]])
    clips, clip_labels = pool[:num_samples], pool_labels[:num_samples]

    def seeded(k):        # one generator per altered set, so that each is reproducible on its own
        return torch.Generator().manual_seed(k)

    counterfactuals = {
        "real clips": {"fd-probe": score_real_altered(clips, clip_labels)},
        f"real clips, {fake_diagonal:.0%} diagonal starts like the samples": {
            "fd-probe": score_real_altered(pool[biased], pool_labels[biased])},
    }
    for k, sigma in enumerate((0.2, 0.3)):
        altered = colour_jitter(clips, sigma, seeded(k))
        counterfactuals[f"real clips, colour scaled by 1 + {sigma} N(0, 1) per frame and channel"] = {
            "colour_drift": colour_drift(altered), "fd-probe": score_real_altered(altered, clip_labels)}
    for k, (pixels, share) in enumerate(((1, 0.7), (1, 1.0), (2, 1.0))):   # 70 %: as jittery as the samples
        altered = position_jitter(clips, pixels, seeded(10 + k), share)
        counterfactuals[f"real clips, {share:.0%} of the frames shifted by up to {pixels} px"] = {
            "path_acceleration": path_acceleration(altered), "fd-probe": score_real_altered(altered, clip_labels)}
    altered = position_jitter(colour_jitter(pool[biased], 0.2, seeded(20)), 1, seeded(21), 0.7)
    counterfactuals["real clips with all three: the samples' diagonal share, colour scaled by 1 + 0.2 N(0, 1), "
                    "70 % of the frames shifted by up to 1 px"] = {
        "colour_drift": colour_drift(altered), "path_acceleration": path_acceleration(altered),
        "fd-probe": score_real_altered(altered, pool_labels[biased])}

    return {
        "checkpoint": checkpoint, "num_samples": num_samples,
        "sampler": cfg.diffusion.sampler, "sampling_steps": cfg.diffusion.sampling_steps,
        "cfg_scale": cfg.diffusion.cfg_scale,
        "samples": _summary(evaluate_videos(real, fake, metrics, dataset=cfg.data.dataset, labels=labels,
                                            reference=reference, probe=probe)),
        "vae_floor": _summary(evaluate_videos(real, through_vae.clamp(-1, 1), metrics, dataset=cfg.data.dataset,
                                              labels=vae_labels, reference=reference, probe=probe)),
        "motion_histogram": {"samples": motions(fake), "real": motions(real)},
        "mean_frame_change": {"samples": frame_change(fake), "real": frame_change(real)},
        "colour_drift": {"samples": colour_drift(fake), "real": colour_drift(real),
                         "real_through_vae": colour_drift(through_vae.clamp(-1, 1))},
        "path_acceleration": {"samples": path_acceleration(fake), "real": path_acceleration(real),
                              "real_through_vae": path_acceleration(through_vae.clamp(-1, 1))},
        "real_clips_altered": counterfactuals,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/demo")
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    result = diagnose(args.checkpoint, args.num_samples)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
