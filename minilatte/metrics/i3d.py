"""Inception-I3D (Carreira & Zisserman, 2017), the Kinetics-400 classifier behind FVD, in PyTorch.

A port of DeepMind's TF/Sonnet network as published on TF-Hub (``i3d-kinetics-400/1``), which the
FVD paper and StyleGAN-V (whose ``fvd2048_16f`` protocol Latte reports) use. Three details must
match the TF graph exactly or the logits drift:

* **"SAME" padding, TF style**: the output has ceil(n / stride) positions and the padding is split
  with the *extra* pixel at the end (PyTorch's symmetric ``padding=`` cannot express this);
  max-pooling pads with −∞ so padded positions never win.
* **Sonnet BatchNorm**: inference statistics, ε = 1e-3, a learned offset but no scale.
* **The logits head**: a VALID 2×7×7 average pool, a 1×1×1 convolution with bias, then the 400
  logits are averaged over the remaining time steps.

Module names follow the original endpoints (``Conv3d_1a_7x7`` … ``Mixed_5c``, ``Logits``), so the
converted weights keep the TF names. Inputs are (B, 3, T, 224, 224) in [-1, 1], T ≥ 9.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ENDPOINTS = ("Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
             "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
             "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c", "Logits")

# Output channels of the six 1×1 / 3×3 convolutions of each Inception module, in TF order:
# branch 0 (1×1), branch 1 (1×1 → 3×3), branch 2 (1×1 → 3×3), branch 3 (max-pool → 1×1).
INCEPTION_CHANNELS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
# Max-pool endpoints: (window, stride) as (T, H, W); pooling over time only starts at 4a.
POOLS = {"MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)), "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
         "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)), "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2))}


def same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """TF "SAME" padding for ``F.pad`` over the last len(size) axes: [W_before, W_after, H_…, T_…].

    Output length ceil(n / s); the total padding (ceil(n/s) − 1)·s + k − n, the odd pixel at the end.
    """
    pads = []
    for n, k, s in zip(size, kernel, stride):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return [p for pair in reversed(pads) for p in pair]     # F.pad wants the last axis first


def max_pool_same(x: torch.Tensor, window: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """TF max-pool with "SAME" padding: (B, C, T, H, W) → (B, C, ⌈T/s⌉, ⌈H/s⌉, ⌈W/s⌉)."""
    x = F.pad(x, same_padding(x.shape[2:], window, stride), value=float("-inf"))
    return F.max_pool3d(x, window, stride)


class SonnetBatchNorm(nn.Module):
    """Inference BatchNorm as in Sonnet v1: (x − mean) / √(var + 1e-3) + offset, no scale."""

    def __init__(self, channels: int, eps: float = 1e-3):
        super().__init__()
        self.eps = eps
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:           # (B, C, T, H, W)
        shape = (1, -1, 1, 1, 1)
        scale = torch.rsqrt(self.running_var + self.eps)
        return (x - self.running_mean.view(shape)) * scale.view(shape) + self.bias.view(shape)


class Unit3D(nn.Module):
    """Conv3d with TF "SAME" padding, then Sonnet BatchNorm and ReLU (the logits layer: bias only)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), batch_norm: bool = True, relu: bool = True):
        super().__init__()
        self.kernel, self.stride, self.relu = kernel, stride, relu
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride, bias=not batch_norm)
        self.bn = SonnetBatchNorm(out_channels) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:           # (B, C_in, T, H, W)
        x = self.conv(F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x                       # (B, C_out, ⌈T/s⌉, ⌈H/s⌉, ⌈W/s⌉)


class InceptionModule(nn.Module):
    """Four parallel branches concatenated on channels; the names are the TF variable scopes."""

    def __init__(self, in_channels: int, channels: tuple[int, int, int, int, int, int]):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = channels
        self.Branch_0 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(in_channels, c0)})
        self.Branch_1 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(in_channels, c1a),
                                       "Conv3d_0b_3x3": Unit3D(c1a, c1b, (3, 3, 3))})
        self.Branch_2 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(in_channels, c2a),
                                       "Conv3d_0b_3x3": Unit3D(c2a, c2b, (3, 3, 3))})
        self.Branch_3 = nn.ModuleDict({"Conv3d_0b_1x1": Unit3D(in_channels, c3)})
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:           # (B, C_in, T, H, W)
        b0 = self.Branch_0["Conv3d_0a_1x1"](x)
        b1 = self.Branch_1["Conv3d_0b_3x3"](self.Branch_1["Conv3d_0a_1x1"](x))
        b2 = self.Branch_2["Conv3d_0b_3x3"](self.Branch_2["Conv3d_0a_1x1"](x))
        b3 = self.Branch_3["Conv3d_0b_1x1"](max_pool_same(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([b0, b1, b2, b3], dim=1)                  # (B, C_out, T, H, W)


class InceptionI3d(nn.Module):
    """Kinetics-400 Inception-I3D: video (B, 3, T, H, W) in [-1, 1] → logits (B, 400) averaged over time.

    ``forward(x, final_endpoint=...)`` stops early and returns that endpoint's activations
    (B, C, T', H', W'); the full network needs T ≥ 9 and H, W ≥ 193 (224 in the FVD protocol) so
    that the last feature map is at least 2×7×7 for the VALID average pool of the logits head.
    """

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        channels = 192
        for name, widths in INCEPTION_CHANNELS.items():
            setattr(self, name, InceptionModule(channels, widths))
            channels = getattr(self, name).out_channels            # 256, 480, 512, …, 832, 1024
        self.Logits = nn.ModuleDict({"Conv3d_0c_1x1": Unit3D(channels, num_classes, batch_norm=False, relu=False)})

    def forward(self, x: torch.Tensor, final_endpoint: str = "Logits") -> torch.Tensor:
        if final_endpoint not in ENDPOINTS:
            raise ValueError(f"final_endpoint={final_endpoint!r} is not one of {', '.join(ENDPOINTS)}")
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"I3D input must be (B, 3, T, H, W); got {tuple(x.shape)}")
        for name in ENDPOINTS[:-1]:
            x = max_pool_same(x, *POOLS[name]) if name in POOLS else getattr(self, name)(x)
            if name == final_endpoint:
                return x
        if x.shape[2] < 2 or x.shape[3] < 7 or x.shape[4] < 7:
            raise ValueError(f"the I3D logits head needs a 2x7x7 feature map, got {tuple(x.shape[2:])}: "
                             "use at least 9 frames of 224x224 (the FVD protocol resizes to 224)")
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)                   # (B, 1024, T'−1, H'−6, W'−6)
        logits = self.Logits["Conv3d_0c_1x1"](x)                   # (B, 400, T'', 1, 1) at 224×224
        return logits.mean(dim=(3, 4)).mean(dim=2)                 # (B, 400)
