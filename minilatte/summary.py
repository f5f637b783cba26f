"""A readable summary of a Latte model: configuration, tokens, parameters per part, one forward pass."""
from __future__ import annotations

import time

import torch

from .flops import forward_flops
from .models import Latte


def summarize(model: Latte) -> str:
    cfg = model.config
    parts: dict[str, int] = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        key = f"blocks ({', '.join(sorted(set(model.axes)))})" if top == "blocks" else top
        parts[key] = parts.get(key, 0) + p.numel()
    tokens_per_frame = cfg.grid_size ** 2
    lines = [
        f"Latte variant {cfg.variant}: depth {cfg.depth}, width {cfg.hidden_size}, {cfg.num_heads} heads, "
        f"patch {cfg.patch_size}, {cfg.patch_embedding} patch embedding"
        + (f" (tubelet stride {cfg.tubelet_stride})" if cfg.tubelet_stride > 1 else ""),
        f"conditioning {cfg.conditioning}, temporal PE {cfg.temporal_pe}, "
        + (f"{cfg.num_classes} classes" if cfg.num_classes
           else f"captions of {cfg.text_dim} channels" if cfg.conditioning == "text" else "unconditional")
        + (", learned sigma" if cfg.learn_sigma else ""),
        f"input (B, {cfg.num_frames}, {cfg.in_channels}, {cfg.input_size}, {cfg.input_size}) -> "
        f"{cfg.token_frames} token frames x {tokens_per_frame} tokens = {cfg.token_frames * tokens_per_frame} tokens",
        "parameters:",
        *[f"  {name:32s} {count:>14,}" for name, count in parts.items()],
        f"  {'total':32s} {sum(parts.values()):>14,}",
        f"forward cost per video: {forward_flops(cfg) / 1e9:,.2f} GFLOP (training step: 3x that per video"
        + (", captions of 120 tokens)" if cfg.conditioning == "text" else ")"),
    ]
    return "\n".join(lines)


@torch.no_grad()
def forward_check(model: Latte, batch_size: int = 1, seed: int = 0) -> str:
    """Run one forward pass on random latents (and, for a text model, random 16-token captions) and describe it."""
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, cfg.num_frames, cfg.in_channels, cfg.input_size, cfg.input_size, generator=g)
    t = torch.randint(0, 1000, (batch_size,), generator=g)
    y = torch.randint(0, cfg.num_classes, (batch_size,), generator=g) if cfg.num_classes else None
    text = torch.randn(batch_size, 16, cfg.text_dim, generator=g) if cfg.conditioning == "text" else None
    start = time.perf_counter()
    out = model.eval()(x, t, y, text=text)
    seconds = time.perf_counter() - start
    return (f"forward: {tuple(x.shape)} -> {tuple(out.shape)} in {seconds:.2f} s; "
            f"max |output| = {out.abs().max().item():.1f} (a fresh S-AdaLN model predicts exactly zero)")
