"""Where the demo model's FD-probe gap comes from: motion, frames, or the latent space.

    python benchmarks/demo_diagnosis.py [--checkpoint runs/demo] [--num-samples 256]

For the samples of a trained ``cpu``-config model (DDIM and CFG as its config says) against real
clips: the probe's metrics, the histogram of the probe's motion head (8 start directions) for
samples and real clips, the mean frame-to-frame change, the colour drift (the standard deviation
over a clip's frames of its mean colour, averaged over clips: a real clip keeps one colour), and the
"VAE floor" — real clips passed through the tiny VAE and back, scored against real clips (what a
perfect latent model would reach).
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

    def motions(videos):
        return dict(zip(DIRECTIONS, torch.bincount(probe(videos)["motion"].argmax(-1), minlength=8).tolist()))

    def frame_change(videos):
        return float((videos[:, 1:] - videos[:, :-1]).abs().mean())

    def colour_drift(videos):   # how much a clip's mean colour changes over its frames (one object, one colour)
        return float(videos.mean(dim=(-1, -2)).std(dim=1).mean())

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
