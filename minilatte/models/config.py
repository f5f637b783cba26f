"""LatteConfig: every architecture choice of the paper as one validated dataclass."""
from __future__ import annotations

from dataclasses import dataclass

VARIANTS = (1, 2, 3, 4)
PATCH_EMBEDDINGS = ("uniform", "compression")
CONDITIONINGS = ("s-adaln", "tokens")
TEMPORAL_PES = ("absolute", "rope")


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")


@dataclass(frozen=True)
class LatteConfig:
    """Sizes and paper choices of a Latte model.

    ``depth`` counts every block: for variants 1 and 2 half of them are spatial and half temporal;
    a variant-3 or variant-4 block does both at once.
    """

    input_size: int = 32          # latent height = width (H = W)
    num_frames: int = 16          # video frames F (images for joint training come on top)
    in_channels: int = 4          # latent channels C (4 for the Stable Diffusion VAE)
    patch_size: int = 2
    hidden_size: int = 1152
    depth: int = 28
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_classes: int = 0          # 0 = unconditional
    class_dropout_prob: float = 0.1
    learn_sigma: bool = True      # output 2C channels: ε and the variance interpolation v
    variant: int = 1
    patch_embedding: str = "uniform"
    tubelet_stride: int = 1       # frames per token for patch_embedding="compression"
    conditioning: str = "s-adaln"
    temporal_pe: str = "absolute"

    def __post_init__(self):
        _choice("variant", self.variant, VARIANTS)
        _choice("patch_embedding", self.patch_embedding, PATCH_EMBEDDINGS)
        _choice("conditioning", self.conditioning, CONDITIONINGS)
        _choice("temporal_pe", self.temporal_pe, TEMPORAL_PES)
        for name in ("input_size", "num_frames", "in_channels", "patch_size", "hidden_size", "depth",
                     "num_heads", "tubelet_stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        if self.num_classes < 0:
            raise ValueError(f"num_classes={self.num_classes} must be >= 0 (0 = unconditional)")
        if self.input_size % self.patch_size:
            raise ValueError(f"input_size={self.input_size} is not divisible by patch_size={self.patch_size}; "
                             f"use a multiple of {self.patch_size}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} does not divide hidden_size={self.hidden_size}; "
                             f"use a divisor of {self.hidden_size}")
        if self.hidden_size % 4:
            raise ValueError(f"hidden_size={self.hidden_size} must be a multiple of 4 (2D sin-cos table)")
        if self.temporal_pe == "rope" and (self.hidden_size // self.num_heads) % 2:
            raise ValueError(f"temporal_pe='rope' needs an even head width; hidden_size/num_heads = "
                             f"{self.hidden_size // self.num_heads}")
        if self.variant in (1, 2) and self.depth % 2:
            raise ValueError(f"depth={self.depth} must be even for variant {self.variant} "
                             "(half spatial, half temporal blocks)")
        if self.variant == 4 and self.num_heads % 2:
            raise ValueError(f"num_heads={self.num_heads} must be even for variant 4 (half spatial, half temporal)")
        if self.patch_embedding == "uniform" and self.tubelet_stride != 1:
            raise ValueError(f"tubelet_stride={self.tubelet_stride} needs patch_embedding='compression'; "
                             "uniform patch embedding uses tubelet_stride=1")
        if self.patch_embedding == "compression" and self.tubelet_stride < 2:
            raise ValueError("patch_embedding='compression' needs tubelet_stride >= 2 (frames per token)")
        if self.num_frames % self.tubelet_stride:
            raise ValueError(f"num_frames={self.num_frames} is not divisible by tubelet_stride="
                             f"{self.tubelet_stride}; use a multiple of {self.tubelet_stride}")

    @property
    def out_channels(self) -> int:
        return 2 * self.in_channels if self.learn_sigma else self.in_channels

    @property
    def grid_size(self) -> int:
        """Patches per side, n_h = n_w."""
        return self.input_size // self.patch_size

    @property
    def token_frames(self) -> int:
        """n_f: token frames of the video part (F / tubelet_stride)."""
        return self.num_frames // self.tubelet_stride
