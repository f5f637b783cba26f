"""Checkers for notebook 08 (image-video joint training): who can influence whom, labels per frame."""
from __future__ import annotations

import torch

from ..models import create_latte
from ..testing import ZERO_INIT, randomize_
from .core import assert_equal, call, passed, seeded


def _influence(n_video: int, num_images: int) -> torch.Tensor:
    frames = n_video + num_images
    mask = torch.eye(frames, dtype=torch.bool)
    mask[:n_video, :n_video] = True
    return mask


@torch.no_grad()
def measured_influence(model, x: torch.Tensor, t: torch.Tensor, num_images: int, **kwargs) -> torch.Tensor:
    """(F, F) bool: entry [i, j] is True when perturbing input frame j changes output frame i."""
    base = model(x, t, num_images=num_images, **kwargs)
    frames = x.shape[1]
    gen = seeded(11)
    influence = torch.zeros(frames, frames, dtype=torch.bool)
    for j in range(frames):
        moved = x.clone()
        moved[:, j] += torch.randn(moved[:, j].shape, generator=gen)
        change = (model(moved, t, num_images=num_images, **kwargs) - base).abs().amax(dim=(0, 2, 3, 4))
        influence[:, j] = change > 0
    return influence


def check_influence_mask(influence_mask) -> None:
    """``influence_mask(n_video, num_images)`` -> (F, F) bool, F = n_video + num_images; entry [i, j] is
    True when output frame i can depend on input frame j in a joint forward pass.

    Compared exactly with the pattern measured on a minilatte model (perturb one input frame, see
    which output frames move) and with minilatte's rule on three more sizes.
    """
    torch.manual_seed(0)
    model = create_latte("Latte-Nano/2", num_frames=3, input_size=4, in_channels=2).eval()
    randomize_(model, only=ZERO_INIT)   # a fresh adaLN-Zero model outputs exactly 0
    x = torch.randn(1, 5, 2, 4, 4, generator=seeded(12))
    measured = measured_influence(model, x, torch.tensor([300]), num_images=2)
    cases = [(3, 2, measured), (4, 3, _influence(4, 3)), (16, 8, _influence(16, 8)), (2, 1, _influence(2, 1))]
    for n_video, num_images, expected in cases:
        got = call("influence_mask", influence_mask, n_video, num_images)
        if not isinstance(got, torch.Tensor):
            got = torch.as_tensor(got)
        got = got.bool()
        assert_equal("influence_mask", tuple(got.shape), tuple(expected.shape),
                      what=f"shape for n_video={n_video}, num_images={num_images}")
        if not torch.equal(got, expected):
            i, j = (int(v) for v in (got != expected).nonzero()[0])
            kind = lambda f: "video" if f < n_video else "image"   # noqa: E731
            hint = (f"which attention could carry input frame {j}'s tokens to output frame {i}? Recall which "
                    "frames temporal attention spans in a joint pass")
            raise AssertionError(
                f"influence_mask(n_video={n_video}, num_images={num_images}): entry [{i}, {j}] (output {kind(i)} "
                f"frame {i}, input {kind(j)} frame {j}) is {bool(got[i, j])}, expected {bool(expected[i, j])}"
                f"\n  hint: {hint}")
    passed("influence_mask", detail=" (and the pattern measured on a model)")


def check_frame_labels(frame_labels) -> None:
    """``frame_labels(y, y_images, n_video)`` -> (B, n_video + K) labels, one per frame.

    y (B,) is each clip's label, y_images (B, K) the labels of its K appended images. The class
    embeddings of the result must equal what minilatte's ``Latte.condition`` feeds the blocks.
    """
    model = create_latte("Latte-Nano/2", num_frames=4, input_size=4, in_channels=2, num_classes=5).eval()
    gen = seeded(13)
    y = torch.tensor([0, 3])
    y_images = torch.randint(0, 5, (2, 3), generator=gen)
    t = torch.tensor([0, 0])
    got = call("frame_labels", frame_labels, y, y_images, 4)
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"frame_labels: expected a tensor of shape (2, 7), got {type(got).__name__}")
    hint = "see the prompt for the label each kind of frame, clip or image, gets and for their order"
    assert_equal("frame_labels", tuple(got.shape), (2, 7), what="shape", hint=hint)
    with torch.no_grad():
        t_emb, expected = model.condition(t, y, 4, 3, y_images)
        ours = model.y_embedder(got.long())
    if not torch.equal(ours, expected):
        frame = int((ours != expected).any(-1).any(0).nonzero()[0])
        raise AssertionError(f"frame_labels: frame {frame} gets another label than minilatte gives it "
                             f"(got {got[:, frame].tolist()} for the 2 clips)\n  hint: {hint}")
    passed("frame_labels", detail=" (its class embeddings equal Latte.condition's)")
