"""LatteConfig: every architecture choice of the paper as one validated dataclass."""
from __future__ import annotations

from dataclasses import dataclass

VARIANTS = (1, 2, 3, 4)
PATCH_EMBEDDINGS = ("uniform", "compression")
CONDITIONINGS = ("s-adaln", "tokens", "text")
TEMPORAL_PES = ("absolute", "rope")
IMAGE_LABEL_DROPOUTS = ("per_sample", "per_image")
_SIZE_FIELDS = ("input_size", "num_frames", "in_channels", "patch_size", "hidden_size", "depth", "num_heads",
                "tubelet_stride")


def _choice(name: str, value, allowed) -> None:
    if not isinstance(value, type(allowed[0])) or isinstance(value, bool) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    class_dropout_prob: float = 0.1   # label (or caption) dropout for CFG; > 0 also gives the label table its null-class row
    learn_sigma: bool = True      # output 2C channels: ε and the variance interpolation v
    variant: int = 1
    patch_embedding: str = "uniform"
    tubelet_stride: int = 1       # frames per token for patch_embedding="compression"
    conditioning: str = "s-adaln"     # "text": captions through cross-attention, adaLN-single (models/text.py)
    text_dim: int = 0             # C_text, channels of the caption embeddings (conditioning="text"; 4096 for T5-XXL)
    temporal_pe: str = "absolute"
    # Joint image-video training: how label dropout treats the labels of a sample's appended images.
    # "per_sample": one drop decision for all of a sample's images (as in the official Latte code,
    # models/latte_img.py); "per_image": an independent decision for every image.
    image_label_dropout: str = "per_sample"

    def __post_init__(self):
        _choice("variant", self.variant, VARIANTS)
        _choice("patch_embedding", self.patch_embedding, PATCH_EMBEDDINGS)
        _choice("conditioning", self.conditioning, CONDITIONINGS)
        _choice("temporal_pe", self.temporal_pe, TEMPORAL_PES)
        _choice("image_label_dropout", self.image_label_dropout, IMAGE_LABEL_DROPOUTS)
        for name in _SIZE_FIELDS:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        if not _is_int(self.num_classes) or self.num_classes < 0:
            raise ValueError(f"num_classes={self.num_classes!r} must be an integer >= 0 (0 = unconditional)")
        if not _is_int(self.text_dim) or self.text_dim < 0:
            raise ValueError(f"text_dim={self.text_dim!r} must be an integer >= 0 (caption channels; 0 = no text)")
        if (self.conditioning == "text") != (self.text_dim > 0):
            raise ValueError(f"conditioning={self.conditioning!r} with text_dim={self.text_dim}: conditioning='text' "
                             "needs text_dim >= 1 (the caption channels), and text_dim > 0 needs conditioning='text'")
        if self.conditioning == "text" and self.num_classes:
            raise ValueError(f"num_classes={self.num_classes} with conditioning='text': a text model takes captions, "
                             "not class labels; use num_classes=0")
        if self.conditioning == "text" and self.variant not in (1, 2):
            raise ValueError(f"variant={self.variant} with conditioning='text': cross-attention sits in the spatial "
                             "blocks, which variants 1 and 2 have; use variant 1 or 2")
        if not isinstance(self.learn_sigma, bool):
            raise ValueError(f"learn_sigma={self.learn_sigma!r} must be True or False")
        if not _is_real(self.mlp_ratio) or not self.mlp_ratio > 0 or int(self.hidden_size * self.mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio={self.mlp_ratio!r} must be a number > 0 (hidden_size * mlp_ratio >= 1)")
        if not _is_real(self.class_dropout_prob) or not 0.0 <= self.class_dropout_prob < 1.0:
            raise ValueError(f"class_dropout_prob={self.class_dropout_prob!r} must be a number in [0, 1)")
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
    def has_null_class(self) -> bool:
        """Whether the label table has the null-class row (index ``num_classes``) that CFG needs.

        As in DiT and the official Latte code, the row exists only for a class-conditional model
        trained with label dropout (``class_dropout_prob > 0``): otherwise nothing would train it.
        """
        return self.num_classes > 0 and self.class_dropout_prob > 0

    @property
    def label_table_rows(self) -> int:
        """Rows of the label embedding table: the classes, plus the null class where there is one."""
        return self.num_classes + int(self.has_null_class)

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
