"""Captions of the synthetic clips: written from the labels, varied, seeded per clip; clips unchanged."""
import hashlib

import numpy as np
import pytest

from minilatte.data import synthetic_dataset
from minilatte.data.captions import (COLOUR_NAMES, COMPASS_DIRECTIONS, DIGIT_NAMES, PLAIN_DIRECTIONS, VOCABULARY,
                                     CaptionedSynthetic, caption, words)
from minilatte.data.synthetic import PALETTE

# sha256 of 50 clips (4 frames, 16x16, seed 3) as rendered before captions existed.
CLIP_DIGESTS = {"shapes": "b34ef3748e117a59", "moving-digits": "ae9e38efebcb1a3b", "clouds": "11d1dca352160d83"}


@pytest.mark.parametrize("name", list(CLIP_DIGESTS))
def test_captioned_clips_are_the_synthetic_clips_bit_for_bit(name):
    data = CaptionedSynthetic(synthetic_dataset(name, num_frames=4, image_size=16, seed=3, length=50))
    digest = hashlib.sha256()
    for i in range(50):
        item = data[i]
        assert isinstance(item["caption"], str) and set(item) == {"video", "label", "motion", "caption"}
        digest.update(item["video"].numpy().tobytes())
    assert digest.hexdigest()[:16] == CLIP_DIGESTS[name]


def direction_named(text, motion):
    plain, compass = PLAIN_DIRECTIONS[motion], COMPASS_DIRECTIONS[motion]
    # "up" is inside "up and to the left": the whole phrase must end the motion part or be followed by ":".
    return any(text.endswith(p) or f"{p}:" in text for p in (plain, compass))


def test_shape_captions_name_the_shape_its_colour_and_direction():
    data = CaptionedSynthetic(synthetic_dataset("shapes", num_frames=2, image_size=16, length=300))
    for i in range(300):
        item, drawn = data[i], data.dataset.attributes(i)
        text = item["caption"]
        assert data.dataset.class_names[item["label"]] in words(text)
        assert COLOUR_NAMES[drawn["colour"]] in words(text)
        assert direction_named(text, item["motion"]), text
        assert set(words(text)) <= set(VOCABULARY)
        brightest = item["video"][0].flatten(1).max(1).values.numpy()      # the shape's colour in [-1, 1]
        assert np.allclose((brightest + 1) / 2, PALETTE[drawn["colour"]], atol=0.02)


def test_digit_and_cloud_captions():
    digits = CaptionedSynthetic(synthetic_dataset("moving-digits", num_frames=2, image_size=16, length=100))
    for i in range(100):
        label, text = digits.dataset.attributes(i)["label"], digits.caption(i)
        assert str(label) in words(text) or DIGIT_NAMES[label] in words(text)
    clouds = CaptionedSynthetic(synthetic_dataset("clouds", num_frames=2, image_size=16, length=50))
    assert all("cloud" in clouds.caption(i) for i in range(50))


def test_phrasing_varies_but_is_fixed_per_clip():
    data = CaptionedSynthetic(synthetic_dataset("shapes", length=2000))
    captions = [data.caption(i) for i in range(2000)]
    assert captions[::-1] == [data.caption(i) for i in reversed(range(2000))]       # access order does not matter
    assert captions[:50] == [CaptionedSynthetic(synthetic_dataset("shapes", length=2000)).caption(i)
                             for i in range(50)]
    other = CaptionedSynthetic(synthetic_dataset("shapes", length=2000), caption_seed=1)
    assert sum(a != other.caption(i) for i, a in enumerate(captions[:100])) > 50
    same_labels = {}
    for i, text in enumerate(captions):
        drawn = data.dataset.attributes(i)
        same_labels.setdefault((drawn["label"], drawn["colour"], drawn["motion"]), set()).add(text)
    assert np.mean([len(v) for v in same_labels.values()]) > 5     # many phrasings of one (shape, colour, motion)
    assert any(t.startswith(("moving", "drifting", "sliding", "gliding", "heading", "travelling")) for t in captions)


def test_bad_caption_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="colour=None must be an index into the palette"):
        caption("shapes", 0, 1, rng)
    with pytest.raises(ValueError, match="motion=8 must be in \\[0, 7\\]"):
        caption("clouds", 0, 8, rng)
    with pytest.raises(ValueError, match="has no captions"):
        caption("ucf101", 0, 1, rng)
    with pytest.raises(ValueError, match="caption_seed=-1 must be a non-negative integer"):
        CaptionedSynthetic(synthetic_dataset("shapes"), caption_seed=-1)
    with pytest.raises(ValueError, match="dataset must be one of the synthetic datasets"):
        CaptionedSynthetic([1, 2, 3])
