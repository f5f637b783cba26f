"""Checkers for notebooks 00 (a tour) and 01 (video data and latent space).

00: ``check_to_uint8`` (model output to pixels), ``check_model_evaluations`` (the cost of sampling);
01: ``check_frame_indices`` (Latte's temporal crop), ``check_psnr``, ``check_encode_frames``
(frame-wise VAE encoding).
"""
from __future__ import annotations

import numpy as np
import torch
from einops import rearrange

from .. import tiny_vae, viz
from ..assets import data_sample
from ..config import DiffusionSection
from ..data import synthetic_dataset
from ..data.transforms import temporal_crop_indices
from ..models import create_latte
from ..sample import sample_videos
from ..vae import LatentCodec
from .core import assert_close, assert_equal, call, passed, seeded


# ---------------------------------------------------------------- 00 · a tour
def check_to_uint8(to_uint8) -> None:
    """``to_uint8(video)``: (F, C, H, W) float in [-1, 1] -> (F, H, W, C) uint8 in 0 … 255.

    Values outside [-1, 1] (a sampler may overshoot) must be clamped first. Compared with
    ``minilatte.viz.to_uint8``; off by at most 1 grey level (rounding versus truncating) passes.
    """
    gen = seeded(20)
    video = torch.randn(2, 3, 4, 5, generator=gen) * 0.9                 # some values beyond ±1
    video[0, :, 0, 0] = torch.tensor([-1.0, 0.0, 1.0])                    # the ends and the middle, exactly
    expected = torch.from_numpy(viz.to_uint8(video))                         # (F, H, W, C)
    got = call("to_uint8", to_uint8, video.clone())
    if isinstance(got, np.ndarray):
        got = torch.from_numpy(got)
    hint = "−1 must become 0 and 1 must become 255; clamp first, round, and return uint8 with the channels last"
    if isinstance(got, torch.Tensor):
        if tuple(got.shape) == (2, 3, 4, 5):
            hint = "image libraries want channels last: rearrange 'f c h w -> f h w c'"
        elif got.shape == expected.shape and got.dtype != torch.uint8:
            raise AssertionError(f"to_uint8: the result has dtype {got.dtype}, expected torch.uint8\n"
                                 "  hint: finish with .to(torch.uint8) (or .astype(np.uint8) in numpy)")
        elif got.shape == expected.shape:
            shown = rearrange(video, "f c h w -> f h w c")
            diff = (got.double() - expected.double()).abs()
            inside = shown.abs() <= 1
            if torch.allclose(got.double(), shown.clamp(0, 1).double() * 255, atol=1):
                hint = "the pixels are in [-1, 1], not [0, 1]: shift before scaling, (video + 1) * 127.5"
            elif (diff[inside] <= 1).all() and (diff[~inside] > 1).any():
                hint = ("clamp to [-1, 1] before converting: uint8 cannot hold values outside 0 … 255 (they wrap "
                        "around), so an overshooting bright pixel can turn black")
    max_diff = assert_close("to_uint8", got.to(torch.int64) if isinstance(got, torch.Tensor) else got,
                            expected.to(torch.int64), atol=1, rtol=0, hint=hint, what="image")
    passed("to_uint8", max_diff)


def _measured_evaluations(num_videos: int, steps: int, cfg_scale: float) -> int:
    """Videos the network processes while ``sample_videos`` runs, counted on a tiny class-conditional model."""
    torch.manual_seed(0)
    model = create_latte("Latte-Nano/2", num_frames=2, input_size=4, in_channels=3, num_classes=3).eval()
    counted, forward = [], model.forward

    def counting_forward(x, *args, **kwargs):
        counted.append(x.shape[0])
        return forward(x, *args, **kwargs)

    # An instance attribute, not a hook: forward_with_cfg calls self.forward directly, which hooks miss.
    model.forward = counting_forward
    d = DiffusionSection(prediction="velocity", sampler="ddim", sampling_steps=steps, cfg_scale=cfg_scale)
    sample_videos(model, d, num_videos, labels=torch.arange(num_videos) % 3, progress=False)
    return sum(counted)


def check_model_evaluations(model_evaluations) -> None:
    """``model_evaluations(num_videos, steps, cfg_scale)`` -> how many videos the network processes in total
    while ``sample_videos`` makes ``num_videos`` class-conditional videos with a ``steps``-step sampler.

    Compared with the count measured on a real (tiny) model, on four cases.
    """
    cases = [(2, 3, 3.0), (2, 3, 1.0), (3, 5, 4.0), (1, 4, 1.0)]
    for num_videos, steps, cfg_scale in cases:
        expected = _measured_evaluations(num_videos, steps, cfg_scale)
        got = call("model_evaluations", model_evaluations, num_videos, steps, cfg_scale)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if got == expected:
            continue
        hint = "every sampling step runs the network once on the whole batch"
        if got == num_videos * steps:
            hint = ("classifier-free guidance (cfg_scale > 1) runs each video twice per step: once with its "
                    "label and once with the null class")
        elif cfg_scale <= 1 and got == 2 * num_videos * steps:
            hint = "with cfg_scale = 1 guidance is off: sample_videos runs the conditional batch only"
        elif got in (1000 * num_videos, 2000 * num_videos):
            hint = "the respaced sampler runs `steps` times, not the 1,000 steps of training"
        assert_equal(f"model_evaluations(num_videos={num_videos}, steps={steps}, cfg_scale={cfg_scale})", got,
                     expected, hint=hint, what="the count")
    passed("model_evaluations", detail=f" (counted on a model, {len(cases)} cases)")


# ---------------------------------------------------------------- 01 · video data and latent space
def check_frame_indices(frame_indices) -> None:
    """``frame_indices(total, num_frames, frame_interval, begin)`` -> the (num_frames,) integer indices of
    one clip whose window of num_frames × frame_interval frames starts at ``begin``.

    Compared exactly with ``minilatte.data.transforms.temporal_crop_indices`` (whose random ``begin``
    is read off its first index) on five videos, a too-short one included.
    """
    cases = [(100, 16, 3, 0), (100, 16, 3, 7), (16, 8, 1, 3), (16, 8, 2, 0), (10, 8, 3, 0)]
    for total, num_frames, frame_interval, seed in cases:
        expected = torch.from_numpy(temporal_crop_indices(total, num_frames, frame_interval,
                                                          np.random.default_rng(seed)))
        begin = int(expected[0])
        window = num_frames * frame_interval
        end = min(begin + window, total)
        got = call("frame_indices", frame_indices, total, num_frames, frame_interval, begin)
        try:
            got = torch.as_tensor(np.asarray(got))
        except (TypeError, ValueError):
            pass
        name = f"frame_indices(total={total}, num_frames={num_frames}, frame_interval={frame_interval}, begin={begin})"
        hint = ("spread num_frames indices evenly from the window's first frame to its last frame (a short "
                "video cuts the window at its end), truncated to integers")
        if isinstance(got, torch.Tensor) and got.dim() == 1 and len(got) == num_frames and not got.is_floating_point():
            got = got.long()
            same = lambda indices: torch.equal(got, torch.as_tensor(indices, dtype=torch.long))  # noqa: E731
            if same(np.arange(num_frames) * frame_interval + begin):
                hint = ("stepping exactly frame_interval ends the clip frame_interval - 1 frames before the window's "
                        "end (and runs past a short video); Latte spreads the indices evenly over the whole window "
                        "with linspace, so the steps are only about frame_interval")
            elif same(np.linspace(begin, end, num_frames).astype(np.int64)):
                hint = "the window's last frame is end - 1: np.linspace(begin, end - 1, num_frames)"
            elif same(np.round(np.linspace(begin, end - 1, num_frames)).astype(np.int64)):
                hint = "truncate the evenly spaced positions (.astype(int)) as Latte does, instead of rounding them"
            elif int(got.max()) >= total:
                hint = f"index {int(got.max())} is past the last frame, {total - 1}: end = min(begin + window, total)"
        if isinstance(got, torch.Tensor) and got.is_floating_point() and got.shape == expected.shape:
            hint = "frame indices are integers: finish with .astype(int) (or .long())"
            raise AssertionError(f"{name}: returned floating-point values\n  hint: {hint}")
        assert_close(name, got, expected, atol=0, rtol=0, hint=hint, what="the index array")
    passed("frame_indices", detail=f" on {len(cases)} videos")


def check_psnr(psnr) -> None:
    """``psnr(a, b)``: two batches (B, ...) of pixels in [-1, 1] -> (B,) PSNR in dB, one per item.

    PSNR = 10 · log10(peak² / MSE) with peak = 2, the peak-to-peak range of [-1, 1]. Compared with
    ``minilatte.tiny_vae.psnr``, tolerance 1e-3 dB.
    """
    gen = seeded(21)
    a = torch.rand(4, 3, 8, 8, generator=gen) * 2 - 1
    levels = torch.tensor([0.01, 0.05, 0.2, 0.5]).view(-1, 1, 1, 1)     # a different error per item
    b = (a + levels * torch.randn(a.shape, generator=gen)).clamp(-1, 1)
    expected = tiny_vae.psnr(a, b)
    got = call("psnr", psnr, a, b)
    hint = "one PSNR per item: the mean squared error over every axis but the batch axis, and the peak of [-1, 1]"
    if isinstance(got, torch.Tensor):
        if got.dim() == 0 or got.numel() == 1:
            hint = "one PSNR per item: average the squared error over every axis but the first (flatten(1).mean(1))"
        elif got.shape == expected.shape:
            mse = ((a - b) ** 2).flatten(1).mean(1)
            if torch.allclose(got, 10 * torch.log10(1 / mse), atol=1e-3):
                hint = ("the peak is 2, not 1: pixels in [-1, 1] span a range of 2, so PSNR = 10·log10(4 / MSE) "
                        "(6.02 dB more)")
            elif torch.allclose(got, 20 * torch.log10(4 / mse), atol=1e-3):
                hint = "10 · log10 of a squared ratio (or 20 · log10 of the unsquared one), not 20 · log10(4 / MSE)"
            elif torch.allclose(got, 10 * torch.log10(2 / mse), atol=1e-3):
                hint = "square the peak: 10 · log10(2**2 / MSE)"
    max_diff = assert_close("psnr", got, expected, atol=1e-3, rtol=0, hint=hint, what="PSNR (dB)")
    passed("psnr", max_diff)


def check_encode_frames(encode_frames) -> None:
    """``encode_frames(vae, video, mean, scale)``: pixels (B, F, 3, H, W) -> latents (B, F, C, H/d, W/d).

    ``vae`` is a diffusers ``AutoencoderKL``: each frame is encoded on its own, the posterior's mode
    (its mean) is taken, ``mean`` subtracted and the result multiplied by ``scale`` — both (C, 1, 1),
    one value per latent channel. Compared with ``LatentCodec.encode(video, sample=False)`` of the
    shipped tiny VAE, tolerance 1e-4.
    """
    codec = LatentCodec.from_pretrained(data_sample("tiny-vae"))
    mean, scale = codec.shift, codec.scale / codec.spread                     # (C, 1, 1) each
    clips = [synthetic_dataset(name, num_frames=3, image_size=32, seed=5, length=1)[0]["video"]
             for name in ("shapes", "moving-digits")]
    video = torch.stack(clips)                                            # (2, 3, 3, 32, 32)
    expected = codec.encode(video, sample=False)                          # (2, 3, 4, 8, 8)
    with torch.no_grad():
        got = call("encode_frames", encode_frames, codec.vae, video.clone(), mean.clone(), scale.clone())
    hint = ("the VAE sees images: fold the frames into the batch, take the posterior's mean, normalise it "
            "per channel as the codec does, then unfold the frames again")
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        got_ = got.detach().float()
        raw = expected / scale + mean
        if torch.allclose(got_, raw, atol=1e-4, rtol=1e-4):
            hint = ("subtract mean and multiply by scale, per channel: the diffusion model expects latents "
                    "centred with about unit variance")
        elif torch.allclose(got_, raw * scale, atol=1e-4, rtol=1e-4):
            hint = "subtract mean before multiplying by scale: (z - mean) * scale"
        elif torch.allclose(got_, raw * scale - mean, atol=1e-4, rtol=1e-4):
            hint = "subtract mean first, then scale: (z - mean) * scale, not z * scale - mean"
        elif torch.allclose(got_, rearrange(rearrange(expected, "b f c h w -> (b f) c h w"),
                                            "(f b) c h w -> b f c h w", b=2), atol=1e-4, rtol=1e-4):
            hint = "merge and split the axes in the same order: '(b f)' both ways, with b=B when splitting"
        elif (got_ - expected).abs().max() < 1.0:
            hint = ("close but not equal: take latent_dist.mode() (the posterior's mean); sample() adds random "
                    "noise of the posterior's standard deviation")
    max_diff = assert_close("encode_frames", got, expected, atol=1e-4, rtol=1e-4, hint=hint, what="the latent video")
    passed("encode_frames", max_diff)


__all__ = ["check_to_uint8", "check_model_evaluations", "check_frame_indices", "check_psnr", "check_encode_frames"]
