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
        hint = "count weights and biases of qkv (D→3D), proj (D→D), fc1 (D→rD), fc2 (rD→D), adaLN (D→6D)"
        if got == expected - (3 * D + D + H + D + 6 * D):
            hint = "every Linear has a bias too"
        elif got == expected - (6 * D * D + 6 * D):
            hint = "the adaLN Linear (D → 6D: shift, scale, gate for attention and MLP) belongs to the block"
        elif got == expected + 4 * D:
            hint = "with S-AdaLN the LayerNorms have no affine parameters (the modulation replaces them)"
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
        hint = "sequences × 2 matmuls × 2 FLOPs × L² × D, with L the sequence length along the axis"
        if isinstance(got, (int, float)):
            if got == _attention_flops(frames, tokens, width, "temporal" if axis == "spatial" else "spatial"):
                hint = "spatial attention runs F sequences of length N; temporal runs N sequences of length F"
            elif got * 2 == expected:
                hint = "there are two matmuls (q·kᵀ and weights·v), or 2 FLOPs per multiply-add: one factor 2 is missing"
            elif got * 4 == expected:
                hint = "count both matmuls (q·kᵀ and weights·v) and 2 FLOPs per multiply-add"
        assert_equal("attention_flops", got, expected, hint=hint,
                     what=f"the count for F={frames}, N={tokens}, D={width}, axis={axis!r}")
    passed("attention_flops", detail=" (FlopCounterMode on minilatte's attend) for 4 shapes")
