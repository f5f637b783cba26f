"""Data: synthetic clips, real video files through PyAV, corrupt/short files, joint batches."""
import warnings

import av
import numpy as np
import pytest
import torch

from minilatte.data import JointImageVideo, VideoFolder, synthetic_dataset


@pytest.mark.parametrize("name", ["shapes", "moving-digits", "clouds"])
@pytest.mark.parametrize("frames,size", [(8, 16), (5, 48)])
def test_synthetic_clips(name, frames, size):
    ds = synthetic_dataset(name, num_frames=frames, image_size=size, seed=3, length=10)
    item = ds[4]
    assert item["video"].shape == (frames, 3, size, size) and item["video"].dtype == torch.float32
    assert item["video"].min() >= -1 and item["video"].max() <= 1
    assert 0 <= item["label"] < ds.num_classes and 0 <= item["motion"] < ds.num_motions
    assert torch.equal(ds[4]["video"], synthetic_dataset(name, frames, size, seed=3)[4]["video"])   # by (seed, index)
    assert not torch.equal(ds[4]["video"], synthetic_dataset(name, frames, size, seed=4)[4]["video"])
    moving = (item["video"][1:] - item["video"][:-1]).abs().amax(dim=(1, 2, 3))
    assert torch.all(moving > 0), "every frame must differ from the previous one"


def test_objects_stay_in_frame_and_labels_cover_classes():
    ds = synthetic_dataset("shapes", num_frames=16, image_size=32, length=60)
    labels = {ds[i]["label"] for i in range(60)}
    assert labels == {0, 1, 2}
    for i in range(10):
        video = ds[i]["video"]
        mass = (video > -1).any(dim=1).flatten(1).sum(dim=1)     # lit pixels per frame
        assert (mass.float() / mass.float().mean() - 1).abs().max() < 0.35   # never leaves the frame


def test_bad_synthetic_arguments():
    with pytest.raises(ValueError, match="dataset='dots' is not one of 'shapes', 'moving-digits', 'clouds'"):
        synthetic_dataset("dots")
    with pytest.raises(ValueError, match="num_frames=0 must be a positive integer"):
        synthetic_dataset("shapes", num_frames=0)


def write_mp4(path, num_frames, height=48, width=64):
    """A real h264/mpeg4 file whose frame i has brightness 10 + 10·i, so order can be checked."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(num_frames):
            image = np.full((height, width, 3), 10 + 10 * i, np.uint8)
            image[:, : width // 4] = 0                        # a dark band on the left to see flips
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_mp4_round_trip_keeps_order_and_interval(tmp_path):
    write_mp4(tmp_path / "a.mp4", 20)
    ds = VideoFolder(tmp_path, num_frames=4, frame_interval=2, image_size=32, train=False)
    assert len(ds) == 1 and ds.skipped == []
    video = ds[0]["video"]
    assert video.shape == (4, 3, 32, 32)
    brightness = ((video[:, :, :, -8:] + 1) * 127.5).mean(dim=(1, 2, 3))   # right part, away from the band
    indices = ds.frame_indices(20, np.random.default_rng([0, 0, 0]))       # the crop item 0 used
    assert indices[-1] - indices[0] == 7                                     # a window of 4 x 2 frames
    expected = torch.tensor(10 + 10 * indices, dtype=torch.float32)         # brightness written per frame
    assert torch.allclose(brightness, expected, atol=4), (brightness, expected)


def test_corrupt_and_short_files_are_skipped_with_one_warning_each(tmp_path):
    write_mp4(tmp_path / "good.mp4", 20)
    write_mp4(tmp_path / "short.mp4", 3)
    (tmp_path / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = VideoFolder(tmp_path, num_frames=8, frame_interval=1, image_size=16)
    assert len(ds) == 1 and len(ds.skipped) == 2
    reasons = dict(ds.skipped)
    assert "too short: 3 frames" in reasons[str(tmp_path / "short.mp4")]
    assert "unreadable" in reasons[str(tmp_path / "broken.mp4")]
    assert len([w for w in caught if "skipping" in str(w.message)]) == 2
    assert all(ds[i]["video"].shape == (8, 3, 16, 16) for i in range(len(ds)))


def test_ucf101_layout_labels_and_frame_folders(tmp_path):
    from PIL import Image
    for cls in ("Biking", "Archery"):
        (tmp_path / "ucf" / cls).mkdir(parents=True)
        write_mp4(tmp_path / "ucf" / cls / f"v_{cls}_g01.mp4", 12)
    ds = VideoFolder(tmp_path / "ucf", num_frames=4, frame_interval=3, image_size=16, layout="ucf101")
    assert ds.class_names == ["Archery", "Biking"]
    assert sorted(ds[i]["label"] for i in range(2)) == [0, 1]
    clip = tmp_path / "sky" / "clip0"
    clip.mkdir(parents=True)
    for i in range(10):
        Image.fromarray(np.full((20, 30, 3), 20 * i, np.uint8)).save(clip / f"{i:04d}.png")
    sky = VideoFolder(tmp_path / "sky", num_frames=5, frame_interval=2, image_size=16, layout="sky", train=False)
    video = sky[0]["video"]
    assert video.shape == (5, 3, 16, 16) and torch.all(video[1:].mean(dim=(1, 2, 3)) > video[:-1].mean(dim=(1, 2, 3)))


def test_video_folder_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="layout='kinetics' is not one of"):
        VideoFolder(tmp_path, layout="kinetics")
    with pytest.raises(ValueError, match="no usable clips under"):
        VideoFolder(tmp_path)


def test_joint_batches_take_images_from_other_clips():
    base = synthetic_dataset("shapes", num_frames=6, image_size=16, length=20)
    joint = JointImageVideo(base, num_images=3, seed=1)
    item = joint[5]
    assert item["video"].shape == (9, 3, 16, 16) and item["image_labels"].shape == (3,)
    assert torch.equal(item["video"][:6], base[5]["video"])
    for frame, label in zip(item["video"][6:], item["image_labels"]):
        sources = [i for i in range(20) if any(torch.equal(frame, f) for f in base[i]["video"])]
        assert sources and 5 not in sources and base[sources[0]]["label"] == label
    batch = torch.utils.data.default_collate([joint[i] for i in range(4)])
    assert batch["video"].shape == (4, 9, 3, 16, 16) and batch["image_labels"].shape == (4, 3)
    with pytest.raises(ValueError, match="num_images=0 must be a positive integer"):
        JointImageVideo(base, num_images=0)
