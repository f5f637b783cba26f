"""Checkers for notebook 10 (scaling up): parameters of one block, FLOPs of one attention layer."""
from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from ..models import TransformerBlock
from ..models import attend
from .core import assert_equal, call, passed


def check_block_parameters(block_parameters) -> None:
    """``block_parameters(hidden_size, mlp_ratio)`` -> trainable parameters of one S-AdaLN Latte block.

    A block (spatial or temporal: the same weights) holds a fused qkv and an output projection, an MLP
    D → mlp_ratio·D → D, and the adaLN Linear D → 6D, all with biases; its LayerNorms have no
    parameters. Compared exactly with minilatte's ``TransformerBlock`` for four widths.
    """
    for hidden_size, mlp_ratio in ((64, 4.0), (384, 4.0), (1152, 4.0), (96, 2.0)):
        with torch.device("meta"):
            block = TransformerBlock(hidden_size, num_heads=4, axis="spatial", mlp_ratio=mlp_ratio, adaln=True)
        expected = sum(p.numel() for p in block.parameters())
        got = call("block_parameters", block_parameters, hidden_size, mlp_ratio)
        D, H = hidden_size, int(hidden_size * mlp_ratio)
        hint = "go through the layers the prompt lists and count each Linear's weights and biases"
        if got == expected - (3 * D + D + H + D + 6 * D):
            hint = "the biases are missing from your count"
        elif got == expected - (6 * D * D + 6 * D):
            hint = "the S-AdaLN Linear is missing from your count: it belongs to the block"
        elif got == expected + 4 * D:
            hint = "your count includes LayerNorm weights; with S-AdaLN the LayerNorms have none"
        assert_equal("block_parameters", got, expected, hint=hint,
                     what=f"the count for hidden_size={hidden_size}, mlp_ratio={mlp_ratio}")
    passed("block_parameters", detail=" for 4 widths")


def _attention_flops(num_frames: int, tokens_per_frame: int, width: int, axis: str) -> int:
    qkv = torch.zeros(1, num_frames, tokens_per_frame, 3 * width)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        attend(qkv, axis, num_heads=2)
    return counter.get_total_flops()


def check_attention_flops(attention_flops) -> None:
    """``attention_flops(num_frames, tokens_per_frame, width, axis)`` -> FLOPs of one attention over the
    token grid of one video, without the qkv and output projections (2 FLOPs per multiply-add).

    ``axis="spatial"``: F sequences of N tokens; ``axis="temporal"``: N sequences of F tokens. Both
    matmuls count: scores q·kᵀ and the weighted sum of v. Compared exactly with PyTorch's
    FlopCounterMode on minilatte's ``attend`` (math backend), on four shapes.
    """
    for frames, tokens, width, axis in ((4, 16, 32, "spatial"), (4, 16, 32, "temporal"),
                                        (16, 256, 64, "spatial"), (8, 64, 32, "temporal")):
        expected = _attention_flops(frames, tokens, width, axis)
        got = call("attention_flops", attention_flops, frames, tokens, width, axis)
        hint = ("count the sequences along the axis, their length and the FLOPs of the two matmuls of one "
                "sequence")
        if isinstance(got, (int, float)):
            if got == _attention_flops(frames, tokens, width, "temporal" if axis == "spatial" else "spatial"):
                hint = ("that is the count for the other axis: spatial and temporal attention differ in how many "
                        "sequences they run and how long these are")
            elif got * 2 == expected:
                hint = "your count is half the expected one: one factor 2 is missing (see the prompt)"
            elif got * 4 == expected:
                hint = "your count is a quarter of the expected one: both factors 2 of the prompt are missing"
        assert_equal("attention_flops", got, expected, hint=hint,
                     what=f"the count for F={frames}, N={tokens}, D={width}, axis={axis!r}")
    passed("attention_flops", detail=" (FlopCounterMode on minilatte's attend) for 4 shapes")
