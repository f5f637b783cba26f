"""Encode once, train many times: VAE latents of a whole dataset cached on disk.

Latent diffusion spends much of a small model's step in the VAE encoder. The cache stores, for every
clip, the VAE posterior's mean and standard deviation (both already multiplied by the latent scale),
so training still draws a fresh latent sample ``mean + std · ε`` each epoch, as encoding on the fly
would — only without running the encoder.

    folder/latents.safetensors   mean, std: (N, F, C, h, w) float32; label, motion: (N,) int64
    folder/meta.json             what was encoded (dataset, VAE) — a cache never serves other data

A clip of a video folder is cached as one temporal crop (the dataset's first epoch), so caching trades
crop augmentation for speed; synthetic clips depend only on (seed, index) and lose nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from .progress import progress_bar
from .vae import LatentCodec, vae_folder


def cache_key(dataset: Dataset, vae_path: str | Path) -> dict:
    """What identifies a cache: the dataset (its repr names kind, size, frames, seed) and the VAE files."""
    vae_dir = vae_folder(vae_path)
    digest = hashlib.sha256()
    for file in sorted(vae_dir.glob("*")):
        if file.suffix in (".json", ".safetensors", ".bin"):
            digest.update(file.name.encode() + file.read_bytes())
    return {"dataset": repr(dataset), "length": len(dataset), "vae": digest.hexdigest()[:16]}


@torch.no_grad()
def build_latent_cache(dataset: Dataset, codec: LatentCodec, vae_path: str | Path, folder: str | Path,
                       batch_size: int = 16, progress: bool = True) -> Path:
    """Encode every clip of ``dataset`` into ``folder`` (written to a temporary folder, then renamed).

    If ``folder`` already holds the cache of this dataset and VAE it is returned as it is; a cache of
    anything else is an error rather than silently replaced.
    """
    folder = Path(folder)
    key = cache_key(dataset, vae_path)
    if (folder / "meta.json").is_file():
        if json.loads((folder / "meta.json").read_text())["key"] == key:
            return folder
        raise ValueError(f"latent cache {str(folder)!r} holds latents of another dataset or VAE; "
                         "delete it or choose another folder")
    device = next(codec.parameters()).device
    means, stds, labels, motions = [], [], [], []
    for start in progress_bar(range(0, len(dataset), batch_size), desc="encoding latents", disable=not progress):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        video = torch.stack([item["video"] for item in items]).to(device)      # (b, F, 3, H, W)
        mean, std = codec.encode_moments(video)                                  # (b, F, C, h, w) each
        means.append(mean.cpu())
        stds.append(std.cpu())
        labels += [int(item.get("label", 0)) for item in items]
        motions += [int(item.get("motion", 0)) for item in items]
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_file({"mean": torch.cat(means).contiguous(), "std": torch.cat(stds).contiguous(),
                   "label": torch.tensor(labels), "motion": torch.tensor(motions)}, tmp / "latents.safetensors")
        (tmp / "meta.json").write_text(json.dumps({"key": key, "scale": codec.scale,
                                                   "num_classes": getattr(dataset, "num_classes", 0)}, indent=2))
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


class LatentClips(Dataset):
    """A latent cache as a dataset: item i = {"video": (F, C, h, w) latent sample, "label", "motion"}.

    The sample ``mean + std · ε`` draws ε from (seed, index, epoch): deterministic, new each epoch.
    """

    def __init__(self, folder: str | Path, seed: int = 0):
        folder = Path(folder)
        if not (folder / "latents.safetensors").is_file():
            raise FileNotFoundError(f"no latent cache at {str(folder)!r}; build it with build_latent_cache "
                                    "(training with data.latent_cache set builds it on first use)")
        tensors = load_file(folder / "latents.safetensors")
        self.mean, self.std = tensors["mean"], tensors["std"]
        self.labels, self.motions = tensors["label"], tensors["motion"]
        self.num_classes = json.loads((folder / "meta.json").read_text()).get("num_classes", 0)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.mean.shape[0]

    def __repr__(self) -> str:
        n, f, c, h, w = self.mean.shape
        return f"LatentClips({n} clips of {f}x{c}x{h}x{w} latents)"

    def _sample(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, index, self.epoch, 2])
        eps = torch.from_numpy(rng.standard_normal(self.mean.shape[1:], dtype=np.float32))
        return self.mean[index] + self.std[index] * eps

    def __getitem__(self, index: int) -> dict:
        return {"video": self._sample(index), "label": int(self.labels[index]), "motion": int(self.motions[index])}

    def random_image(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        """One random latent frame (C, h, w) of clip ``index`` and its label (for joint batches)."""
        return self._sample(index)[int(rng.integers(self.mean.shape[1]))], int(self.labels[index])
