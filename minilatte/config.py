"""Run configurations: YAML files validated into dataclasses.

A config has four sections — ``model`` (any :class:`~minilatte.models.LatteConfig` field plus a
``preset``), ``data``, ``diffusion`` and ``train``. ``load_config("cpu")`` reads a packaged config,
``load_config("my.yaml")`` a file; ``overrides`` like ``["train.steps=100", "model.variant=3"]``
change single keys. Every mistake — unknown key, wrong type, inconsistent sizes — is a ``ConfigError``
whose one-line message names the key and what is allowed.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .diffusion import create_diffusion
from .files import read_text
from .diffusion.gaussian_diffusion import PREDICTIONS
from .diffusion.schedules import NOISE_SCHEDULES
from .models import LatteConfig
from .models.presets import PRESETS
from .text_encoders import WORDS, text_encoder_dim
from .vae import vae_downsample


class ConfigError(ValueError):
    """A bad configuration value; the message is one line naming the key."""


@dataclass
class ModelSection:
    preset: str = "Latte-Nano/2"
    overrides: dict = field(default_factory=dict)   # LatteConfig fields, e.g. {"variant": 3}


@dataclass
class DataSection:
    dataset: str = "shapes"          # a synthetic dataset name, or "folder" for VideoFolder
    root: str | None = None          # folder of videos for dataset="folder"
    layout: str | None = None        # VideoFolder layout preset: ffs, sky, ucf101, taichi
    image_size: int = 16             # pixels (pixel space) or VAE input size
    frame_interval: int = 1
    num_images: int = 0              # frames from other videos appended for joint training
    length: int = 2048               # clips per epoch for synthetic datasets
    num_workers: int = 0
    vae: str | None = None           # None: diffusion in pixel space; else a VAE folder (latent space)
    latent_cache: str | None = None  # with a VAE: folder of cached latents, built on first use
    text_encoder: str | None = None  # text-to-video: "words" (the CPU tier's) or a local T5 / CLIP folder


@dataclass
class DiffusionSection:
    noise_schedule: str = "linear"   # "linear" (paper) or "squaredcos_cap_v2"
    diffusion_steps: int = 1000
    learn_sigma: bool = True
    prediction: str = "epsilon"      # what the network predicts: epsilon (paper) | x_start | velocity
    sampler: str = "ddpm"            # ddpm | ddim
    sampling_steps: int = 250
    cfg_scale: float = 1.0
    min_snr_gamma: float | None = None   # Min-SNR loss weighting (e.g. 5); None = unweighted (paper)

    def build(self, timestep_respacing: str = ""):
        """The diffusion these settings describe: ``""`` for training, ``"250"`` for sampling
        (DDPM and DDIM alike, as the official sampler respaces)."""
        return create_diffusion(timestep_respacing=timestep_respacing, noise_schedule=self.noise_schedule,
                                learn_sigma=self.learn_sigma, prediction=self.prediction,
                                diffusion_steps=self.diffusion_steps,
                                min_snr_gamma=self.min_snr_gamma)


@dataclass
class TrainSection:
    steps: int = 100
    batch_size: int = 8              # global batch: split over the processes of a distributed run
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    lr_decay: str = "none"           # none (constant after warm-up, the paper) | cosine (to 0 at train.steps)
    ema_decay: float = 0.9999
    ema_warmup: bool = False         # decay min(ema_decay, (1+step)/(10+step)): for short runs
    grad_clip: float | None = None   # max gradient norm; None = no clipping
    clip_start_step: int = 0         # clip only from this step on (official: 20k-500k)
    mixed_precision: str = "auto"    # auto (bf16 on CUDA and where a CPU runs it natively and faster) | bf16 | fp32
    threads: int | None = None       # torch CPU threads; None = the cores other work leaves idle
    compile: bool = False
    gradient_checkpointing: bool = False
    distributed: str = "ddp"         # ddp | fsdp (only under torchrun)
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 100
    sample_every: int = 0            # 0 = only at the end
    num_sample_videos: int = 4


@dataclass
class RunConfig:
    name: str = "run"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    diffusion: DiffusionSection = field(default_factory=DiffusionSection)
    train: TrainSection = field(default_factory=TrainSection)

    def latte_config(self) -> LatteConfig:
        """The model's LatteConfig (raises ConfigError for a bad preset or model value)."""
        fields = {f.name for f in dataclasses.fields(LatteConfig)}
        unknown = sorted(set(self.model.overrides) - fields)
        if unknown:
            raise ConfigError(f"model.{unknown[0]} is not a model setting; allowed: preset, {', '.join(sorted(fields))}")
        if self.model.preset not in PRESETS:
            raise ConfigError(f"model.preset={self.model.preset!r} is unknown; choose one of {', '.join(PRESETS)}")
        overrides = dict(self.model.overrides)
        encoder = self.data.text_encoder
        if encoder is not None and overrides.get("conditioning") == "text":
            dim = text_encoder_dim(encoder)         # None: a folder not on this machine
            if "text_dim" not in overrides and dim is None:
                raise ConfigError(f"model.text_dim must be given: data.text_encoder={encoder!r} is not a folder here "
                                  "whose config.json tells the caption channels")
            if dim is not None and overrides.setdefault("text_dim", dim) != dim:
                raise ConfigError(f"model.text_dim={overrides['text_dim']} but data.text_encoder={encoder!r} gives "
                                  f"{dim} caption channels; remove model.text_dim or make it {dim}")
        try:
            return LatteConfig(**{**PRESETS[self.model.preset], "learn_sigma": self.diffusion.learn_sigma,
                                  **overrides})
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None

    @property
    def is_text(self) -> bool:
        """A text-to-video run: captions through ``data.text_encoder`` into a ``conditioning='text'`` model."""
        return self.model.overrides.get("conditioning") == "text"

    def validate(self) -> "RunConfig":
        """Check every value and combination again (after changes made from Python); returns self."""
        _check_consistency(self)
        return self

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["model"] = {"preset": self.model.preset, **self.model.overrides}
        if self.is_text:      # the caption channels the weights were made for, even if the encoder changes
            out["model"]["text_dim"] = self.latte_config().text_dim
        return out


_SECTIONS = {"model": ModelSection, "data": DataSection, "diffusion": DiffusionSection, "train": TrainSection}
_CHOICES = {
    ("diffusion", "noise_schedule"): NOISE_SCHEDULES,
    ("diffusion", "sampler"): ("ddpm", "ddim"),
    ("diffusion", "prediction"): PREDICTIONS,
    ("train", "mixed_precision"): ("auto", "bf16", "fp32"),
    ("train", "distributed"): ("ddp", "fsdp"),
    ("train", "lr_decay"): ("none", "cosine"),
}


def _coerce(key: str, value, annotation: str):
    """Check ``value`` against a field's annotation string; ints are accepted where floats are, and so
    are strings in any float notation (YAML 1.1 reads ``1e-3`` and ``3e-4`` as strings)."""
    kinds = {"int": int, "float": (int, float), "bool": bool, "str": str, "dict": dict}
    allowed = [a.strip() for a in annotation.split("|")]
    if value is None and "None" in allowed:
        return None
    for name in allowed:
        kind = kinds.get(name)
        if kind is None or (isinstance(value, bool) and name != "bool"):
            continue
        if isinstance(value, kind):
            return float(value) if name == "float" else value
        if name == "float" and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise ConfigError(f"{key}={value!r} has the wrong type; expected {annotation}")


# Allowed ranges, checked for every value however it was given (YAML file, --set, Python).
_AT_LEAST_1 = (lambda v: v >= 1, "must be >= 1")
_AT_LEAST_0 = (lambda v: v >= 0, "must be >= 0")
_POSITIVE = (lambda v: v > 0, "must be > 0")
_RANGES = {
    "train.steps": _AT_LEAST_1, "train.batch_size": _AT_LEAST_1, "train.lr": _POSITIVE,
    "train.weight_decay": _AT_LEAST_0, "train.warmup_steps": _AT_LEAST_0,
    "train.ema_decay": (lambda v: 0.0 <= v < 1.0, "must be in [0, 1)"),
    "train.grad_clip": (lambda v: v > 0, "must be > 0 (or null: no clipping)"),
    "train.clip_start_step": _AT_LEAST_0,
    "train.threads": (lambda v: v >= 1, "must be >= 1 (or null: chosen from the machine's load)"),
    "train.seed": _AT_LEAST_0, "train.log_every": _AT_LEAST_1, "train.ckpt_every": _AT_LEAST_1,
    "train.sample_every": (lambda v: v >= 0, "must be >= 0 (0: sample only at the end)"),
    "train.num_sample_videos": _AT_LEAST_0,
    "data.image_size": _AT_LEAST_1, "data.frame_interval": _AT_LEAST_1, "data.num_images": _AT_LEAST_0,
    "data.length": _AT_LEAST_1, "data.num_workers": _AT_LEAST_0,
    "diffusion.diffusion_steps": _AT_LEAST_1, "diffusion.sampling_steps": _AT_LEAST_1,
    "diffusion.cfg_scale": (lambda v: v >= 0, "must be >= 0 (1: no guidance)"),
    "diffusion.min_snr_gamma": (lambda v: v > 0, "must be > 0 (or null for no weighting)"),
}


def _check_range(key: str, value) -> None:
    if value is None or isinstance(value, (str, bool)) or key not in _RANGES:
        return
    ok, allowed = _RANGES[key]
    if not math.isfinite(value) or not ok(value):
        raise ConfigError(f"{key}={value} {allowed}")


def build_config(raw: dict) -> RunConfig:
    """A validated RunConfig from a raw mapping (a parsed YAML file, or a checkpoint's saved config)."""
    if not isinstance(raw, dict):
        raise ConfigError("a config file must be a YAML mapping with sections model, data, diffusion, train")
    unknown = sorted(set(raw) - {"name", *_SECTIONS})
    if unknown:
        raise ConfigError(f"{unknown[0]} is not a config section; allowed: name, {', '.join(_SECTIONS)}")
    cfg = RunConfig(name=str(raw.get("name", "run")))
    for section, cls in _SECTIONS.items():
        values = raw.get(section) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{section} must be a mapping of settings")
        if section == "model":
            values = dict(values)
            cfg.model = ModelSection(preset=_coerce("model.preset", values.pop("preset", "Latte-Nano/2"), "str"),
                                     overrides=values)
            continue
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"{section}.{key} is not a setting; allowed: {', '.join(hints)}")
            kwargs[key] = _coerce(f"{section}.{key}", value, hints[key])
            allowed = _CHOICES.get((section, key))
            if allowed and kwargs[key] not in allowed:
                raise ConfigError(f"{section}.{key}={value!r} is not one of {', '.join(allowed)}")
        setattr(cfg, section, cls(**kwargs))
    _check_consistency(cfg)
    return cfg


def _check_text(cfg: RunConfig) -> None:
    """A text model and a text encoder come together; captions exist for their data."""
    d, encoder = cfg.data, cfg.data.text_encoder
    if cfg.is_text and encoder is None:
        raise ConfigError(f"model.conditioning='text' needs data.text_encoder: {WORDS!r} (the CPU tier's word "
                          "encoder) or a local folder with a T5 / CLIP text model")
    if encoder is not None and not cfg.is_text:
        raise ConfigError(f"data.text_encoder={encoder!r} needs a text model: set model.conditioning=text")
    if encoder is None:
        return
    if d.dataset == "folder" and not str(d.root or "").endswith((".csv", ".jsonl")):
        raise ConfigError(f"data.root={d.root!r}: a text model trains on captioned videos; data.root must be the "
                          ".csv or .jsonl index of a CaptionedVideoFolder (path, caption)")
    if d.dataset == "folder" and d.layout is not None:
        raise ConfigError(f"data.layout={d.layout!r} does not apply to captioned videos (the index lists the clips); "
                          "remove it")
    if d.num_images:
        raise ConfigError(f"data.num_images={d.num_images}: joint image-video training of a text model is not built "
                          "(the images would need captions of their own); use 0")


def _check_consistency(cfg: RunConfig) -> None:
    _check_text(cfg)
    model = cfg.latte_config()
    t, d = cfg.train, cfg.data
    for section in ("train", "data", "diffusion"):
        for key, value in dataclasses.asdict(getattr(cfg, section)).items():
            _check_range(f"{section}.{key}", value)
    if cfg.diffusion.sampling_steps > cfg.diffusion.diffusion_steps:
        raise ConfigError(f"diffusion.sampling_steps={cfg.diffusion.sampling_steps} must be <= "
                          f"diffusion.diffusion_steps={cfg.diffusion.diffusion_steps}")
    if t.batch_size > d.length and d.dataset != "folder":
        raise ConfigError(f"train.batch_size={t.batch_size} must be <= data.length={d.length} (clips per epoch)")
    if cfg.diffusion.cfg_scale != 1.0 and not (model.num_classes or cfg.is_text):
        raise ConfigError(f"diffusion.cfg_scale={cfg.diffusion.cfg_scale} needs a class-conditional or text model "
                          "(model.num_classes > 0 or model.conditioning=text); use 1.0 for an unconditional one")
    if cfg.diffusion.cfg_scale != 1.0 and not model.class_dropout_prob:
        raise ConfigError(f"diffusion.cfg_scale={cfg.diffusion.cfg_scale} needs label (or caption) dropout in "
                          "training (model.class_dropout_prob > 0), which learns the null class guidance uses")
    if d.vae is None and d.image_size != model.input_size:
        raise ConfigError(f"data.image_size={d.image_size} must equal model input_size={model.input_size} "
                          "for pixel-space training (data.vae is empty)")
    if d.vae is not None:
        factor = vae_downsample(d.vae)
        if d.image_size != factor * model.input_size:
            raise ConfigError(f"data.image_size={d.image_size} must be {factor} x model input_size={model.input_size} "
                              f"with this VAE ({factor}x downsampling)")
    if d.latent_cache is not None and d.vae is None:
        raise ConfigError("data.latent_cache needs data.vae: only VAE latents are cached")
    if d.num_images and model.patch_embedding != "uniform":
        raise ConfigError("data.num_images > 0 needs model.patch_embedding='uniform'")
    if d.dataset == "folder" and not d.root:
        raise ConfigError("data.root must name a folder of videos when data.dataset='folder'")


def packaged_configs() -> list[str]:
    """Names of the configs that ship with minilatte (``--config NAME``)."""
    return sorted(p.name[:-5] for p in resources.files("minilatte.configs").iterdir() if p.name.endswith(".yaml"))


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML) to a raw config mapping."""
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. train.steps=100")
        path, text = item.split("=", 1)
        section, key = path.split(".", 1)
        raw.setdefault(section, {})
        if not isinstance(raw[section], dict):
            raise ConfigError(f"{section} is not a config section")
        try:
            raw[section][key] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({_yaml_problem(err)})") from None
    return raw


def _yaml_problem(err: "yaml.YAMLError") -> str:
    """One line from a YAML error: the problem and where."""
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + (getattr(err, "problem", None) or str(err).splitlines()[0])


def load_config(name_or_path: str, overrides: typing.Sequence[str] = ()) -> RunConfig:
    """Load a packaged config by name (``ci``, ``cpu``, ``paper-ucf101`` …) or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"config file {name_or_path!r} does not exist")
        text = read_text(path, "config file")
    else:
        names = packaged_configs()
        if name_or_path not in names:
            raise ConfigError(f"config {name_or_path!r} is unknown; choose one of {', '.join(names)} or a .yaml path")
        text = resources.files("minilatte.configs").joinpath(f"{name_or_path}.yaml").read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"config {name_or_path!r} is not valid YAML ({_yaml_problem(err)})") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"config {name_or_path!r} must be a YAML mapping with sections model, data, diffusion, "
                          f"train; it holds a {type(raw).__name__}")
    raw.setdefault("name", path.stem if path.suffix else name_or_path)
    return build_config(apply_overrides(raw, list(overrides)))


def at_least(low: float, kind: type = int):
    """An argparse ``type=``: a number of ``kind`` that is >= ``low``. A bad flag value is argparse's
    one-line error naming the flag, exit code 2 — the command-line side of the checks above."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or value < low:
            raise argparse.ArgumentTypeError(f"{text} must be >= {low}")
        return value
    parse.__name__ = f"{kind.__name__} >= {low}"
    return parse
