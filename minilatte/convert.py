"""Checkpoint interop: official Latte checkpoints in, official layout out, and DiT initialisation.

minilatte's variant-1 model uses the official key names (``x_embedder.proj``, ``t_embedder.mlp.0``,
``blocks.{i}.attn.qkv`` ... with even blocks spatial and odd blocks temporal), so converting is mostly
checking: shapes tell the configuration, and the fixed sin-cos tables (``pos_embed``, ``temp_embed``),
which minilatte rebuilds instead of storing, must agree with the ones it computes.

Loading never runs pickled code: ``torch.load(..., weights_only=True)`` or safetensors.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from .models import Latte, LatteConfig

# Official widths -> heads (heads cannot be read from weight shapes).
_HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1152: 16}
_TABLES = ("pos_embed", "temp_embed")
_WRAPPER_KEYS = ("ema", "model", "state_dict")
_PREFIXES = ("module.", "_orig_mod.")


def read_state_dict(checkpoint) -> dict[str, torch.Tensor]:
    """A state dict from a path (.pt/.pth/.ckpt or .safetensors) or a dict, unwrapped and de-prefixed.

    ``{"ema": ...}`` is preferred over ``{"model": ...}`` (EMA weights are what sampling uses).
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
        if path.suffix == ".safetensors":
            checkpoint = load_file(path)
        else:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict):
        raise ValueError(f"checkpoint must be a path or a dict of tensors, got {type(checkpoint).__name__}")
    for key in _WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = {}
    for key, value in checkpoint.items():
        for prefix in _PREFIXES:
            key = key[len(prefix):] if key.startswith(prefix) else key
        state[key] = value
    return state


def _official_heads(width: int, overrides: dict) -> int:
    """Heads cannot be read from weight shapes: the official preset's for its widths, else ``num_heads=``."""
    if "num_heads" in overrides:
        return overrides["num_heads"]
    if width not in _HEADS_BY_WIDTH:
        raise ValueError(f"hidden_size={width} is not an official Latte width ({', '.join(map(str, _HEADS_BY_WIDTH))}): "
                         "the head count cannot be read from the weights; pass num_heads=")
    return _HEADS_BY_WIDTH[width]


def _official_labels(rows: int, overrides: dict) -> dict:
    """num_classes and class_dropout_prob of a label table with ``rows`` rows.

    The table has a null-class row only for a model trained with label dropout (DiT's and Latte's
    LabelEmbedder), which the shapes cannot tell: without overrides the official default
    (class_dropout_prob=0.1, so rows = num_classes + 1) is assumed; ``class_dropout_prob=0`` or
    ``num_classes=rows`` says the table has no null row.
    """
    if "num_classes" in overrides:
        num_classes = overrides["num_classes"]
        if rows not in (num_classes, num_classes + 1):
            raise ValueError(f"num_classes={num_classes} does not fit the checkpoint's label table of {rows} rows "
                             f"(num_classes rows, or num_classes + 1 with the null class)")
        dropout = overrides.get("class_dropout_prob", 0.1 if rows == num_classes + 1 else 0.0)
    else:
        dropout = overrides.get("class_dropout_prob", 0.1)
        num_classes = rows - 1 if dropout > 0 else rows
    if (rows == num_classes + 1) != (dropout > 0):
        raise ValueError(f"class_dropout_prob={dropout} does not fit the checkpoint's label table of {rows} rows "
                         f"for num_classes={num_classes}: a null-class row exists exactly when class_dropout_prob > 0")
    return {"num_classes": num_classes, "class_dropout_prob": dropout}


def official_config(state_dict: dict[str, torch.Tensor], **overrides) -> LatteConfig:
    """Infer the LatteConfig of an official Latte state dict from its shapes; ``overrides`` win.

    ``num_heads`` is required for widths other than the official presets' (384, 768, 1024, 1152).
    A class-conditional checkpoint is read as trained with label dropout (a null-class row, the
    official default) unless ``class_dropout_prob=0`` or ``num_classes`` says otherwise.
    """
    if "x_embedder.proj.weight" not in state_dict:
        raise ValueError("not an official Latte checkpoint: no 'x_embedder.proj.weight' key")
    width, in_channels, patch, _ = state_dict["x_embedder.proj.weight"].shape
    out_features = state_dict["final_layer.linear.weight"].shape[0]
    inferred = dict(
        hidden_size=width, in_channels=in_channels, patch_size=patch,
        depth=1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("blocks.")),
        num_heads=_official_heads(width, overrides),
        mlp_ratio=state_dict["blocks.0.mlp.fc1.weight"].shape[0] / width,
        learn_sigma=out_features == patch * patch * 2 * in_channels,
        num_classes=0,
    )
    if "y_embedder.embedding_table.weight" in state_dict:
        inferred.update(_official_labels(state_dict["y_embedder.embedding_table.weight"].shape[0], overrides))
    if "temp_embed" in state_dict:
        inferred["num_frames"] = state_dict["temp_embed"].shape[1]
    if "pos_embed" in state_dict:
        inferred["input_size"] = math.isqrt(state_dict["pos_embed"].shape[1]) * patch
    inferred.update(overrides)
    return LatteConfig(**{**inferred, "variant": 1})


def load_official_latte(checkpoint, **overrides) -> Latte:
    """A variant-1 minilatte model with the weights of an official Latte checkpoint.

    ``checkpoint``: a path or a state dict, possibly wrapped as ``{"ema": ...}`` / ``{"model": ...}``.
    ``overrides``: config fields the shapes cannot tell (``num_heads`` for non-official widths,
    ``num_frames``/``input_size`` when the tables are absent, ``class_dropout_prob=0`` for a
    class-conditional checkpoint trained without label dropout, whose label table has no null row).
    The model works for joint image-video use too: pass ``num_images`` to its forward.
    """
    state = read_state_dict(checkpoint)
    model = Latte(official_config(state, **overrides))
    for name in _TABLES:
        if name in state:
            table = state.pop(name).float().reshape(getattr(model, name).shape)
            if not torch.allclose(table, getattr(model, name), atol=1e-5):
                raise ValueError(f"checkpoint {name} is not the fixed sin-cos table minilatte computes "
                                 f"for this configuration")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint does not fit the inferred Latte config {model.config}: "
                         f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    return model


def export_official_latte(model: Latte) -> dict[str, torch.Tensor]:
    """The state dict of ``model`` in the official Latte layout (inverse of :func:`load_official_latte`)."""
    cfg = model.config
    if (cfg.variant, cfg.patch_embedding, cfg.conditioning, cfg.temporal_pe) != (1, "uniform", "s-adaln", "absolute"):
        raise ValueError("only variant=1, patch_embedding='uniform', conditioning='s-adaln', "
                         "temporal_pe='absolute' models exist in the official layout")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state["pos_embed"] = model.pos_embed[None].clone()     # (1, N, D)
    state["temp_embed"] = model.temp_embed[None].clone()   # (1, F, D)
    return state


def _dit_block_weights(dit: dict, i: int, block) -> dict[str, torch.Tensor]:
    """Weights of DiT block i renamed for one minilatte block (variant 3 gets the attention twice)."""
    prefix = f"blocks.{i}."
    weights = {k[len(prefix):]: v for k, v in dit.items() if k.startswith(prefix)}
    if not hasattr(block, "attn_spatial"):
        return weights
    out = {k: v for k, v in weights.items() if not k.startswith(("attn.", "adaLN_modulation."))}
    for name in ("attn_spatial", "attn_temporal"):
        out.update({f"{name}.{k[5:]}": v for k, v in weights.items() if k.startswith("attn.")})
    # adaLN (shift, scale, gate) x (attn, mlp) -> x (spatial attn, temporal attn, mlp): reuse the attn triple.
    for suffix in ("weight", "bias"):
        msa, mlp = weights[f"adaLN_modulation.1.{suffix}"].chunk(2, dim=0)
        out[f"adaLN_modulation.1.{suffix}"] = torch.cat([msa, msa, mlp], dim=0)
    return out


def init_from_dit(model: Latte, dit_checkpoint) -> dict[str, list[str]]:
    """Initialise ``model`` from a DiT image checkpoint (Latte's ImageNet-pretraining strategy).

    * patch embedding, timestep MLP and final layer are copied; for tubelet (compression) embedding
      the 2D kernel is replicated over the s frames and divided by s (a still video gives DiT's
      tokens), and the final layer is replicated for the s frames a token predicts;
    * block i takes DiT block i, as the official training code does (both spatial and temporal
      blocks; variant 3 copies the attention into its spatial and temporal attention);
    * DiT's spatial position table is not copied: minilatte recomputes the same sin-cos table and
      shares it by every frame; the class table (1000 ImageNet classes) is dropped.

    Returns ``{"loaded": [...model keys...], "skipped": [...DiT keys...]}``.
    """
    cfg, dit = model.config, read_state_dict(dit_checkpoint)
    if cfg.conditioning != "s-adaln":
        raise ValueError("init_from_dit needs conditioning='s-adaln' (DiT's blocks are adaLN blocks)")
    s = cfg.tubelet_stride
    new = {"t_embedder." + k[len("t_embedder."):]: v for k, v in dit.items() if k.startswith("t_embedder.")}
    kernel = dit["x_embedder.proj.weight"]                                    # (D, C, p, p)
    new["x_embedder.proj.weight"] = kernel if s == 1 else kernel[:, :, None].repeat(1, 1, s, 1, 1) / s
    new["x_embedder.proj.bias"] = dit["x_embedder.proj.bias"]
    new["final_layer.linear.weight"] = dit["final_layer.linear.weight"].repeat(s, 1)   # (s*p*p*C_out, D)
    new["final_layer.linear.bias"] = dit["final_layer.linear.bias"].repeat(s)
    for suffix in ("weight", "bias"):
        key = f"final_layer.adaLN_modulation.1.{suffix}"
        new[key] = dit[key]
    dit_depth = 1 + max(int(k.split(".")[1]) for k in dit if k.startswith("blocks."))
    for i, block in enumerate(model.blocks[:dit_depth]):
        new.update({f"blocks.{i}.{k}": v for k, v in _dit_block_weights(dit, i, block).items()})

    own = model.state_dict()
    for key, value in new.items():
        if key not in own or own[key].shape != value.shape:
            shape = tuple(own[key].shape) if key in own else "absent"
            raise ValueError(f"DiT weight {key} of shape {tuple(value.shape)} does not fit the model ({shape}); "
                             "use a model with the DiT checkpoint's width, patch size and channels")
    model.load_state_dict(new, strict=False)
    used = {"x_embedder.", "t_embedder.", "final_layer."} | {f"blocks.{i}." for i in range(len(model.blocks))}
    skipped = sorted(k for k in dit if not k.startswith(tuple(used)))
    return {"loaded": sorted(new), "skipped": skipped}
