"""Image-video joint training batches (Latte paper, "image-video joint training").

Each item is a clip's F frames followed by ``num_images`` single frames taken from *other* clips of
the same dataset, with those clips' labels:

    {"video": (F + k, C, H, W), "label": the clip's label, "image_labels": (k,) long, "num_images": k}

Inside the model the k appended frames skip temporal attention — they are independent images —
so one batch teaches both motion (the clip) and appearance (many more distinct frames). The item is
shaped for ``model(x, t, y=label, num_images=k, y_images=image_labels)``.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
from torch.utils.data import Dataset


class JointImageVideo(Dataset):
    """Wraps a video dataset (synthetic or VideoFolder); item i = clip i plus k frames of other clips.

    Which clips and frames are appended depends only on (seed, index, epoch). A wrapped dataset with a
    ``random_image(index, rng) -> (frame (C, H, W), label)`` method supplies single frames cheaply;
    any other dataset gives a random frame of its item.
    """

    def __init__(self, dataset: Dataset, num_images: int, seed: int = 0):
        if isinstance(num_images, bool) or not isinstance(num_images, numbers.Integral) or num_images < 1:
            raise ValueError(f"num_images={num_images!r} must be a positive integer")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(f"dataset must be a map-style dataset (with __getitem__ and __len__), "
                            f"got {type(dataset).__name__}")
        if len(dataset) < 2:
            raise ValueError(f"dataset has {len(dataset)} clip(s); JointImageVideo needs at least 2 "
                             "(the images come from other clips)")
        self.dataset, self.num_images, self.seed, self.epoch = dataset, int(num_images), int(seed), 0

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @property
    def class_names(self):
        return self.dataset.class_names

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return f"JointImageVideo({self.dataset!r}, num_images={self.num_images})"

    def _image(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        if hasattr(self.dataset, "random_image"):
            return self.dataset.random_image(index, rng)
        item = self.dataset[index]
        return item["video"][int(rng.integers(item["video"].shape[0]))], int(item.get("label", 0))

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        rng = np.random.default_rng([self.seed, index, self.epoch, 1])
        # k distinct other clips when there are enough; index i is never its own image source.
        n_others = len(self.dataset) - 1
        others = rng.choice(n_others, size=self.num_images, replace=self.num_images > n_others)
        others = others + (others >= index)
        images, labels = zip(*(self._image(int(other), rng) for other in others))
        return {**item, "video": torch.cat([item["video"], torch.stack(images)]),
                "image_labels": torch.tensor(labels, dtype=torch.long), "num_images": self.num_images}
