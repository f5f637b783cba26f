"""Checkers for notebook 02 (patch embedding): patchify from scratch, the token-count formula."""
from __future__ import annotations

import torch
from einops import rearrange

from ..models import patchify as reference_patchify
from .core import assert_close, assert_equal, call, passed, seeded

# Plausible wrong feature orders, each with the hint that explains it.
_WRONG_ORDERS = {
    "b f c (nh p) (nw q) -> b f (nh nw) (c p q)":
        "your features are ordered (C, p, q), like a flattened conv weight; the prompt orders each patch's "
        "features (p, q, C)",
    "b f c (nh p) (nw q) -> b f (nh nw) (q p c)":
        "rows and columns inside a patch are swapped",
    "b f c (nh p) (nw q) -> b f (nw nh) (p q c)":
        "your tokens are numbered column by column; the prompt numbers them row by row, like reading text",
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
        hint = "each token should hold one p×p patch of one frame, its numbers in the order (p, q, C) (see the prompt)"
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
        hint = ("the count differs from the tokens patchify makes: how many token frames does the tubelet stride "
                "leave, and how many patches fit in one frame?")
        if got == F * (H // p) * (W // p):
            hint = "your count ignores the tubelet stride: a tubelet spans several frames"
        elif isinstance(got, (int, float)) and got == expected * p:
            hint = "your count is p times too large: a patch is p pixels high and p pixels wide"
        assert_equal(f"num_tokens(num_frames={F}, height={H}, width={W}, patch_size={p}, tubelet_stride={s})",
                     got, expected, hint=hint)
    passed("num_tokens", detail=f" on {len(_CASES)} video sizes")
