"""Training the probe on freshly rendered synthetic clips, and saving / loading its weights.

    python -m minilatte.metrics train-probe --out data_samples/probe.safetensors

renders a fixed training set from all three synthetic datasets (8 frames, 16×16, seed 1000),
trains for a fixed number of steps with one CPU thread (so the file is the same on every run of
one machine) and reports the accuracy on clips of another seed (2000) that training never saw.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..assets import DATA_SAMPLES
from ..data import synthetic_dataset
from .probe import CLASS_OFFSETS, DATASETS, IMAGE_SIZE, NUM_FRAMES, Probe

PROBE_PATH = DATA_SAMPLES / "probe.safetensors"
TRAIN_SEED, TEST_SEED = 1000, 2000
TRAIN_COMMAND = "python -m minilatte.metrics train-probe --out data_samples/probe.safetensors"


def render_clips(per_dataset: int, seed: int, datasets=DATASETS) -> dict[str, torch.Tensor]:
    """{"video": (N, 8, 3, 16, 16), "label": probe class (N,), "motion": (N,)} over ``datasets``."""
    videos, labels, motions = [], [], []
    for name in datasets:
        ds = synthetic_dataset(name, NUM_FRAMES, IMAGE_SIZE, seed=seed, length=per_dataset)
        items = [ds[i] for i in range(per_dataset)]
        videos.append(torch.stack([it["video"] for it in items]))
        labels += [it["label"] + CLASS_OFFSETS[name] for it in items]
        motions += [it["motion"] for it in items]
    return {"video": torch.cat(videos), "label": torch.tensor(labels), "motion": torch.tensor(motions)}


def probe_loss(probe: Probe, batch: dict) -> torch.Tensor:
    """Content and motion from the clip, content from every single frame."""
    out = probe(batch["video"])
    frame_labels = batch["label"][:, None].expand(-1, out["frame_content"].shape[1])         # (B, 8)
    return (F.cross_entropy(out["content"], batch["label"]) + F.cross_entropy(out["motion"], batch["motion"])
            + F.cross_entropy(out["frame_content"].flatten(0, 1), frame_labels.flatten()))


@torch.no_grad()
def probe_accuracy(probe: Probe, data: dict, batch_size: int = 256) -> dict[str, float]:
    """Held-out accuracies: clip content, clip motion, single-frame content."""
    probe.eval()
    hits = {"content": 0, "motion": 0, "frame_content": 0}
    for s in range(0, len(data["label"]), batch_size):
        out = probe(data["video"][s:s + batch_size])
        label, motion = data["label"][s:s + batch_size], data["motion"][s:s + batch_size]
        hits["content"] += (out["content"].argmax(-1) == label).sum().item()
        hits["motion"] += (out["motion"].argmax(-1) == motion).sum().item()
        hits["frame_content"] += (out["frame_content"].argmax(-1) == label[:, None]).float().mean(1).sum().item()
    return {k: round(v / len(data["label"]), 4) for k, v in hits.items()}


def train_probe(steps: int = 800, batch_size: int = 64, lr: float = 2e-3, per_dataset: int = 4000,
                seed: int = 0, test_per_dataset: int = 500, log_every: int = 200, log=print) -> tuple[Probe, dict]:
    """Train a probe from scratch; returns (probe in eval mode, info with held-out accuracies)."""
    torch.manual_seed(seed)
    start = time.time()
    train = render_clips(per_dataset, TRAIN_SEED)
    probe = Probe()
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    gen = torch.Generator().manual_seed(seed)
    probe.train()
    for step in range(steps):
        idx = torch.randint(0, len(train["label"]), (batch_size,), generator=gen)
        loss = probe_loss(probe, {k: v[idx] for k, v in train.items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if log and (step + 1) % log_every == 0:
            log(f"step {step + 1}/{steps}  loss {loss.item():.3f}  {time.time() - start:.0f}s")
    accuracy = probe_accuracy(probe, render_clips(test_per_dataset, TEST_SEED))
    info = {"steps": steps, "batch_size": batch_size, "lr": lr, "clips_per_dataset": per_dataset, "seed": seed,
            "train_seed": TRAIN_SEED, "test_seed": TEST_SEED, "held_out_accuracy": accuracy,
            "command": TRAIN_COMMAND}
    return probe.eval(), info


def save_probe(probe: Probe, path: str | Path, info: dict) -> Path:
    """Weights to ``path`` (.safetensors, ``info`` in its metadata) and ``info`` beside it as .json."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in probe.state_dict().items()}
    save_file(state, path, metadata={"info": json.dumps(info)})
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return path


def load_probe(path: str | Path | None = None, device: str | torch.device = "cpu") -> Probe:
    """The shipped probe (``data_samples/probe.safetensors``) or one at ``path``, in eval mode."""
    path = Path(path) if path is not None else PROBE_PATH
    if not path.is_file():
        raise FileNotFoundError(f"probe weights not found at {path}; make them with: {TRAIN_COMMAND}")
    probe = Probe()
    probe.load_state_dict(load_file(path))
    return probe.to(device).eval()
