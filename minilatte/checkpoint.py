"""Checkpoints that are never half-written and resume bit-for-bit.

A checkpoint is a folder ``checkpoints/step_0000100/`` holding

* ``model.safetensors`` and ``ema.safetensors`` — the weights (EMA weights are what sampling uses),
* ``state.pt`` — optimizer state, step, RNG states (loaded with ``weights_only=True``),
* ``config.yaml`` — the run configuration.

It is written into a temporary folder first and renamed into place (an atomic operation), so a crash
or ``kill -9`` at any moment leaves either the complete checkpoint or none. The two newest are kept;
an old one is renamed out of the ``step_`` namespace before it is deleted, so a crash half-way through
a deletion never leaves a folder that looks like a checkpoint. :func:`clean_checkpoint_dir` removes
only what a crash can leave behind (``.tmp-*`` and ``.del-*`` folders). A ``step_*`` folder missing a
file cannot come from a crash — someone removed the file — so it is never deleted: it is renamed
``incomplete-step_…`` (as an unreadable one is renamed ``unreadable-step_…``), kept, and neither resumed
nor sampled.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import uuid
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .files import FileFormatError, read_text

KEEP = 2
_PREFIX = "step_"
FILES = ("model.safetensors", "ema.safetensors", "state.pt", "config.yaml")
UNREADABLE_PREFIX = "unreadable-"
INCOMPLETE_PREFIX = "incomplete-"
SAMPLING_FILES = ("ema.safetensors", "config.yaml")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or written; the message is one line naming the file."""


def _remove(folder: Path) -> None:
    """Delete a folder so that no crash leaves it half-deleted under its own name: rename, then delete."""
    aside = folder.with_name(f".del-{folder.name}-{uuid.uuid4().hex[:8]}")
    os.replace(folder, aside)
    shutil.rmtree(aside, ignore_errors=True)


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_checkpoint(ckpt_dir: Path, step: int, model_state: dict, ema_state: dict, train_state: dict,
                    config: dict) -> Path:
    """Write checkpoint ``step`` atomically and prune older ones; returns its folder."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / f"{_PREFIX}{step:07d}"
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=ckpt_dir))
        save_file(_contiguous(model_state), tmp / "model.safetensors")
        save_file(_contiguous(ema_state), tmp / "ema.safetensors")
        torch.save(train_state, tmp / "state.pt")
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        for f in tmp.iterdir():   # data on disk before the rename makes it visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            _remove(final)
        os.replace(tmp, final)
    except (OSError, SafetensorError, RuntimeError) as err:
        # Disk full, quota, read-only: safetensors raises its own error and torch.save a RuntimeError for
        # a failed write, not OSError. The older checkpoints stay intact.
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        why = err.strerror if isinstance(err, OSError) and err.strerror else _first_line(err)
        raise CheckpointError(f"cannot write checkpoint step {step} into {ckpt_dir}: {why}; "
                              "the older checkpoints are intact") from None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(ckpt_dir)[:-KEEP]:
        _remove(old)
    return final


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Complete checkpoints (all of :data:`FILES` present), oldest first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    return sorted(p for p in ckpt_dir.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)
                  and all((p / f).is_file() for f in FILES))


def missing_files(folder: Path, files: tuple[str, ...] = FILES) -> list[str]:
    """The names of ``files`` that checkpoint folder ``folder`` lacks."""
    return [f for f in files if not (Path(folder) / f).is_file()]


def clean_checkpoint_dir(ckpt_dir: Path) -> list[str]:
    """Tidy a checkpoints folder before training; returns one line per folder touched.

    Crash debris — ``.tmp-*`` (unfinished writes) and ``.del-*`` (unfinished deletions) — is removed.
    A ``step_*`` folder missing a file is not debris (a checkpoint appears only whole), so it is set
    aside as ``incomplete-step_…``, never deleted.
    """
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    notes = []
    for p in sorted(ckpt_dir.iterdir()):
        if not p.is_dir():
            continue
        if p.name.startswith((".tmp-", ".del-")):
            shutil.rmtree(p, ignore_errors=True)
            notes.append(f"removed {p} (left by an interrupted {'deletion' if p.name.startswith('.del-') else 'write'})")
        elif p.name.startswith(_PREFIX) and missing_files(p):
            aside = set_aside(p, INCOMPLETE_PREFIX)
            notes.append(f"set aside {p} as {aside.name}: it lacks {', '.join(missing_files(aside))} (a checkpoint "
                         "is only ever written whole, so the file was deleted later); kept, but neither resumed "
                         "nor sampled")
    return notes


def set_aside(path: Path, prefix: str) -> Path:
    """Rename checkpoint ``path`` to ``<prefix>step_…`` (a free name: nothing already there is replaced)."""
    path = Path(path)
    aside, n = path.with_name(prefix + path.name), 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{prefix}{path.name}-{n}")
    os.replace(path, aside)
    return aside


def set_aside_unreadable(path: Path) -> Path:
    """Rename an unreadable checkpoint to ``unreadable-step_…`` so it is neither used nor counted."""
    return set_aside(path, UNREADABLE_PREFIX)


def set_aside_folders(ckpt_dir: Path) -> list[str]:
    """Names of the folders in ``ckpt_dir`` that hold a checkpoint not to be used: set aside, or incomplete."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    return sorted(p.name for p in ckpt_dir.iterdir() if p.is_dir() and (
        p.name.startswith((UNREADABLE_PREFIX, INCOMPLETE_PREFIX)) or (p.name.startswith(_PREFIX) and missing_files(p))))


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = list_checkpoints(ckpt_dir)
    return found[-1] if found else None


def load_checkpoint(path: Path) -> dict:
    """{"model", "ema": state dicts, "state": train state, "config": dict} of a checkpoint folder."""
    path = Path(path)
    if not (path / "ema.safetensors").is_file():
        raise FileNotFoundError(f"{path} is not a minilatte checkpoint folder (no ema.safetensors)")
    return {"model": read_weights(path / "model.safetensors"), "ema": read_weights(path / "ema.safetensors"),
            "state": read_torch_file(path / "state.pt"), "config": read_config(path)}


def read_weights(file: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; a truncated or foreign file is a one-line :class:`CheckpointError`."""
    try:
        return load_file(file)
    except Exception as err:     # safetensors raises its own error type for a corrupt header or data
        raise CheckpointError(f"{file} is not a readable safetensors file ({_first_line(err)})") from None


def read_config(folder: Path) -> dict:
    """The run configuration saved in a checkpoint folder (a mapping)."""
    file = Path(folder) / "config.yaml"
    try:
        config = yaml.safe_load(read_text(file, "checkpoint config"))
    except (OSError, FileFormatError, yaml.YAMLError) as err:
        raise CheckpointError(f"{file} cannot be read ({_first_line(err)})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{file} does not hold a run configuration (a YAML mapping)")
    return config


def read_torch_file(file: Path, what: str = "a readable training state"):
    """``torch.load(file, weights_only=True)``: tensors and plain containers only, never pickled code; a
    file that is anything else is a one-line :class:`CheckpointError`."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{file} holds pickled Python objects beyond tensors; minilatte never executes them "
                              "(torch.load weights_only=True refused the file)") from None
    except Exception as err:     # truncated zip, wrong format
        raise CheckpointError(f"{file} is not {what} ({_first_line(err)})") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def export_for_sampling(checkpoint: str | Path, out: str | Path) -> Path:
    """Copy only what sampling needs — ``ema.safetensors`` and ``config.yaml`` — into folder ``out``."""
    src, out = resolve_checkpoint(checkpoint), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("ema.safetensors", "config.yaml"):
        shutil.copyfile(src / name, out / name)
    return out


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a run folder, a checkpoints folder or a checkpoint folder.

    A run (or checkpoints) folder means its newest ``step_*`` folder. Sampling reads only its
    ``ema.safetensors`` and ``config.yaml``; if one of them is gone, that is an error naming the folder
    (and the older checkpoint to pass instead), never a silent fall-back to an older step.
    """
    path = Path(path)
    for candidate in (path, path / "checkpoints"):
        if (candidate / "ema.safetensors").is_file():
            return candidate
        steps = sorted(p for p in candidate.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)) \
            if candidate.is_dir() else []
        if steps:
            newest, older = steps[-1], [p for p in steps[:-1] if not missing_files(p, SAMPLING_FILES)]
            lacks = missing_files(newest, SAMPLING_FILES)
            if lacks:
                instead = (f"pass an older one, e.g. --checkpoint {older[-1]}" if older
                           else "no older checkpoint has both")
                raise CheckpointError(f"the newest checkpoint {newest} lacks {', '.join(lacks)}, which sampling needs; "
                                      f"{instead}")
            return newest
        aside = [name for name in set_aside_folders(candidate) if not name.startswith(_PREFIX)]
        if aside:
            raise FileNotFoundError(f"no minilatte checkpoint found at {str(path)!r}, only checkpoints set aside "
                                    f"({', '.join(aside)}); to sample one anyway, pass its folder: --checkpoint "
                                    f"{candidate / aside[-1]}")
    raise FileNotFoundError(f"no minilatte checkpoint found at {str(path)!r}")


def load_weights_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """``model.load_state_dict(state)``; weights of another model shape are one line naming a tensor."""
    check_weights_fit(model, state, source)
    model.load_state_dict(state)


def check_weights_fit(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """A one-line :class:`CheckpointError` unless ``state`` has exactly ``model``'s tensor names and shapes."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        if wrong:
            k = wrong[0]
            detail = f"{k} is {tuple(state[k].shape)} there but {tuple(own[k].shape)} in this model"
        else:
            detail = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise CheckpointError(f"{source} holds weights of another model ({detail}; {len(missing) + len(unexpected) + len(wrong)} "
                              "tensors differ): use the config it was trained with")
