"""Run folders: one run per folder, checked before any long work starts.

``train`` writes everything of a run — checkpoints, ``log.csv``, samples — into one folder. A folder
that already holds a run is continued only on request (``--resume``); a fresh run into it stops with
one line, unless ``--overwrite`` moves the old run aside first. ``--resume`` refuses a config whose
model, data shape or diffusion differ from the saved run's, because the weights would not fit or
would mean something else. Output paths are tried for writing up front, so a read-only folder or a
file in the way is reported before minutes of training or sampling, not after.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from . import checkpoint as ckpt
from .config import ConfigError, RunConfig, build_config

# What the saved weights depend on: a resumed run must agree on all of these.
SHAPE_KEYS = {"data": ("dataset", "image_size", "vae", "num_images"),
              "diffusion": ("noise_schedule", "diffusion_steps", "learn_sigma", "prediction")}


def check_writable_dir(path: str | Path, what: str) -> Path:
    """Create folder ``path`` if needed and try writing into it; a one-line ConfigError names ``what``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise ConfigError(f"{what} {str(path)!r} is not writable ({err.strerror or err})") from None
    return path


def check_writable_file(path: str | Path, what: str) -> Path:
    """``path`` can be written as a file: not a folder, and its folder is writable."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a folder; give a file name")
    check_writable_dir(path.parent, f"the folder of {what}")
    return path


def check_output_file(path: str | Path, what: str, suffix: str, kind: str, written_by_us) -> Path:
    """``path`` can take this command's output: writable (:func:`check_writable_file`), named ``*suffix``,
    and either new or a previous output of the same kind (``written_by_us(path)`` is true); any other
    existing file — a checkpoint, someone's notes — is refused, never overwritten."""
    path = check_writable_file(path, what)
    if path.suffix.lower() != suffix:
        raise ConfigError(f"{what} {str(path)!r} must end in {suffix} ({kind} is written there)")
    if path.exists() and not written_by_us(path):
        raise ConfigError(f"{what} {str(path)!r} already exists and is not {kind} minilatte wrote; it is not "
                          "overwritten: give another path, or delete it first")
    return path


def holds_run(out_dir: Path) -> bool:
    """Does ``out_dir`` hold (part of) a run: a checkpoint or a training log?"""
    ckpt_dir = out_dir / "checkpoints"
    has_ckpt = ckpt_dir.is_dir() and any(p.name.startswith(("step_", ckpt.UNREADABLE_PREFIX, ckpt.INCOMPLETE_PREFIX)) for p in ckpt_dir.iterdir())
    return has_ckpt or (out_dir / "log.csv").exists()


def config_differences(saved: dict, cfg: RunConfig) -> tuple[list[str], list[str]]:
    """(keys that make the saved weights unusable, other changed keys) between a saved run config and ``cfg``."""
    try:
        old = build_config(saved)
    except ConfigError as err:
        return [f"the saved config is no longer valid ({err})"], []
    blocking = [f"model.{k}: {v!r} -> {getattr(cfg.latte_config(), k)!r}"
                for k, v in dataclasses.asdict(old.latte_config()).items() if getattr(cfg.latte_config(), k) != v]
    other = []
    for section in ("data", "diffusion", "train"):
        a, b = dataclasses.asdict(getattr(old, section)), dataclasses.asdict(getattr(cfg, section))
        for key in a:
            if a[key] != b[key]:
                line = f"{section}.{key}: {a[key]!r} -> {b[key]!r}"
                (blocking if key in SHAPE_KEYS.get(section, ()) else other).append(line)
    return blocking, other


def prepare_run_folder(out_dir: str | Path, cfg: RunConfig, resume: bool, overwrite: bool = False,
                       is_main: bool = True) -> list[str]:
    """Check (and on the main process tidy) ``out_dir`` before training; returns lines to print.

    Every process runs the read-only checks, so all of them stop with the same error; only the main
    process moves an old run aside and removes crash debris.
    """
    out_dir = Path(out_dir)
    if resume and overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite moves it aside: choose one")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {str(out_dir)!r} is a file, not a folder")
    notes: list[str] = []
    if out_dir.is_dir() and holds_run(out_dir) and not resume:
        if not overwrite:
            latest = ckpt.latest_checkpoint(out_dir / "checkpoints")
            what = f"checkpoints up to {latest.name}" if latest else "a training log"
            raise ConfigError(f"{out_dir} already holds a run ({what}): continue it with --resume, use another "
                              "--out, or pass --overwrite to move the old run aside")
        if is_main:
            aside = out_dir.with_name(f"{out_dir.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            out_dir.rename(aside)
            notes.append(f"moved the old run in {out_dir} to {aside}")
    check_writable_dir(out_dir, "--out")
    ckpt_dir = out_dir / "checkpoints"
    unusable = ckpt.set_aside_folders(ckpt_dir)     # read by every process before the main one renames
    if is_main:
        notes += ckpt.clean_checkpoint_dir(ckpt_dir)
    if resume and unusable and not ckpt.list_checkpoints(ckpt_dir):
        # Starting again from step 0 would overwrite the run's log; the user decides instead.
        raise ConfigError(f"--resume: {ckpt_dir} holds no complete checkpoint to continue from "
                          f"({', '.join(unusable)}: incomplete or unreadable, kept as "
                          f"{ckpt.INCOMPLETE_PREFIX}*/{ckpt.UNREADABLE_PREFIX}*); restore the missing files, "
                          "or start afresh with --overwrite (which moves this run aside)")
    if resume:
        for path in reversed(ckpt.list_checkpoints(out_dir / "checkpoints")):
            try:
                saved = ckpt.read_config(path)
            except ckpt.CheckpointError:
                continue                       # Trainer.resume sets unreadable checkpoints aside
            blocking, other = config_differences(saved, cfg)
            if blocking:
                raise ConfigError(f"--resume: {path} was trained with other settings ({'; '.join(blocking)}); "
                                  "resume with its config, or start a new run with another --out")
            if other:
                notes.append(f"resuming with changed settings: {'; '.join(other)}")
            break
    return notes
