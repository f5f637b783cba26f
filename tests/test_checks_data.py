"""Checkers of notebooks 00 and 01: each accepts a solution written from scratch and rejects a plausible
mistake with a message that says what is wrong."""
import numpy as np
import pytest
import torch
from einops import rearrange

from minilatte.checks.data import (check_encode_frames, check_frame_indices, check_model_evaluations, check_psnr,
                                   check_to_uint8)


# ---------------------------------------------------------------- 00 · a tour
def to_uint8(video, clamp=True, channels_last=True):
    x = video.clamp(-1, 1) if clamp else video
    image = ((x + 1) * 127.5).round()
    if not clamp:
        image = image.to(torch.int64).remainder(256)       # what a uint8 cast of out-of-range values gives
    image = image.to(torch.uint8)
    return rearrange(image, "f c h w -> f h w c") if channels_last else image


def model_evaluations(num_videos, steps, cfg_scale):
    return steps * num_videos * (2 if cfg_scale > 1 else 1)


def test_tour_checkers_accept_the_reference(capsys):
    check_to_uint8(to_uint8)
    check_to_uint8(lambda v: to_uint8(v).numpy())                               # numpy is fine too
    check_to_uint8(lambda v: rearrange(((v.clamp(-1, 1) + 1) * 127.5).to(torch.uint8), "f c h w -> f h w c"))
    check_model_evaluations(model_evaluations)
    assert capsys.readouterr().out.count("✓") == 4


def test_to_uint8_rejects_a_missing_clamp():
    with pytest.raises(AssertionError, match="pixels beyond \\[-1, 1\\] wrapped around"):
        check_to_uint8(lambda v: to_uint8(v, clamp=False))


def test_to_uint8_rejects_the_zero_one_range():
    with pytest.raises(AssertionError, match="treats the pixels as \\[0, 1\\]"):
        check_to_uint8(lambda v: rearrange((v.clamp(0, 1) * 255).round().to(torch.uint8), "f c h w -> f h w c"))


def test_to_uint8_rejects_channels_first_and_floats():
    with pytest.raises(AssertionError, match="want them last"):
        check_to_uint8(lambda v: to_uint8(v, channels_last=False))
    with pytest.raises(AssertionError, match="dtype torch.float32, expected torch.uint8"):
        check_to_uint8(lambda v: to_uint8(v).float())


def test_model_evaluations_rejects_forgetting_guidance():
    with pytest.raises(AssertionError, match="leaves out classifier-free guidance"):
        check_model_evaluations(lambda n, steps, scale: n * steps)


def test_model_evaluations_rejects_always_doubling():
    with pytest.raises(AssertionError, match="cfg_scale = 1 guidance is off"):
        check_model_evaluations(lambda n, steps, scale: 2 * n * steps)


# ---------------------------------------------------------------- 01 · video data and latent space
def frame_indices(total, num_frames, frame_interval, begin):
    end = min(begin + num_frames * frame_interval, total)
    return np.linspace(begin, end - 1, num_frames).astype(int)


def psnr(a, b):
    mse = ((a - b) ** 2).mean(dim=tuple(range(1, a.dim())))
    return 10 * torch.log10(2 ** 2 / mse)


def encode_frames(vae, video, mean, scale, sample=False, order="(b f)"):
    B = video.shape[0]
    frames = rearrange(video, "b f c h w -> (b f) c h w")
    dist = vae.encode(frames).latent_dist
    z = ((dist.sample() if sample else dist.mode()) - mean) * scale
    return rearrange(z, f"{order} c h w -> b f c h w", b=B)


def test_data_checkers_accept_the_reference(capsys):
    check_frame_indices(frame_indices)
    check_frame_indices(lambda *args: torch.as_tensor(frame_indices(*args)))     # a tensor or a list is fine
    check_frame_indices(lambda *args: frame_indices(*args).tolist())
    check_psnr(psnr)
    check_encode_frames(encode_frames)
    assert capsys.readouterr().out.count("✓") == 5


def test_frame_indices_rejects_fixed_steps():
    with pytest.raises(AssertionError, match="spreads the indices evenly over the whole window"):
        check_frame_indices(lambda total, n, interval, begin: np.arange(n) * interval + begin)


def test_frame_indices_rejects_an_off_by_one_end():
    def to_end(total, n, interval, begin):
        return np.linspace(begin, min(begin + n * interval, total), n).astype(int)
    with pytest.raises(AssertionError, match="one past the window's last frame"):
        check_frame_indices(to_end)


def test_frame_indices_rejects_floats():
    with pytest.raises(AssertionError, match="returned floating-point values"):
        check_frame_indices(lambda *args: frame_indices(*args).astype(float))


def test_psnr_rejects_a_peak_of_one():
    with pytest.raises(AssertionError, match="the peak is 2, not 1"):
        check_psnr(lambda a, b: psnr(a, b) - 10 * np.log10(4))


def test_psnr_rejects_one_number_for_the_batch():
    with pytest.raises(AssertionError, match="one PSNR per item"):
        check_psnr(lambda a, b: 10 * torch.log10(4 / ((a - b) ** 2).mean()))


def test_encode_frames_rejects_a_missing_normalisation():
    with pytest.raises(AssertionError, match="normalisation with mean and scale is missing"):
        check_encode_frames(lambda vae, video, mean, scale: encode_frames(vae, video, 0.0, 1.0))


def test_encode_frames_rejects_a_scale_without_the_mean():
    with pytest.raises(AssertionError, match="scaled but not centred"):
        check_encode_frames(lambda vae, video, mean, scale: encode_frames(vae, video, 0.0, scale))


def test_encode_frames_rejects_mixed_up_axes():
    with pytest.raises(AssertionError, match="another order than they were merged"):
        check_encode_frames(lambda vae, video, mean, scale: encode_frames(vae, video, mean, scale, order="(f b)"))


def test_encode_frames_rejects_a_posterior_sample():
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match="asks for its mode"):
        check_encode_frames(lambda vae, video, mean, scale: encode_frames(vae, video, mean, scale, sample=True))
