"""Where the shipped small files live: ``data_samples/`` next to the package (a source checkout).

Configs and notebooks name them relative to the repository root (``data_samples/tiny-vae``);
:func:`resolve` finds them from any working directory, e.g. a notebook running in ``notebooks/``.
"""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_SAMPLES = REPO_ROOT / "data_samples"


def resolve(path: str | Path) -> Path:
    """``path`` as given when it exists from here, else relative to the repository root, else unchanged."""
    path = Path(path)
    if path.exists() or path.is_absolute() or not (REPO_ROOT / path).exists():
        return path
    return REPO_ROOT / path


def data_sample(name: str) -> Path:
    """A file or folder of ``data_samples/``; a clear error names the command that makes it."""
    path = DATA_SAMPLES / name
    if not path.exists():
        raise FileNotFoundError(f"data_samples/{name} is missing; see data_samples/README.md for the one "
                                "command that makes each sample (python -m minilatte.data_samples ...)")
    return path
