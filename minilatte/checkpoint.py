"""Checkpoints that are never half-written and resume bit-for-bit.

A checkpoint is a folder ``checkpoints/step_0000100/`` holding

* ``model.safetensors`` and ``ema.safetensors`` — the weights (EMA weights are what sampling uses),
* ``state.pt`` — optimizer state, step, RNG states (loaded with ``weights_only=True``),
* ``config.yaml`` — the run configuration.

It is written into a temporary folder first and renamed into place (an atomic operation), so a crash
or ``kill -9`` at any moment leaves either the complete checkpoint or none. The two newest are kept.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file

KEEP = 2
_PREFIX = "step_"


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_checkpoint(ckpt_dir: Path, step: int, model_state: dict, ema_state: dict, train_state: dict,
                    config: dict) -> Path:
    """Write checkpoint ``step`` atomically and prune older ones; returns its folder."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / f"{_PREFIX}{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=ckpt_dir))
    try:
        save_file(_contiguous(model_state), tmp / "model.safetensors")
        save_file(_contiguous(ema_state), tmp / "ema.safetensors")
        torch.save(train_state, tmp / "state.pt")
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        for f in tmp.iterdir():   # data on disk before the rename makes it visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(ckpt_dir)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders of an interrupted write are ignored)."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    return sorted(p for p in ckpt_dir.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)
                  and (p / "state.pt").is_file())


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = list_checkpoints(ckpt_dir)
    return found[-1] if found else None


def load_checkpoint(path: Path) -> dict:
    """{"model", "ema": state dicts, "state": train state, "config": dict} of a checkpoint folder."""
    path = Path(path)
    if not (path / "ema.safetensors").is_file():
        raise FileNotFoundError(f"{path} is not a minilatte checkpoint folder (no ema.safetensors)")
    return {
        "model": load_file(path / "model.safetensors"),
        "ema": load_file(path / "ema.safetensors"),
        "state": torch.load(path / "state.pt", map_location="cpu", weights_only=True),
        "config": yaml.safe_load((path / "config.yaml").read_text()),
    }


def export_for_sampling(checkpoint: str | Path, out: str | Path) -> Path:
    """Copy only what sampling needs — ``ema.safetensors`` and ``config.yaml`` — into folder ``out``."""
    src, out = resolve_checkpoint(checkpoint), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("ema.safetensors", "config.yaml"):
        shutil.copyfile(src / name, out / name)
    return out


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a run folder, a checkpoints folder or a checkpoint folder."""
    path = Path(path)
    for candidate in (path, path / "checkpoints"):
        if (candidate / "ema.safetensors").is_file():
            return candidate
        latest = latest_checkpoint(candidate)
        if latest is not None:
            return latest
    raise FileNotFoundError(f"no minilatte checkpoint found at {str(path)!r}")
