"""Diffusion: the same numbers as diffusers' schedulers, the hybrid loss, respacing, samplers."""
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from minilatte.diffusion import beta_schedule, create_diffusion, space_timesteps

B, C, H = 2, 4, 8
W = torch.randn(2 * C, C, generator=torch.Generator().manual_seed(0)) * 0.5


def toy_model(x, t, **kwargs):
    """A fixed deterministic 'network' for images (B, C, H, W) or videos (B, F, C, H, W): 2C outputs."""
    dim = 2 if x.dim() == 5 else 1
    out = torch.einsum("oc,...chw->...ohw", W, x) + t.float().view(-1, *([1] * (x.dim() - 1))) / 1000
    eps, v = out.split(C, dim=dim)
    return torch.cat([eps, torch.tanh(v)], dim=dim)


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("t", [999, 500, 10, 1, 0])
def test_ddpm_step_equals_diffusers_learned_range(t):
    diffusion = create_diffusion("")
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                              variance_type="learned_range", clip_sample=True)
    x = randn(B, C, H, H, seed=1)
    tt = torch.full((B,), t)
    output = toy_model(x, tt)
    expected = scheduler.step(output, t, x, generator=torch.Generator().manual_seed(5)).prev_sample
    ours = diffusion.p_sample(toy_model, x, tt, noise=randn(B, C, H, H, seed=5))["sample"]
    # diffusers keeps its schedule in float32, minilatte (like IDDPM) in float64: agree to ~1e-4.
    assert torch.allclose(ours, expected, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_ddim50_loop_equals_diffusers(eta):
    diffusion = create_diffusion("ddim50")
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                              clip_sample=True, set_alpha_to_one=True, steps_offset=0, timestep_spacing="leading")
    scheduler.set_timesteps(50)
    assert sorted(scheduler.timesteps.tolist()) == sorted(space_timesteps(1000, "ddim50"))
    x = ours = randn(B, C, H, H, seed=2)
    for i, t in enumerate(scheduler.timesteps):
        tt = torch.full((B,), int(t))
        noise = randn(B, C, H, H, seed=100 + i)
        x = scheduler.step(toy_model(x, tt)[:, :C], t, x, eta=eta, use_clipped_model_output=True,
                           variance_noise=noise).prev_sample
        k = torch.full((B,), diffusion.num_timesteps - 1 - i)      # respaced index of t
        ours = diffusion.ddim_sample(toy_model, ours, k, eta=eta, noise=noise)["sample"]
    assert torch.allclose(ours, x, atol=1e-4, rtol=1e-4)


def test_paper_schedule_and_respacing():
    betas = beta_schedule("linear", 1000)
    assert betas[0] == 1e-4 and abs(betas[-1] - 0.02) < 1e-12 and len(betas) == 1000
    assert space_timesteps(1000, "ddim50") == set(range(0, 1000, 20))
    assert len(space_timesteps(1000, "250")) == 250 and 0 in space_timesteps(1000, "250")
    assert space_timesteps(300, "10,15,20") == space_timesteps(300, [10, 15, 20])
    spaced = create_diffusion("250")
    assert spaced.num_timesteps == 250
    # The kept steps keep their ᾱ: the respaced process is the original one, seen at fewer times.
    base = create_diffusion("")
    assert torch.allclose(torch.tensor(spaced.alphas_cumprod), torch.tensor(base.alphas_cumprod[spaced.timestep_map]))
    with pytest.raises(ValueError, match="no integer stride gives exactly 999"):
        space_timesteps(1000, "ddim999")
    with pytest.raises(ValueError, match="noise_schedule='cubic'"):
        beta_schedule("cubic", 10)


def test_respaced_model_sees_original_timesteps():
    seen = []

    def model(x, t, **kw):
        seen.append(t.clone())
        return toy_model(x, t)

    create_diffusion("ddim10").p_mean_variance(model, randn(1, C, H, H, seed=0), torch.tensor([9]))
    assert seen[0].item() == 900


def test_training_losses_on_video_tensors():
    diffusion = create_diffusion("")
    x0 = randn(B, 3, C, H, H, seed=3).clamp(-1, 1)         # (B, F, C, H, W)
    t = torch.tensor([0, 600])
    W.requires_grad_(True)
    try:
        losses = diffusion.training_losses(toy_model, x0, t, noise=randn(*x0.shape, seed=4))
        assert set(losses) == {"loss", "mse", "vb"} and losses["loss"].shape == (B,)
        assert torch.allclose(losses["loss"], losses["mse"] + losses["vb"])
        # VB must not train the mean: its gradient reaches only the variance rows of W.
        (grad,) = torch.autograd.grad(losses["vb"].sum(), W)
        assert torch.all(grad[:C] == 0) and grad[C:].abs().sum() > 0
    finally:
        W.requires_grad_(False)


def test_q_sample_matches_closed_form():
    diffusion = create_diffusion("")
    x0, noise, t = randn(B, C, H, H, seed=5), randn(B, C, H, H, seed=6), torch.tensor([0, 999])
    ab = torch.tensor(diffusion.alphas_cumprod[[0, 999]], dtype=torch.float32).view(B, 1, 1, 1)
    assert torch.allclose(diffusion.q_sample(x0, t, noise), ab.sqrt() * x0 + (1 - ab).sqrt() * noise, atol=1e-5)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_an_oracle_denoiser_recovers_the_data(sampler):
    """With the true ε for a single known x0, sampling must land on x0."""
    x0 = randn(1, 2, C, H, H, seed=7).clamp(-0.9, 0.9)
    diffusion = create_diffusion("ddim25" if sampler == "ddim" else "50", learn_sigma=False)
    ab = torch.tensor(create_diffusion("").alphas_cumprod, dtype=torch.float32)

    def oracle(x, t, **kw):
        a = ab[t].view(-1, 1, 1, 1, 1)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()

    loop = diffusion.ddim_sample_loop if sampler == "ddim" else diffusion.p_sample_loop
    out = loop(oracle, x0.shape, noise=randn(*x0.shape, seed=8))
    assert (out - x0).abs().max() < 0.02
