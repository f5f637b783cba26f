"""Attention now lives in blocks.py, next to the blocks that use it; this module keeps the old import path."""
from .blocks import Attention, FactorizedHeadAttention, attend

__all__ = ["Attention", "FactorizedHeadAttention", "attend"]
