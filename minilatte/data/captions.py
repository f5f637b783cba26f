"""Captions for the synthetic videos, written from their labels: "a red triangle moving up and to the left".

A caption names what the clip's labels say — the content (shape, digit, clouds), the colour of a
shape, the start direction — in one of many phrasings, picked at random but seeded per clip, so that
a text model must read the words (colour and direction each have several names, the word order
changes) and cannot learn a fixed sentence per class::

    a red triangle moving up and to the left
    a triangle, red, drifting north-west
    heading towards the north-west: a red triangle

``CaptionedSynthetic`` adds ``"caption"`` to the items of a synthetic dataset; the clips themselves
are untouched. Every word a caption can use is in ``VOCABULARY`` (what the word encoder of the CPU
tier knows, ``minilatte.text_encoders.WordEncoder``).
"""
from __future__ import annotations

import numbers
import re
import unicodedata

import numpy as np
from torch.utils.data import Dataset

from .synthetic import DIRECTIONS, PALETTE, SyntheticVideos

# Names of synthetic.PALETTE's colours, in its order.
COLOUR_NAMES = ("red", "green", "blue", "yellow", "magenta", "cyan")
# Two names for each start direction of synthetic.DIRECTIONS (E, NE, N, ...), in its order.
PLAIN_DIRECTIONS = ("right", "up and to the right", "up", "up and to the left", "left", "down and to the left",
                    "down", "down and to the right")
COMPASS_DIRECTIONS = ("east", "north-east", "north", "north-west", "west", "south-west", "south", "south-east")
VERBS = ("moving", "drifting", "sliding", "gliding", "heading", "travelling")
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# How a caption says where the thing goes ({verb}: one of VERBS) ...
MOTIONS = ("{verb} {plain}", "{verb} {compass}", "{verb} towards the {compass}")
# ... what it is, per dataset ({colour}, {shape}, {digit}, {name} are filled from the labels) ...
SUBJECTS = {
    "shapes": ("a {colour} {shape}", "a {shape}, {colour},", "one {colour} {shape}", "a {shape} in {colour}"),
    "moving-digits": ("the digit {digit}", "a handwritten {digit}", "a {name}", "the number {name}"),
    "clouds": ("clouds", "white clouds", "a cloudy sky", "clouds over a blue sky"),
}
# ... and in which order.
ORDERS = ("{subject} {motion}", "{subject} {motion}", "{motion}: {subject}")

_WORD = re.compile(r"[^\W_]+")      # letters and digits of any script: "über" stays one word


def words(text: str) -> list[str]:
    """The words of a caption, lower case, punctuation and hyphens dropped: the tokens of the word encoder."""
    return _WORD.findall(text.lower())


def unreadable_characters(text: str) -> list[str]:
    """Characters of ``text`` that are neither part of a word, nor a space, nor punctuation (emoji,
    symbols): the word encoder would drop them silently."""
    return list(dict.fromkeys(c for c in text if not (c.isalnum() or c.isspace() or unicodedata.category(c)[0] == "P")))


def _vocabulary() -> tuple[str, ...]:
    pieces = [*COLOUR_NAMES, *PLAIN_DIRECTIONS, *COMPASS_DIRECTIONS, *VERBS, *DIGIT_NAMES, *map(str, range(10)),
              *MOTIONS, *ORDERS, "square circle triangle"]
    pieces += [subject for subjects in SUBJECTS.values() for subject in subjects]
    return tuple(sorted({w for piece in pieces for w in words(re.sub(r"\{\w+\}", " ", piece))}))


VOCABULARY = _vocabulary()


def caption(dataset: str, label: int, motion: int, rng: np.random.Generator, colour: int | None = None,
            class_names: tuple[str, ...] = ()) -> str:
    """A caption of a synthetic clip from its labels, phrased at random with ``rng``.

    ``dataset``: "shapes", "moving-digits" or "clouds"; ``label``: content class, ``motion``: index
    into DIRECTIONS, ``colour``: index into PALETTE (shapes); ``class_names``: the shapes' names.
    """
    if dataset not in SUBJECTS:
        raise ValueError(f"dataset={dataset!r} has no captions; one of {', '.join(map(repr, SUBJECTS))}")
    if not 0 <= motion < len(DIRECTIONS):
        raise ValueError(f"motion={motion} must be in [0, {len(DIRECTIONS) - 1}]")
    if dataset == "shapes" and (colour is None or not 0 <= colour < len(PALETTE)):
        raise ValueError(f"colour={colour!r} must be an index into the palette (0..{len(PALETTE) - 1}) for shapes")
    pick = lambda options: options[int(rng.integers(len(options)))]   # noqa: E731
    motion_text = pick(MOTIONS).format(verb=pick(VERBS), plain=PLAIN_DIRECTIONS[motion],
                                       compass=COMPASS_DIRECTIONS[motion])
    subject = pick(SUBJECTS[dataset]).format(
        colour=COLOUR_NAMES[colour] if colour is not None else "", shape=class_names[label] if class_names else "",
        digit=label, name=DIGIT_NAMES[label % 10])
    order = pick(ORDERS)
    return order.format(subject=subject if order.startswith("{subject}") else subject.rstrip(","), motion=motion_text)


class CaptionedSynthetic(Dataset):
    """A synthetic dataset whose items also carry a ``"caption"`` (str) written from their labels.

    The caption of item i depends on (the dataset's seed, i, ``caption_seed``) only; its randomness
    is a generator of its own, so the clip is exactly the uncaptioned dataset's.
    """

    def __init__(self, dataset: SyntheticVideos, caption_seed: int = 0):
        if not isinstance(dataset, SyntheticVideos) or dataset.name not in SUBJECTS:
            raise ValueError(f"dataset must be one of the synthetic datasets {', '.join(map(repr, SUBJECTS))}, "
                             f"got {dataset!r}")
        if isinstance(caption_seed, bool) or not isinstance(caption_seed, numbers.Integral) or caption_seed < 0:
            raise ValueError(f"caption_seed={caption_seed!r} must be a non-negative integer")
        self.dataset, self.caption_seed = dataset, int(caption_seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return f"CaptionedSynthetic({self.dataset!r}, caption_seed={self.caption_seed})"

    def caption(self, index: int) -> str:
        """The caption of item ``index``, without rendering the clip."""
        drawn = self.dataset.attributes(index)
        rng = np.random.default_rng([self.dataset.seed, int(index), 1, self.caption_seed])
        return caption(self.dataset.name, drawn["label"], drawn["motion"], rng, drawn.get("colour"),
                       self.dataset.class_names)

    def __getitem__(self, index: int) -> dict:
        return {**self.dataset[index], "caption": self.caption(index)}


class WithCaptions(Dataset):
    """Any dataset whose item i gets ``"caption": caption_of(i)`` (kept if the item has one already).

    Training wraps a latent cache in it: the cache keeps the clips in the order of the dataset it
    encoded, so the captions of a synthetic set (a function of seed and index, ``CaptionedSynthetic.caption``)
    are rebuilt exactly, without storing them.
    """

    def __init__(self, dataset: Dataset, caption_of):
        self.dataset, self.caption_of = dataset, caption_of

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return f"WithCaptions({self.dataset!r})"

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        return item if "caption" in item else {**item, "caption": self.caption_of(index)}
