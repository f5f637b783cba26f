"""minilatte.diffusion: same numbers as diffusers' schedulers, the hybrid loss, respacing, guidance, samplers.

Which diffusers settings reproduce the IDDPM/DiT/Latte diffusion (pinned by the tests below):

* DDPM, all 1000 steps: ``DDPMScheduler(beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
  variance_type="learned_range")``; ``clip_sample`` = our ``clip_denoised``.
* DDPM respaced with ``"N"``: the same scheduler with ``timestep_spacing="linspace"`` and
  ``set_timesteps(N)`` (``np.linspace(0, 999, N).round()`` is IDDPM's ``space_timesteps`` for the usual
  N; e.g. 999 differs). Any other respacing (``"10,10,10"``): ``set_timesteps(timesteps=...)`` with
  the kept steps in decreasing order. diffusers then derives β'_t = 1 − ᾱ_t/ᾱ_prev exactly as
  respacing does, so the learned-range variance agrees too. The default ``"leading"`` spacing picks
  different timesteps (0, 4, …, 996) than IDDPM (0, 4, …, 995, 999).
* DDIM ``"ddimN"``: ``DDIMScheduler(set_alpha_to_one=True, steps_offset=0, timestep_spacing="leading")``
  (diffusers' defaults) and ``set_timesteps(N)``; pass only the ε channels, and
  ``use_clipped_model_output=True`` when clipping (IDDPM re-derives ε from the clipped x̂_0).
* At t = 0 diffusers' learned-range log-variance uses log(1e-20) where IDDPM uses log β̃_1; both add
  no noise at t = 0, so the samples agree.

diffusers keeps its schedule in float32 (1 − ᾱ_t loses digits near t = 0) while we, like IDDPM,
keep float64 tables; single steps therefore agree to ~1e-4, not bit for bit. Bitwise agreement with
the official Latte code is checked separately (outside the test suite).
"""

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from minilatte.diffusion import (
    beta_schedule, create_diffusion, discretized_gaussian_log_likelihood, guided_model, normal_kl,
    space_timesteps,
)

B, F, C, H = 2, 3, 4, 4
SCHEDULE = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


W = randn(2 * C, C, seed=0) * 0.5


def toy_model(x, t, **kwargs):
    """A fixed 'network' for videos (B, F, C, H, W) or images (B, C, H, W): 2C channels [ε̂, v]."""
    dim = 2 if x.dim() == 5 else 1
    out = torch.einsum("oc,...chw->...ohw", W, x) if dim == 2 else torch.einsum("oc,bchw->bohw", W, x)
    out = out + torch.sin(t.float() / 37).view(-1, *([1] * (x.dim() - 1)))    # depends on t
    eps, v = out.split(C, dim=dim)
    return torch.cat([eps, torch.tanh(v)], dim=dim)                           # v in [-1, 1]


def full(t, n=B):
    return torch.full((n,), int(t), dtype=torch.long)


# --------------------------------------------------------------------------- diffusers equality
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("t", [999, 500, 10, 1, 0])
def test_ddpm_step_equals_diffusers_learned_range_on_images(t, clip):
    diffusion = create_diffusion("")
    scheduler = DDPMScheduler(**SCHEDULE, variance_type="learned_range", clip_sample=clip)
    x = randn(B, C, H, H, seed=1)                                   # images: channels on dim 1
    expected = scheduler.step(toy_model(x, full(t)), t, x, generator=torch.Generator().manual_seed(5)).prev_sample
    ours = diffusion.p_sample(toy_model, x, full(t), clip_denoised=clip, noise=randn(B, C, H, H, seed=5))
    torch.testing.assert_close(ours["sample"], expected, rtol=2e-4, atol=1e-4)


@pytest.mark.parametrize("t", [999, 250, 1])
def test_ddpm_step_equals_diffusers_on_videos(t):
    """Videos keep channels on dim 2; diffusers splits on dim 1, so it gets (B, C, F, H, W) views."""
    diffusion = create_diffusion("")
    scheduler = DDPMScheduler(**SCHEDULE, variance_type="learned_range", clip_sample=False)
    x = randn(B, F, C, H, H, seed=1)
    out = toy_model(x, full(t))                                     # (B, F, 2C, H, W)
    expected = scheduler.step(out.transpose(1, 2), t, x.transpose(1, 2),
                              generator=torch.Generator().manual_seed(5)).prev_sample.transpose(1, 2)
    noise = randn(B, C, F, H, H, seed=5).transpose(1, 2)           # the same draws diffusers made
    ours = diffusion.p_sample(toy_model, x, full(t), clip_denoised=False, noise=noise)["sample"]
    torch.testing.assert_close(ours, expected, rtol=2e-4, atol=1e-4)


@pytest.mark.parametrize("respacing", ["250", "10,10,10"])
def test_respaced_ddpm_loop_equals_diffusers(respacing):
    diffusion = create_diffusion(respacing)
    scheduler = DDPMScheduler(**SCHEDULE, variance_type="learned_range", clip_sample=True,
                              timestep_spacing="linspace")
    if respacing == "250":
        scheduler.set_timesteps(250)
    else:
        scheduler.set_timesteps(timesteps=sorted(space_timesteps(1000, respacing), reverse=True))
    assert scheduler.timesteps.tolist() == diffusion.timestep_map[::-1]
    x = ours = randn(B, C, H, H, seed=2)
    for i, t in enumerate(scheduler.timesteps):
        x = scheduler.step(toy_model(x, full(t)), t, x, generator=torch.Generator().manual_seed(100 + i)).prev_sample
        k = full(diffusion.num_timesteps - 1 - i)                   # respaced index; the model sees t
        ours = diffusion.p_sample(toy_model, ours, k, noise=randn(B, C, H, H, seed=100 + i))["sample"]
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_ddim50_loop_equals_diffusers(eta):
    diffusion = create_diffusion("ddim50")
    scheduler = DDIMScheduler(**SCHEDULE, clip_sample=True, set_alpha_to_one=True, steps_offset=0,
                              timestep_spacing="leading")
    scheduler.set_timesteps(50)
    assert scheduler.timesteps.tolist() == diffusion.timestep_map[::-1] == list(range(980, -1, -20))
    x = ours = randn(B, F, C, H, H, seed=3)                         # DDIM is elementwise: videos as they are
    for i, t in enumerate(scheduler.timesteps):
        noise = randn(B, F, C, H, H, seed=200 + i)
        x = scheduler.step(toy_model(x, full(t))[:, :, :C], t, x, eta=eta, use_clipped_model_output=True,
                           variance_noise=noise).prev_sample
        k = full(diffusion.num_timesteps - 1 - i)
        ours = diffusion.ddim_sample(toy_model, ours, k, eta=eta, noise=noise)["sample"]
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- schedules and respacing
def test_paper_schedule():
    betas = beta_schedule("linear", 1000)
    assert betas.shape == (1000,) and betas.dtype == np.float64
    assert betas[0] == 1e-4 and abs(betas[-1] - 0.02) < 1e-12
    assert np.allclose(beta_schedule("linear", 500)[[0, -1]], [2e-4, 0.04])    # scaled by 1000 / T
    assert beta_schedule("squaredcos_cap_v2", 1000).max() == 0.999
    with pytest.raises(ValueError, match="noise_schedule='cubic'"):
        beta_schedule("cubic", 10)


def test_space_timesteps_follows_iddpm():
    assert space_timesteps(1000, "ddim50") == set(range(0, 1000, 20))
    kept = sorted(space_timesteps(1000, "250"))
    assert len(kept) == 250 and kept[:3] == [0, 4, 8] and kept[-3:] == [991, 995, 999]
    assert kept == np.linspace(0, 999, 250).round().astype(int).tolist()
    sections = space_timesteps(1000, "10,10,10")                # sections of 334, 333, 333 steps
    assert len(sections) == 30 and {0, 333, 334, 666, 667, 999} <= sections
    assert space_timesteps(300, "10,15,20") == space_timesteps(300, [10, 15, 20])
    with pytest.raises(ValueError, match="no integer stride gives exactly 999"):
        space_timesteps(1000, "ddim999")
    with pytest.raises(ValueError, match="cannot take 20 steps from a section of 10"):
        space_timesteps(20, "20,20")


def test_respacing_keeps_alpha_bar_at_the_kept_steps():
    base, spaced = create_diffusion(""), create_diffusion("250")
    assert spaced.num_timesteps == 250 and spaced.original_num_steps == 1000
    assert np.allclose(spaced.alphas_cumprod, base.alphas_cumprod[spaced.timestep_map], rtol=1e-12)


def test_respaced_model_sees_original_timesteps():
    seen = []

    def model(x, t, **kwargs):
        seen.append(t.tolist())
        return toy_model(x, t)

    x = randn(1, F, C, H, H, seed=0)
    create_diffusion("ddim10").p_mean_variance(model, x, torch.tensor([9]))
    create_diffusion("250").p_sample(model, x, torch.tensor([249]))
    create_diffusion("250").training_losses(model, x, torch.tensor([1]))
    assert seen == [[900], [999], [4]]


# --------------------------------------------------------------------------- forward process and the loss
def test_q_sample_matches_closed_form():
    diffusion = create_diffusion("")
    x0, noise, t = randn(B, F, C, H, H, seed=5), randn(B, F, C, H, H, seed=6), torch.tensor([0, 999])
    ab = torch.tensor(diffusion.alphas_cumprod[[0, 999]], dtype=torch.float32).view(B, 1, 1, 1, 1)
    torch.testing.assert_close(diffusion.q_sample(x0, t, noise), ab.sqrt() * x0 + (1 - ab).sqrt() * noise)
    mean, var, log_var = diffusion.q_posterior_mean_variance(x0, noise, t)
    assert mean.shape == var.shape == log_var.shape == x0.shape


def test_training_losses_on_videos_use_a_detached_mean_for_vb():
    diffusion = create_diffusion("")
    x0 = randn(B, F, C, H, H, seed=3).clamp(-1, 1)                   # (B, F, C, H, W)
    output = toy_model(x0, torch.zeros(B)).detach().requires_grad_(True)   # a leaf: (B, F, 2C, H, W)
    losses = diffusion.training_losses(lambda x, t, **kw: output, x0, torch.tensor([0, 600]),
                                       noise=randn(*x0.shape, seed=4))
    assert set(losses) == {"loss", "mse", "vb"}
    assert all(v.shape == (B,) for v in losses.values())
    torch.testing.assert_close(losses["loss"], losses["mse"] + losses["vb"])
    # VB trains only the variance channels (dim 2, after the C ε channels); MSE only the ε channels.
    (grad_vb,) = torch.autograd.grad(losses["vb"].sum(), output, retain_graph=True)
    (grad_mse,) = torch.autograd.grad(losses["mse"].sum(), output)
    assert torch.all(grad_vb[:, :, :C] == 0) and grad_vb[:, :, C:].abs().sum() > 0
    assert torch.all(grad_mse[:, :, C:] == 0) and grad_mse[:, :, :C].abs().sum() > 0


def test_a_perfect_model_has_zero_mse_and_zero_kl():
    """True ε and v = -1 (variance β̃_t) make p(x_{t-1}|x_t) the true posterior: KL = 0 for t > 0."""
    diffusion = create_diffusion("")
    x0, noise, t = randn(B, F, C, H, H, seed=7).clamp(-1, 1), randn(B, F, C, H, H, seed=8), torch.tensor([1, 700])

    def perfect(x, t, **kw):
        return torch.cat([noise, -torch.ones_like(noise)], dim=2)

    losses = diffusion.training_losses(perfect, x0, t, noise=noise)
    assert losses["mse"].abs().max() == 0 and losses["vb"].abs().max() < 1e-4


@pytest.mark.parametrize("kind", ["epsilon", "x_start", "velocity"])
def test_min_snr_weighting_equals_a_clipped_snr_weight_on_the_x0_error(kind):
    """Min-SNR-γ: the per-step MSE equals min(SNR, γ) × (the x_0-MSE implied by the prediction)."""
    plain = create_diffusion("", noise_schedule="squaredcos_cap_v2", learn_sigma=False, prediction=kind)
    weighted = create_diffusion("", noise_schedule="squaredcos_cap_v2", learn_sigma=False, min_snr_gamma=5.0,
                                prediction=kind)
    x0, noise = randn(3, C, H, H, seed=1).clamp(-1, 1), randn(3, C, H, H, seed=2)
    t = torch.tensor([5, 400, 950])
    guess = randn(3, C, H, H, seed=3)                            # whatever the network predicts
    a = plain.training_losses(lambda x, t: guess, x0, t, noise=noise)["mse"]
    b = weighted.training_losses(lambda x, t: guess, x0, t, noise=noise)["mse"]
    ab = torch.tensor(plain.alphas_cumprod[t.numpy()], dtype=torch.float64)
    snr = ab / (1 - ab)
    x_t = plain.q_sample(x0, t, noise).double()
    g, ab4 = guess.double(), ab.view(-1, 1, 1, 1)
    x0_hat = {"epsilon": (x_t - (1 - ab4).sqrt() * g) / ab4.sqrt(), "x_start": g,
              "velocity": ab4.sqrt() * x_t - (1 - ab4).sqrt() * g}[kind]
    x0_mse = ((x0_hat - x0.double()) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(b.double(), torch.minimum(snr, torch.tensor(5.0)) * x0_mse, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(a, b)                             # the weighting changes the loss
    with pytest.raises(ValueError, match="min_snr_gamma"):
        create_diffusion("", min_snr_gamma=0.0)


def test_other_loss_types():
    x0, t, noise = randn(B, C, H, H, seed=1).clamp(-1, 1), torch.tensor([0, 300]), randn(B, C, H, H, seed=2)
    kl = create_diffusion("", use_kl=True).training_losses(toy_model, x0, t, noise=noise)
    hybrid = create_diffusion("").training_losses(toy_model, x0, t, noise=noise)
    assert set(kl) == {"loss"}
    torch.testing.assert_close(kl["loss"], hybrid["vb"] * 1000)       # the full bound: one term × T
    fixed = create_diffusion("", learn_sigma=False)
    assert set(fixed.training_losses(lambda x, t: x, x0, t)) == {"loss", "mse"}
    with pytest.raises(ValueError, match="learn_sigma=True"):
        create_diffusion("").training_losses(lambda x, t: x, x0, t)  # C channels, but 2C needed


def test_vb_pieces():
    mean1, logvar1, mean2, logvar2 = randn(50, seed=1), randn(50, seed=2), randn(50, seed=3), randn(50, seed=4)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mean1, (0.5 * logvar1).exp()),
                                                 torch.distributions.Normal(mean2, (0.5 * logvar2).exp()))
    torch.testing.assert_close(normal_kl(mean1, logvar1, mean2, logvar2), expected)
    # The 256 bins of 8-bit data (edge bins holding the tails) sum to probability one.
    grid = torch.linspace(-1, 1, 256)
    for mean, log_scale in ((0.3, -2.0), (-0.9, -4.0), (0.0, 0.5)):
        log_p = discretized_gaussian_log_likelihood(grid, torch.full_like(grid, mean), torch.full_like(grid, log_scale))
        assert abs(log_p.exp().sum().item() - 1) < 1e-5


# --------------------------------------------------------------------------- layout rule
def test_channel_dim_rule_and_override():
    """Video (B, F, C, H, W) with the default rule == the same video as (B, C, F, H, W) with channel_dim=1."""
    x, t = randn(B, F, C, H, H, seed=9), torch.tensor([3, 900])
    default = create_diffusion("")
    channels_first = create_diffusion("", channel_dim=1)

    def model_cf(x, t, **kw):                                     # the toy model on channels-first videos
        return toy_model(x.transpose(1, 2), t).transpose(1, 2)

    a = default.p_mean_variance(toy_model, x, t)
    b = channels_first.p_mean_variance(model_cf, x.transpose(1, 2).contiguous(), t)
    for key in ("mean", "variance", "pred_xstart"):
        torch.testing.assert_close(a[key], b[key].transpose(1, 2))
    assert default.channel_axis(x) == 2 and default.channel_axis(x[:, 0]) == 1


# --------------------------------------------------------------------------- guidance and sampling
@pytest.mark.parametrize("video", [True, False])
def test_classifier_free_guidance_guides_only_eps(video):
    def conditional(x, t, y):
        dim = 2 if x.dim() == 5 else 1
        return toy_model(x, t) + y.float().view(-1, *([1] * (x.dim() - 1))) * (1 + torch.arange(2 * C).view(
            *([1] * dim), 2 * C, *([1] * (x.dim() - dim - 1))))

    shape = (4, F, C, H, H) if video else (4, C, H, H)
    dim = 2 if video else 1
    x, t, y = randn(*shape, seed=10), full(50, 4), torch.tensor([1, 2, 0, 0])   # [cond; uncond (null = 0)]
    out = guided_model(conditional, 3.0)(x, t, y=y)
    both = conditional(torch.cat([x[:2], x[:2]]), t, y)
    eps, rest = both.split(C, dim=dim)
    guided = eps[2:] + 3.0 * (eps[:2] - eps[2:])
    torch.testing.assert_close(out, torch.cat([torch.cat([guided, guided]), rest], dim=dim))
    no_guidance = guided_model(conditional, 1.0)(x, t, y=y)
    torch.testing.assert_close(no_guidance.narrow(dim, 0, C)[:2], eps[:2])


@pytest.mark.parametrize("sampler, respacing, learn_sigma", [
    ("ddpm", "50", True), ("ddpm", "20", False), ("ddim", "ddim25", True), ("ddim", "ddim10", False)])
def test_an_oracle_denoiser_recovers_the_data(sampler, respacing, learn_sigma):
    """With the true ε for a single known x_0, every sampler lands on x_0."""
    x0 = randn(1, F, C, H, H, seed=7).clamp(-0.9, 0.9)
    diffusion = create_diffusion(respacing, learn_sigma=learn_sigma)
    alpha_bar = torch.tensor(create_diffusion("").alphas_cumprod, dtype=torch.float32)

    def oracle(x, t, **kwargs):                                   # t arrives as an original timestep
        a = alpha_bar[t].view(-1, 1, 1, 1, 1)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        return torch.cat([eps, torch.zeros_like(eps)], dim=2) if learn_sigma else eps

    loop = diffusion.ddim_sample_loop if sampler == "ddim" else diffusion.p_sample_loop
    out = loop(oracle, x0.shape, randn(*x0.shape, seed=8), clip_denoised=False, progress=sampler == "ddpm")
    assert out.shape == x0.shape and (out - x0).abs().max() < 1e-3


def test_progressive_loop_yields_every_step():
    diffusion = create_diffusion("ddim5")
    steps = list(diffusion.ddim_sample_loop_progressive(toy_model, (B, F, C, H, H)))
    assert len(steps) == 5 and all(s["sample"].shape == (B, F, C, H, H) for s in steps)


def test_velocity_prediction_target_and_inverse():
    """v = √ᾱ ε − √(1−ᾱ) x_0: a model that returns the true v has zero MSE and recovers x_0 exactly."""
    diffusion = create_diffusion("", predict_v=True, learn_sigma=False)
    x0, noise, t = randn(B, F, C, H, H, seed=11).clamp(-1, 1), randn(B, F, C, H, H, seed=12), torch.tensor([3, 900])
    ab = torch.tensor(diffusion.alphas_cumprod, dtype=torch.float32)[t].view(B, 1, 1, 1, 1)
    v_true = ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def perfect(x, tt, **kw):
        return v_true

    assert diffusion.training_losses(perfect, x0, t, noise=noise)["mse"].abs().max() < 1e-10
    x_t = diffusion.q_sample(x0, t, noise)
    out = diffusion.p_mean_variance(perfect, x_t, t, clip_denoised=False)
    assert torch.allclose(out["pred_xstart"], x0, atol=1e-5)
    with pytest.raises(ValueError, match="choose one of predict_xstart and predict_v"):
        create_diffusion("", predict_xstart=True, predict_v=True)


def test_prediction_is_one_name_and_the_dit_flags_say_the_same():
    for kind, flags in (("epsilon", {}), ("x_start", {"predict_xstart": True}), ("velocity", {"predict_v": True})):
        assert create_diffusion("", prediction=kind).prediction == create_diffusion("", **flags).prediction == kind
    with pytest.raises(ValueError, match="prediction='epsilon' contradicts predict_v=True"):
        create_diffusion("", prediction="epsilon", predict_v=True)
    with pytest.raises(ValueError, match="prediction='v' is not one of"):
        create_diffusion("", prediction="v")
