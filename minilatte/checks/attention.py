"""Checkers for notebook 03 (spatial and temporal attention)."""
from __future__ import annotations

import torch
from einops import rearrange

from ..models import Attention
from ..models import attend
from .core import assert_close, call, passed, seeded


def check_temporal_attention(temporal_attention) -> None:
    """``temporal_attention(qkv, num_heads)``: (B, F, N, 3*D) -> (B, F, N, D), attention across frames.

    ``qkv`` holds q, k, v side by side, each split into heads: features ``(three h d)``. Compared with
    minilatte's ``attend(qkv, "temporal", num_heads)``, tolerance 1e-5.
    """
    gen = seeded(1)
    B, F, N, h, d = 2, 5, 6, 2, 4
    qkv = torch.randn(B, F, N, 3 * h * d, generator=gen)
    expected = attend(qkv, "temporal", h)
    got = call("temporal_attention", temporal_attention, qkv, h)
    hint = ("temporal attention runs one sequence per video and patch position, over the F frames: compare the "
            "shapes you pass to scaled_dot_product_attention with (batch, heads, length, d)")
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        if torch.allclose(got, attend(qkv, "spatial", h), atol=1e-5):
            hint = "this is spatial attention (within each frame); temporal attention mixes frames, not patches"
        elif torch.allclose(got, _wrong_head_split(qkv, h), atol=1e-5):
            hint = "q/k/v and the heads were split in the wrong order (the prompt gives the feature layout)"
    max_diff = assert_close("temporal_attention", got, expected, atol=1e-5, rtol=1e-5, hint=hint)
    passed("temporal_attention", max_diff)


def _wrong_head_split(qkv: torch.Tensor, h: int) -> torch.Tensor:
    B, F, N = qkv.shape[:3]
    q, k, v = rearrange(qkv, "b f n (h three d) -> three (b n) h f d", three=3, h=h)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    return rearrange(out, "(b n) h f d -> b f n (h d)", b=B, n=N)


def receptive_field(module, num_frames: int, num_patches: int, dim: int) -> torch.Tensor:
    """Which input tokens each output token depends on, measured: (F*N, F*N) bool, [output, input].

    ``module`` maps a grid (B, F, N, D) to (B, F, N, D). Copy j of the input has token j changed;
    output token i depends on input token j when it changes too. Token index = frame * N + patch.
    """
    gen = seeded(2)
    tokens = num_frames * num_patches
    x = torch.randn(1, num_frames, num_patches, dim, generator=gen)
    batch = x.repeat(tokens + 1, 1, 1, 1)                         # copy 0 stays unchanged
    bumped = rearrange(batch[1:], "j f n d -> j (f n) d").clone()
    bumped[torch.arange(tokens), torch.arange(tokens)] += torch.randn(tokens, dim, generator=gen)
    batch[1:] = rearrange(bumped, "j (f n) d -> j f n d", f=num_frames)
    with torch.no_grad():
        out = rearrange(module(batch), "j f n d -> j (f n) d")    # (1 + F*N, F*N, D)
    changed = (out[1:] - out[:1]).abs().amax(-1) > 1e-6           # [input j, output i]
    return changed.T


def check_attention_mask(attention_mask) -> None:
    """``attention_mask(axis, num_frames, num_patches)`` -> (F*N, F*N) bool: may token i attend to token j?

    Tokens are numbered frame by frame (index = frame * N + patch). Compared with the receptive field of
    minilatte's ``Attention`` measured by changing one input token at a time (``receptive_field``), for
    ``axis`` "spatial" and "temporal".
    """
    torch.manual_seed(0)
    attn = Attention(8, 2)
    for axis in ("spatial", "temporal"):
        for F, N in ((3, 4), (2, 5)):
            expected = receptive_field(lambda g: attn(g, axis), F, N, 8)
            got = call("attention_mask", attention_mask, axis, F, N)
            name = f"attention_mask({axis!r}, num_frames={F}, num_patches={N})"
            if not isinstance(got, torch.Tensor):
                raise AssertionError(f"{name}: expected a bool tensor of shape {tuple(expected.shape)}, got {got!r}")
            hint = ("spatial attention links every pair of tokens of one frame, and nothing else"
                    if axis == "spatial" else
                    "temporal attention links the tokens of one patch position across all frames, and nothing else")
            if got.shape == expected.shape and torch.equal(got.bool(), receptive_field(
                    lambda g: attn(g, "spatial" if axis == "temporal" else "temporal"), F, N, 8)):
                hint = f"you drew the {'spatial' if axis == 'temporal' else 'temporal'} mask for axis={axis!r}"
            assert_close(name, got.bool().int(), expected.int(), atol=0, rtol=0, hint=hint, what="mask")
    passed("attention_mask", detail=" for spatial and temporal attention")
