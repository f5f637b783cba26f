"""Image-video joint training batches (Latte §3.3): a clip plus k frames from other clips.

Each item is the clip's F frames followed by ``num_images`` single frames taken from *other* clips of
the same dataset, with those clips' labels. The model treats the appended frames as independent
images: ``model(x, t, y=label, num_images=k, y_images=image_labels)``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class JointImageVideo(Dataset):
    """Wraps a video dataset; item = {"video": (F + k, C, H, W), "label", "image_labels": (k,), "num_images": k}."""

    def __init__(self, dataset: Dataset, num_images: int, seed: int = 0):
        if not isinstance(num_images, int) or num_images < 1:
            raise ValueError(f"num_images={num_images!r} must be a positive integer")
        if len(dataset) < 2:
            raise ValueError("JointImageVideo needs a dataset of at least 2 clips (images come from other clips)")
        self.dataset, self.num_images, self.seed = dataset, num_images, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        rng = np.random.default_rng([self.seed, index, 1])
        others = rng.integers(len(self.dataset) - 1, size=self.num_images)
        others = others + (others >= index)                                 # never the clip itself
        frames, labels = [], []
        for other in others.tolist():
            clip = self.dataset[other]
            frames.append(clip["video"][rng.integers(clip["video"].shape[0])])
            labels.append(int(clip.get("label", 0)))
        return {**item, "video": torch.cat([item["video"], torch.stack(frames)]),
                "image_labels": torch.tensor(labels, dtype=torch.long), "num_images": self.num_images}
