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
    hint = ("the pixels differ from viz.to_uint8's: −1 should become 0 and 1 should become 255, values beyond ±1 "
            "should not wrap around, channels last (see the prompt)")
    if isinstance(got, torch.Tensor):
        if tuple(got.shape) == (2, 3, 4, 5):
            hint = "the channels come first; image libraries want them last, (F, H, W, C)"
        elif got.shape == expected.shape and got.dtype != torch.uint8:
            raise AssertionError(f"to_uint8: the result has dtype {got.dtype}, expected torch.uint8\n"
                                 "  hint: image files hold 8-bit integers; your pixels have another dtype")
        elif got.shape == expected.shape:
            shown = rearrange(video, "f c h w -> f h w c")
            diff = (got.double() - expected.double()).abs()
            inside = shown.abs() <= 1
            if torch.allclose(got.double(), shown.clamp(0, 1).double() * 255, atol=1):
                hint = "your conversion treats the pixels as [0, 1], but the model's pixels are in [-1, 1]"
            elif (diff[inside] <= 1).all() and (diff[~inside] > 1).any():
                hint = ("pixels beyond [-1, 1] wrapped around: uint8 cannot hold values outside 0 … 255, so an "
                        "overshooting bright pixel turned black")
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
        hint = "how many steps does the sampler take, and how many videos go through the network at each step?"
        if got == num_videos * steps:
            hint = ("your count leaves out classifier-free guidance: with cfg_scale > 1 each video also goes "
                    "through the network with the null class")
        elif cfg_scale <= 1 and got == 2 * num_videos * steps:
            hint = "with cfg_scale = 1 guidance is off, yet your count doubles the batch"
        elif got in (1000 * num_videos, 2000 * num_videos):
            hint = "your count uses the 1,000 steps of training; the sampler is respaced to `steps`"
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
        hint = ("the indices differ from Latte's: go through the three steps of the recipe above the exercise "
                "(the window, its end for a short video, the spacing)")
        if isinstance(got, torch.Tensor) and got.dim() == 1 and len(got) == num_frames and not got.is_floating_point():
            got = got.long()
            same = lambda indices: torch.equal(got, torch.as_tensor(indices, dtype=torch.long))  # noqa: E731
            if same(np.arange(num_frames) * frame_interval + begin):
                hint = ("stepping exactly frame_interval ends the clip frame_interval - 1 frames before the window's "
                        "end (and runs past a short video), while Latte spreads the indices evenly over the whole "
                        "window (step 3 of the recipe)")
            elif same(np.linspace(begin, end, num_frames).astype(np.int64)):
                hint = "your last index is one past the window's last frame"
            elif same(np.round(np.linspace(begin, end - 1, num_frames)).astype(np.int64)):
                hint = "some indices are one too high: the evenly spaced positions were rounded, Latte truncates them"
            elif int(got.max()) >= total:
                hint = (f"index {int(got.max())} is past the video's last frame, {total - 1}: a short video cuts the "
                        "window (step 2 of the recipe)")
        if isinstance(got, torch.Tensor) and got.is_floating_point() and got.shape == expected.shape:
            hint = "frame indices are integers, not floating-point numbers"
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
    hint = "compare with the prompt's formula: the mean squared error of each item, and the peak of [-1, 1]"
    if isinstance(got, torch.Tensor):
        if got.dim() == 0 or got.numel() == 1:
            hint = "one PSNR per item, shape (B,): yours is one number for the whole batch"
        elif got.shape == expected.shape:
            mse = ((a - b) ** 2).flatten(1).mean(1)
            if torch.allclose(got, 10 * torch.log10(1 / mse), atol=1e-3):
                hint = "the peak is 2, not 1: pixels in [-1, 1] span a range of 2 (your values are 6.02 dB low)"
            elif torch.allclose(got, 20 * torch.log10(4 / mse), atol=1e-3):
                hint = "your values are twice the expected decibels: the square inside the formula is counted twice"
            elif torch.allclose(got, 10 * torch.log10(2 / mse), atol=1e-3):
                hint = "the peak is not squared (your values are 3.01 dB low)"
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
    hint = ("the latents differ from LatentCodec.encode's: go through the prompt's three steps one at a time and "
            "compare shapes and values after each")
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        got_ = got.detach().float()
        raw = expected / scale + mean
        if torch.allclose(got_, raw, atol=1e-4, rtol=1e-4):
            hint = ("these are the raw posterior means: the per-channel normalisation with mean and scale is "
                    "missing (the diffusion model expects latents centred with about unit variance)")
        elif torch.allclose(got_, raw * scale, atol=1e-4, rtol=1e-4):
            hint = "the latents are scaled but not centred: mean is left in"
        elif torch.allclose(got_, raw * scale - mean, atol=1e-4, rtol=1e-4):
            hint = "mean was taken from the scaled latents; the codec centres the raw ones"
        elif torch.allclose(got_, rearrange(rearrange(expected, "b f c h w -> (b f) c h w"),
                                            "(f b) c h w -> b f c h w", b=2), atol=1e-4, rtol=1e-4):
            hint = "frames of different videos are mixed up: the axes were split in another order than they were merged"
        elif (got_ - expected).abs().max() < 1.0:
            hint = ("close but not equal: the latents look like random draws from the posterior; the prompt asks "
                    "for its mode")
    max_diff = assert_close("encode_frames", got, expected, atol=1e-4, rtol=1e-4, hint=hint, what="the latent video")
    passed("encode_frames", max_diff)


__all__ = ["check_to_uint8", "check_model_evaluations", "check_frame_indices", "check_psnr", "check_encode_frames"]
