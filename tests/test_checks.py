"""Every exercise checker accepts a correct solution and rejects plausible mistakes with a useful message."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from minilatte import checks


# ---------------------------------------------------------------- solutions, written from scratch
def patchify(x, p, order="p q c"):
    return rearrange(x, f"b f c (nh p) (nw q) -> b f (nh nw) ({order})", p=p, q=p)


def num_tokens(num_frames, height, width, patch_size, tubelet_stride=1):
    return (num_frames // tubelet_stride) * (height // patch_size) * (width // patch_size)


def temporal_attention(qkv, num_heads, seq="(b n) h f d"):
    B, Fr, N, _ = qkv.shape
    q, k, v = rearrange(qkv, f"b f n (three h d) -> three {seq}", three=3, h=num_heads)
    return rearrange(F.scaled_dot_product_attention(q, k, v), f"{seq} -> b f n (h d)", b=B, f=Fr, n=N)


def attention_mask(axis, num_frames, num_patches, swap=False):
    idx = torch.arange(num_frames * num_patches)
    same_frame = (idx[:, None] // num_patches) == (idx[None] // num_patches)
    same_patch = (idx[:, None] % num_patches) == (idx[None] % num_patches)
    return same_frame if (axis == "spatial") != swap else same_patch


def modulate(x, shift, scale, one=1.0):
    return x * (one + scale.unsqueeze(2)) + shift.unsqueeze(2)


def timestep_embedding(t, dim, cos_first=True):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    args = t[:, None].float() * freqs
    parts = [torch.cos(args), torch.sin(args)]
    return torch.cat(parts if cos_first else parts[::-1], dim=-1)


def sincos_1d(dim, positions, sin_first=True, dtype=torch.float64):
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=dtype) / (dim / 2))
    angles = positions.to(dtype)[:, None] * omega
    parts = [torch.sin(angles), torch.cos(angles)]
    return torch.cat(parts if sin_first else parts[::-1], dim=1).float()


def apply_rope(x, interleaved=False):
    L, d = x.shape[-2:]
    theta = 10000.0 ** (-torch.arange(0, d, 2).float() / d)
    ang = torch.arange(L).float()[:, None] * theta
    cos, sin = ang.cos(), ang.sin()
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def q_sample(x0, t, noise, alphas_cumprod, power=0.5):
    ab = torch.as_tensor(np.asarray(alphas_cumprod), dtype=torch.float32)[t].view(-1, 1, 1, 1, 1)
    return ab ** power * x0 + (1 - ab) ** power * noise


def ddim_step(x_t, eps, ab, ab_prev, sign=1.0):
    x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    return ab_prev.sqrt() * x0 + sign * (1 - ab_prev).sqrt() * eps


CORRECT = [
    (checks.check_patchify, patchify),
    (checks.check_token_count, num_tokens),
    (checks.check_temporal_attention, temporal_attention),
    (checks.check_attention_mask, attention_mask),
    (checks.check_modulate, modulate),
    (checks.check_timestep_embedding, timestep_embedding),
    (checks.check_sincos_1d, sincos_1d),
    (checks.check_apply_rope, apply_rope),
    (checks.check_q_sample, q_sample),
    (checks.check_ddim_step, ddim_step),
]

# (checker, wrong answer, words the message must contain)
WRONG = [
    (checks.check_patchify, lambda x, p: patchify(x, p, "c p q"), "(C, p, q)"),
    (checks.check_patchify, lambda x, p: patchify(x, p, "q p c"), "swapped"),
    (checks.check_patchify, lambda x, p: x.flatten(3), "shape"),
    (checks.check_token_count, lambda frames, H, W, p, s=1: frames * (H // p) * (W // p), "ignores the tubelet stride"),
    (checks.check_token_count, lambda frames, H, W, p, s=1: (frames // s) * H * W // p, "p times too large"),
    (checks.check_temporal_attention, lambda qkv, h: temporal_attention(qkv, h, "(b f) h n d"), "spatial attention"),
    (checks.check_temporal_attention,
     lambda qkv, h: temporal_attention(torch.cat(qkv.chunk(3, -1)[::-1], -1), h), "differs"),
    (checks.check_attention_mask, lambda a, f, n: attention_mask(a, f, n, swap=True), "mask"),
    (checks.check_attention_mask, lambda a, f, n: torch.ones(f * n, f * n, dtype=torch.bool), "differs"),
    (checks.check_modulate, lambda x, sh, sc: modulate(x, sh, sc, one=0.0), "scale = 0 must leave the tokens unchanged"),
    (checks.check_modulate, lambda x, sh, sc: modulate(x, sc, sh), "swapped"),
    (checks.check_timestep_embedding, lambda t, d: timestep_embedding(t, d, cos_first=False), "cos half first"),
    (checks.check_sincos_1d, lambda d, pos: sincos_1d(d, pos, sin_first=False), "halves are swapped"),
    (checks.check_sincos_1d, lambda d, pos: sincos_1d(d, pos)[:, : d // 2], "shape"),
    (checks.check_sincos_1d, lambda d, pos: sincos_1d(d, pos, dtype=torch.float32), "computed in float32"),
    (checks.check_sincos_1d, lambda d, pos: sincos_1d(d, pos).double(), "expected torch.float32"),
    (checks.check_apply_rope, lambda x: apply_rope(x, interleaved=True), "rotate half"),
    (checks.check_apply_rope, lambda x: apply_rope(x.flip(-2)).flip(-2), "0 … L-1"),
    (checks.check_q_sample, lambda x0, t, n, ab: q_sample(x0, t, n, ab, power=1.0), "those are variances"),
    (checks.check_q_sample, lambda x0, t, n, ab: q_sample(n, t, x0, ab), "swapped"),
    (checks.check_ddim_step, lambda x, e, ab, abp: (x - (1 - ab).sqrt() * e) / ab.sqrt(), "that is x̂_0"),
    (checks.check_ddim_step, lambda x, e, ab, abp: ddim_step(x, e, ab, abp, sign=-1.0), "wrong sign"),
]


@pytest.mark.parametrize("checker,solution", CORRECT, ids=[c.__name__ for c, _ in CORRECT])
def test_checker_accepts_the_solution(checker, solution, capsys):
    checker(solution)
    out = capsys.readouterr().out
    assert out.startswith("✓ ") and "matches minilatte" in out and out.count("\n") == 1


@pytest.mark.parametrize("checker,wrong,words", WRONG, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(WRONG)])
def test_checker_rejects_a_plausible_mistake(checker, wrong, words):
    with pytest.raises(AssertionError) as info:
        checker(wrong)
    assert words in str(info.value), str(info.value)


def test_unsolved_exercise_raises_not_implemented_unchanged():
    def unsolved(*args):
        raise NotImplementedError("Exercise: patchify from scratch")
    with pytest.raises(NotImplementedError, match="patchify from scratch"):
        checks.check_patchify(unsolved)


def test_a_crash_in_learner_code_names_the_call():
    with pytest.raises(AssertionError, match=r"patchify raised ZeroDivisionError.*\n  called with: a tensor of shape"):
        checks.check_patchify(lambda x, p: 1 / 0)


def test_every_checker_is_exported_and_tested():
    exported = {name for name in dir(checks) if name.startswith("check_")}
    mine = {c.__name__ for c, _ in CORRECT}
    # Other notebooks add their own checkers; each checker of notebooks 02-06 must be tested here.
    assert mine <= exported
    assert {c.__name__ for c, _, _ in WRONG} == mine
