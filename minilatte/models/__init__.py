"""Latte model components: pure ``nn.Module``s, no I/O, nothing imported from the rest of minilatte."""
from .attention import Attention, FactorizedHeadAttention
from .blocks import FactorizedAttentionBlock, FactorizedHeadsBlock, FinalLayer, Mlp, TransformerBlock
from .conditioning import LabelEmbedder, TimestepEmbedder, modulate, timestep_embedding
from .config import LatteConfig
from .latte import Latte, block_axes
from .patch_embed import PatchEmbed, TubeletEmbed, patchify, unpatchify
from .positional import RotaryEmbedding, sincos_1d, sincos_2d
from .presets import PRESETS, compute_matched_config, count_parameters, create_latte, latte_config

__all__ = [
    "Attention", "FactorizedHeadAttention", "FactorizedAttentionBlock", "FactorizedHeadsBlock", "FinalLayer",
    "Mlp", "TransformerBlock", "LabelEmbedder", "TimestepEmbedder", "modulate", "timestep_embedding",
    "LatteConfig", "Latte", "block_axes", "PatchEmbed", "TubeletEmbed", "patchify", "unpatchify",
    "RotaryEmbedding", "sincos_1d", "sincos_2d", "PRESETS", "compute_matched_config", "count_parameters", "create_latte",
    "latte_config",
]
