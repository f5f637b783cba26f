"""The measures benchmarks/demo_diagnosis.py uses to explain the demo's FD-probe gap."""
import importlib.util
from pathlib import Path

import torch

from minilatte.data.synthetic import synthetic_dataset

_spec = importlib.util.spec_from_file_location(
    "demo_diagnosis", Path(__file__).parents[1] / "benchmarks" / "demo_diagnosis.py")
diagnosis = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(diagnosis)


def _clips(n=16):
    data = synthetic_dataset("shapes", num_frames=8, image_size=32, seed=0, length=n)
    return torch.stack([data[i]["video"] for i in range(n)])


def test_a_square_moving_at_constant_speed_has_no_acceleration_and_its_centroid_is_found():
    videos = -torch.ones(1, 4, 3, 16, 16)
    for f in range(4):
        videos[0, f, :, 4:8, 2 + 2 * f:6 + 2 * f] = 1.0          # 4x4 square, 2 px to the right per frame
    torch.testing.assert_close(diagnosis.centroids(videos)[0, :, 0], torch.tensor([3.5, 5.5, 7.5, 9.5]))
    path = diagnosis.path_acceleration(videos)
    assert path["median"] == 0.0 and abs(path["speed"] - 2.0) < 1e-6


def test_a_bounce_is_an_acceleration_of_twice_the_speed():
    videos = -torch.ones(1, 3, 3, 16, 16)
    for f, x in enumerate((4, 6, 4)):                               # right by 2 px, then back
        videos[0, f, :, 4:8, x:x + 4] = 1.0
    torch.testing.assert_close(diagnosis.centroids(videos)[0, :, 1], torch.full((3,), 5.5))
    assert diagnosis.path_acceleration(videos)["median"] == 4.0


def test_position_jitter_moves_whole_frames_without_wrapping_round_the_edge():
    videos = -torch.ones(1, 6, 3, 8, 8)
    videos[:, :, :, 3:5, 0] = 1.0                                  # an object on the left edge
    jittered = diagnosis.position_jitter(videos, 1, torch.Generator().manual_seed(0))
    assert (jittered[..., 7] == -1).all()                           # nothing re-enters on the right
    assert not torch.equal(jittered, videos)
    assert torch.equal(diagnosis.position_jitter(videos, 1, torch.Generator().manual_seed(0), share=0.0), videos)


def test_real_paths_are_smooth_and_jitter_shows_as_acceleration():
    real = _clips()
    smooth = diagnosis.path_acceleration(real)["median"]
    jittered = diagnosis.path_acceleration(diagnosis.position_jitter(real, 2, torch.Generator().manual_seed(0)))["median"]
    assert smooth < 0.5 < 1.5 < jittered


def test_colour_jitter_makes_the_colour_drift_and_keeps_the_range():
    real = _clips()
    drifting = diagnosis.colour_jitter(real, 0.3, torch.Generator().manual_seed(0))
    assert diagnosis.colour_drift(real) < 0.002 < 0.01 < diagnosis.colour_drift(drifting)
    assert drifting.min() >= -1 and drifting.max() <= 1
