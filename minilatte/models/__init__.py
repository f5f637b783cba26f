"""Latte model components: pure ``nn.Module``s, no I/O, nothing imported from the rest of minilatte.

Reading order: ``latte.py`` (embeddings, the model, classifier-free guidance), then ``blocks.py`` (the
transformer blocks of variants 1-4 and their attention), then ``text.py`` (text conditioning: adaLN-single,
caption projection, cross-attention); ``config.py`` and ``presets.py`` hold the sizes.
"""
from .blocks import (Attention, FactorizedAttentionBlock, FactorizedHeadAttention, FactorizedHeadsBlock, FinalLayer,
                     Mlp, RotaryEmbedding, TransformerBlock, attend, modulate, video_frames_only)
from .config import LatteConfig
from .latte import (Latte, LabelEmbedder, PatchEmbed, TimestepEmbedder, TubeletEmbed, block_axes,
                    classifier_free_guidance, patchify, sincos_1d, sincos_2d, timestep_embedding, unpatchify)
from .presets import PRESETS, compute_matched_config, count_parameters, create_latte, latte_config
from .text import CaptionEmbedder, CrossAttention, TextBlock, TextFinalLayer

__all__ = [
    "Attention", "FactorizedHeadAttention", "FactorizedAttentionBlock", "FactorizedHeadsBlock", "FinalLayer",
    "Mlp", "TransformerBlock", "LabelEmbedder", "TimestepEmbedder", "modulate", "timestep_embedding",
    "LatteConfig", "Latte", "block_axes", "PatchEmbed", "TubeletEmbed", "patchify", "unpatchify",
    "RotaryEmbedding", "sincos_1d", "sincos_2d", "PRESETS", "compute_matched_config", "count_parameters", "create_latte",
    "latte_config", "attend", "video_frames_only", "classifier_free_guidance",
    "CaptionEmbedder", "CrossAttention", "TextBlock", "TextFinalLayer",
]
