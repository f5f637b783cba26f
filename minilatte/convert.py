"""Checkpoint interop: official Latte checkpoints in, official layout out, DiT initialisation, and
diffusers' Latte-T2V (LatteTransformer3DModel) both ways.

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

from .checkpoint import read_torch_file, read_weights
from .files import FileFormatError, read_json_object
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
        # One line naming the file for a truncated, foreign or code-carrying (pickled) file.
        checkpoint = read_weights(path) if path.suffix == ".safetensors" else read_torch_file(path, "a Latte checkpoint")
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


# ------------------------------------------------------------------------------ diffusers' Latte-T2V
# diffusers' LatteTransformer3DModel (the released Latte-1 text-to-video model) is minilatte's variant 1
# with conditioning="text": layer i's spatial block is minilatte's block 2i, its temporal block 2i+1.
# diffusers keeps q, k and v as three Linears (to_q, to_k, to_v); minilatte fuses them (attn.qkv, and
# cross_attn.kv_linear for k and v), so converting concatenates or splits them.

_DIFFUSERS_CLASS = "LatteTransformer3DModel"
_DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
# What minilatte's text model is, in diffusers' config (the values of the released Latte-1).
_DIFFUSERS_FIXED = {"norm_type": "ada_norm_single", "norm_elementwise_affine": False, "norm_eps": 1e-6,
                    "activation_fn": "gelu-approximate", "attention_bias": True, "dropout": 0.0}
# minilatte key suffix -> diffusers key suffix(es) in one block (several: concatenated along dim 0).
_DIFFUSERS_BLOCK = {
    "scale_shift_table": ("scale_shift_table",),
    "attn.qkv": ("attn1.to_q", "attn1.to_k", "attn1.to_v"),
    "attn.proj": ("attn1.to_out.0",),
    "cross_attn.q_linear": ("attn2.to_q",),
    "cross_attn.kv_linear": ("attn2.to_k", "attn2.to_v"),
    "cross_attn.proj": ("attn2.to_out.0",),
    "mlp.fc1": ("ff.net.0.proj",),
    "mlp.fc2": ("ff.net.2",),
}
_DIFFUSERS_TOP = {
    "x_embedder.proj": "pos_embed.proj",
    "t_embedder.mlp.0": "adaln_single.emb.timestep_embedder.linear_1",
    "t_embedder.mlp.2": "adaln_single.emb.timestep_embedder.linear_2",
    "t_block.1": "adaln_single.linear",
    "y_embedder.y_proj.fc1": "caption_projection.linear_1",
    "y_embedder.y_proj.fc2": "caption_projection.linear_2",
    "final_layer.linear": "proj_out",
    "final_layer.scale_shift_table": "scale_shift_table",
}


def _diffusers_name(key: str) -> tuple[str, ...]:
    """The diffusers key(s) of a minilatte text-model key (several: concatenated along dim 0)."""
    if key.startswith("blocks."):
        _, index, rest = key.split(".", 2)
        stack = "transformer_blocks" if int(index) % 2 == 0 else "temporal_transformer_blocks"
        prefix = f"{stack}.{int(index) // 2}."
        for ours, theirs in _DIFFUSERS_BLOCK.items():
            if rest == ours or rest.startswith(ours + "."):
                suffix = rest[len(ours):]
                return tuple(prefix + name + suffix for name in theirs)
    for ours, theirs in _DIFFUSERS_TOP.items():
        if key == ours or key.startswith(ours + "."):
            return (theirs + key[len(ours):],)
    raise KeyError(f"no diffusers name for {key!r}")


def _diffusers_folder(folder: Path) -> Path:
    """The model folder: ``folder/transformer`` (a pipeline folder) or ``folder`` itself."""
    for candidate in (folder / "transformer", folder):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(f"{str(folder)!r} holds no diffusers model: neither transformer/config.json "
                            "nor config.json")


def _read_diffusers_folder(folder: Path, variant: str | None = None) -> tuple[dict, dict[str, torch.Tensor]]:
    """config.json and the safetensors weights (one file or shards with an index) of a model folder;
    ``variant`` ("fp16", ...): the weights named ``diffusion_pytorch_model.<variant>.safetensors``."""
    folder = _diffusers_folder(folder)
    config = read_json_object(folder / "config.json", "diffusers config")
    try:                                     # before reading weights that may be gigabytes
        _check_diffusers_fields(config)
    except ValueError as err:
        raise ValueError(f"{folder / 'config.json'}: {err}") from None
    weights = _DIFFUSERS_WEIGHTS if variant is None else _DIFFUSERS_WEIGHTS.replace(".", f".{variant}.", 1)
    index = folder / (weights + ".index.json")
    if (folder / weights).is_file():
        return config, read_weights(folder / weights)
    if index.is_file():
        state = {}
        weight_map = read_json_object(index, "diffusers weight index", ("weight_map",))["weight_map"]
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise FileFormatError(f"diffusers weight index {str(index)!r}: weight_map must map tensor names to "
                                  "file names")
        for shard in sorted(set(weight_map.values())):
            state.update(read_weights(folder / shard))
        return config, state
    pickles = sorted(p.name for p in folder.glob("*.bin"))
    if pickles:
        raise ValueError(f"{str(folder)!r} has only pickled weights ({', '.join(pickles)}); only safetensors are "
                         f"read (a pickle can run code): convert them to {_DIFFUSERS_WEIGHTS} first")
    found = ", ".join(sorted(p.name for p in folder.glob("*.safetensors"))) or "none"
    raise FileNotFoundError(f"{str(folder)!r} has no {weights} (nor a sharded index of it); safetensors files there: "
                            f"{found} (variant= picks e.g. diffusion_pytorch_model.fp16.safetensors)")


_DIFFUSERS_REQUIRED = ("num_attention_heads", "attention_head_dim", "in_channels", "sample_size", "patch_size",
                       "caption_channels")
_DIFFUSERS_OPTIONAL = ("out_channels", "video_length", "num_layers", "cross_attention_dim")


def _check_diffusers_fields(config: dict) -> None:
    """The size fields of a diffusers config: present (where required) and positive integers."""
    missing = [k for k in _DIFFUSERS_REQUIRED if k not in config]
    if missing:
        raise ValueError(f"the diffusers config lacks {', '.join(missing)} (a {_DIFFUSERS_CLASS} config has them)")
    for key in _DIFFUSERS_REQUIRED + _DIFFUSERS_OPTIONAL:
        value = config.get(key)
        if value is None and key in _DIFFUSERS_OPTIONAL:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"the diffusers config's {key}={value!r} must be a positive integer")


def diffusers_config(config: dict, **overrides) -> LatteConfig:
    """The LatteConfig of a diffusers LatteTransformer3DModel config; ``overrides`` win (class_dropout_prob).

    Settings minilatte's text model does not have (another norm, activation, attention without bias,
    cross-attention width, or diffusers' interpolated position table for sample_size >= 128) are refused.
    """
    name = config.get("_class_name", _DIFFUSERS_CLASS)
    if name != _DIFFUSERS_CLASS:
        raise ValueError(f"not a {_DIFFUSERS_CLASS} config: _class_name={name!r}")
    for key, value in _DIFFUSERS_FIXED.items():
        if config.get(key, value) != value:
            raise ValueError(f"{key}={config[key]!r} is not supported: minilatte's text model has {key}={value!r}")
    _check_diffusers_fields(config)
    heads, width = config["num_attention_heads"], config["num_attention_heads"] * config["attention_head_dim"]
    if config.get("cross_attention_dim") != width:
        raise ValueError(f"cross_attention_dim={config.get('cross_attention_dim')!r} must equal the width "
                         f"num_attention_heads * attention_head_dim = {width} (the caption is projected to it)")
    if config["sample_size"] >= 128:
        raise ValueError(f"sample_size={config['sample_size']}: diffusers interpolates its position table for "
                         "sample_size >= 128, minilatte does not")
    in_channels = config["in_channels"]
    out_channels = config.get("out_channels") or in_channels
    if out_channels not in (in_channels, 2 * in_channels):
        raise ValueError(f"out_channels={out_channels} must be in_channels={in_channels} or twice it (learned variance)")
    fields = dict(input_size=config["sample_size"], num_frames=config.get("video_length", 16), in_channels=in_channels,
                  patch_size=config["patch_size"], hidden_size=width, depth=2 * config.get("num_layers", 1),
                  num_heads=heads, learn_sigma=out_channels == 2 * in_channels, conditioning="text",
                  text_dim=config["caption_channels"], variant=1)
    return LatteConfig(**{**fields, **overrides})


def from_diffusers(transformer_or_folder, variant: str | None = None, **overrides) -> Latte:
    """A minilatte text model with the weights of a diffusers ``LatteTransformer3DModel``.

    ``transformer_or_folder``: the diffusers model itself, or a local folder as ``save_pretrained``
    writes it: a pipeline folder with ``transformer/`` (the released ``maxin-cn/Latte-1`` layout) or the
    model folder itself; safetensors only (``variant="fp16"`` reads ``diffusion_pytorch_model.fp16.safetensors``;
    the weights become float32 either way). ``overrides``: config fields the checkpoint cannot tell
    (``class_dropout_prob`` for further training). The model equals diffusers' as LattePipeline calls it:
    ``model(x, t, text=...)`` with x as (B, F, C, H, W) where diffusers takes (B, C, F, H, W);
    ``enable_temporal_attentions=False`` is ``num_images`` = all frames.
    """
    if isinstance(transformer_or_folder, (str, os.PathLike)):
        config, state = _read_diffusers_folder(Path(transformer_or_folder), variant)
    elif hasattr(transformer_or_folder, "config") and hasattr(transformer_or_folder, "state_dict"):
        config, state = dict(transformer_or_folder.config), transformer_or_folder.state_dict()
        config.setdefault("_class_name", type(transformer_or_folder).__name__)
    else:
        raise TypeError(f"from_diffusers takes a {_DIFFUSERS_CLASS} or a folder, got {type(transformer_or_folder).__name__}")
    model = Latte(diffusers_config(config, **overrides))
    own = model.state_dict()
    expected = {name for key in own for name in _diffusers_name(key)}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(f"the diffusers weights do not fit {model.config}: missing keys {missing[:5]}, "
                         f"unexpected keys {unexpected[:5]}")
    model.load_state_dict({key: torch.cat([state[name] for name in _diffusers_name(key)]) for key in own})
    return model


def to_diffusers(model: Latte):
    """The diffusers ``LatteTransformer3DModel`` of a minilatte text model (inverse of :func:`from_diffusers`)."""
    from diffusers import LatteTransformer3DModel

    cfg = model.config
    if (cfg.conditioning, cfg.variant, cfg.patch_embedding, cfg.temporal_pe) != ("text", 1, "uniform", "absolute"):
        raise ValueError("only conditioning='text', variant=1, patch_embedding='uniform', temporal_pe='absolute' "
                         "models exist in diffusers' LatteTransformer3DModel")
    if cfg.mlp_ratio != 4 or cfg.input_size >= 128:
        raise ValueError(f"mlp_ratio={cfg.mlp_ratio}, input_size={cfg.input_size}: diffusers' Latte has "
                         "mlp_ratio 4 and interpolates its position table from input_size 128 on")
    out = LatteTransformer3DModel(
        num_attention_heads=cfg.num_heads, attention_head_dim=cfg.hidden_size // cfg.num_heads,
        in_channels=cfg.in_channels, out_channels=cfg.out_channels, num_layers=cfg.depth // 2,
        cross_attention_dim=cfg.hidden_size, sample_size=cfg.input_size, patch_size=cfg.patch_size,
        num_embeds_ada_norm=1000, caption_channels=cfg.text_dim, video_length=cfg.num_frames,
        **{k: v for k, v in _DIFFUSERS_FIXED.items() if k != "dropout"})
    state = {}
    for key, value in model.state_dict().items():
        names = _diffusers_name(key)
        state.update(zip(names, value.detach().clone().chunk(len(names))))
    out.load_state_dict(state, strict=True)
    dtype = next(model.parameters()).dtype
    return out if dtype == torch.float32 else out.to(dtype)
