"""Checkers for notebook 02 (patch embedding): patchify from scratch, the token-count formula."""
from __future__ import annotations

import torch
from einops import rearrange

from ..models import patchify as reference_patchify
from .core import assert_close, assert_equal, call, passed, seeded

# Plausible wrong feature orders, each with the hint that explains it.
_WRONG_ORDERS = {
    "b f c (nh p) (nw q) -> b f (nh nw) (c p q)":
        "your features are ordered (C, p, q), like a flattened conv weight; minilatte orders each patch's "
        "features (p, q, C): row in the patch, column in the patch, then channel",
    "b f c (nh p) (nw q) -> b f (nh nw) (q p c)":
        "rows and columns inside a patch are swapped: flatten (p q c), row p first",
    "b f c (nh p) (nw q) -> b f (nw nh) (p q c)":
        "the patch grid is column-major: tokens must be numbered row by row, (nh nw), like reading text",
}


def check_patchify(patchify) -> None:
    """``patchify(x, patch_size)``: (B, F, C, H, W) -> (B, F, N, p*p*C), N = (H/p)(W/p), row-major.

    Exact (tolerance 0): cutting into patches only moves numbers.
    """
    gen = seeded(0)
    worst = 0.0
    for shape, p in (((2, 3, 4, 8, 12), 2), ((1, 2, 3, 8, 8), 4), ((1, 1, 1, 4, 6), 1)):
        x = torch.randn(*shape, generator=gen)
        expected = reference_patchify(x, p)
        got = call("patchify", patchify, x, p)
        hint = "each token is one p×p patch of one frame, flattened in the order (p, q, C)"
        if isinstance(got, torch.Tensor) and got.shape == expected.shape and not torch.equal(got, expected):
            for pattern, wrong_hint in _WRONG_ORDERS.items():
                if torch.equal(got, rearrange(x, pattern, p=p, q=p)):
                    hint = wrong_hint
        worst = max(worst, assert_close(f"patchify(x of shape {shape}, patch_size={p})", got, expected,
                                        atol=0, rtol=0, hint=hint))
    passed("patchify", worst)


_CASES = [  # (num_frames, height, width, patch_size, tubelet_stride)
    (16, 32, 32, 2, 1), (16, 32, 32, 2, 2), (16, 32, 32, 4, 4), (8, 16, 16, 1, 1), (8, 16, 24, 4, 2),
]


def check_token_count(num_tokens) -> None:
    """``num_tokens(num_frames, height, width, patch_size, tubelet_stride=1)`` -> tokens of one video.

    Compared with the number of tokens minilatte's ``patchify`` actually produces.
    """
    for F, H, W, p, s in _CASES:
        expected = reference_patchify(torch.zeros(1, F, 1, H, W), p, s).shape
        expected = expected[1] * expected[2]                  # n_f * N
        got = call("num_tokens", num_tokens, F, H, W, p, s)
        hint = "n_f = F / s token frames, each with (H / p) * (W / p) patches"
        if got == F * (H // p) * (W // p):
            hint = "a tubelet spans s frames, so there are only F / s token frames"
        elif isinstance(got, (int, float)) and got == expected * p:
            hint = "patches are p × p: divide H and W by p each"
        assert_equal(f"num_tokens(num_frames={F}, height={H}, width={W}, patch_size={p}, tubelet_stride={s})",
                     got, expected, hint=hint)
    passed("num_tokens", detail=f" on {len(_CASES)} video sizes")
