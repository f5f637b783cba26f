"""Data: synthetic clips, real video files through PyAV, corrupt/short files, joint batches."""
import math
import warnings

import av
import numpy as np
import pytest
import torch
from PIL import Image

from minilatte.data import JointImageVideo, VideoFolder, read_frames, synthetic_dataset
from minilatte.data.synthetic import DIRECTIONS

NAMES = ["shapes", "moving-digits", "clouds"]


# --------------------------------------------------------------------------- synthetic datasets

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("frames,size", [(8, 16), (5, 48)])
def test_synthetic_clips(name, frames, size):
    ds = synthetic_dataset(name, num_frames=frames, image_size=size, seed=3, length=10)
    assert len(ds) == 10
    item = ds[4]
    assert item["video"].shape == (frames, 3, size, size) and item["video"].dtype == torch.float32
    assert item["video"].min() >= -1 and item["video"].max() <= 1
    assert 0 <= item["label"] < ds.num_classes and 0 <= item["motion"] < ds.num_motions
    assert len(ds.class_names) == ds.num_classes and len(ds.motion_names) == ds.num_motions
    assert torch.equal(ds[4]["video"], synthetic_dataset(name, frames, size, seed=3)[4]["video"])   # by (seed, index)
    assert not torch.equal(ds[4]["video"], synthetic_dataset(name, frames, size, seed=4)[4]["video"])
    moving = (item["video"][1:] - item["video"][:-1]).abs().amax(dim=(1, 2, 3))
    assert torch.all(moving > 0.05), "every frame must differ from the previous one"


@pytest.mark.parametrize("name", NAMES)
def test_items_do_not_depend_on_access_order_or_clip_length(name):
    ds = synthetic_dataset(name, num_frames=8, image_size=32, seed=7)
    first = ds[5]["video"]
    for i in (9, 0, 5, 3):
        ds[i]
    assert torch.equal(ds[5]["video"], first)
    longer = synthetic_dataset(name, num_frames=12, image_size=32, seed=7)[5]
    assert torch.equal(longer["video"][:8], first)                  # a longer clip continues a shorter one
    assert longer["label"] == ds[5]["label"] and longer["motion"] == ds[5]["motion"]


@pytest.mark.parametrize("name,size", [("shapes", 32), ("shapes", 16), ("moving-digits", 32), ("moving-digits", 16)])
def test_objects_stay_in_frame_and_labels_cover_classes(name, size):
    ds = synthetic_dataset(name, num_frames=16, image_size=size, length=120)
    items = [ds[i] for i in range(120)]
    assert {it["label"] for it in items} == set(range(ds.num_classes))
    assert {it["motion"] for it in items} == set(range(len(DIRECTIONS)))
    for item in items[:20]:
        brightness = (item["video"] + 1).sum(dim=(1, 2, 3))          # total light per frame
        assert (brightness / brightness.mean() - 1).abs().max() < 0.1, "the object never leaves the frame"


def _centroid(frame):
    """(x, y) centre of light of a (3, H, W) frame in [-1, 1]."""
    weight = (frame + 1).sum(dim=0)
    ys, xs = torch.meshgrid(torch.arange(frame.shape[1]), torch.arange(frame.shape[2]), indexing="ij")
    return np.array([(weight * xs).sum() / weight.sum(), (weight * ys).sum() / weight.sum()])


def _angle_error(motion, dx, dy):
    expected = motion * 2 * math.pi / len(DIRECTIONS)
    actual = math.atan2(-dy, dx)                                    # image y points down
    return abs((actual - expected + math.pi) % (2 * math.pi) - math.pi)


@pytest.mark.parametrize("name", ["shapes", "moving-digits"])
def test_motion_label_is_the_start_direction(name):
    ds = synthetic_dataset(name, num_frames=2, image_size=64, length=40)
    errors = []
    for i in range(40):
        item = ds[i]
        dx, dy = _centroid(item["video"][1]) - _centroid(item["video"][0])
        errors.append(_angle_error(item["motion"], dx, dy))
    # Right up to the ±11° jitter, except for clips that hit a wall in their first step.
    assert np.mean(np.array(errors) < 0.35) > 0.8, errors


def test_clouds_drift_in_the_labelled_direction():
    ds = synthetic_dataset("clouds", num_frames=6, image_size=32, length=12)
    for i in range(12):
        item = ds[i]
        a, b = item["video"][0, 0].numpy(), item["video"][-1, 0].numpy()   # red channel: clouds, little sky
        corr = np.fft.ifft2(np.fft.fft2(b) * np.conj(np.fft.fft2(a))).real  # peak at the drift
        dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
        dy, dx = (dy + 16) % 32 - 16, (dx + 16) % 32 - 16
        assert math.hypot(dx, dy) >= 3 and _angle_error(item["motion"], dx, dy) < 0.6, (i, dx, dy)


def test_bad_synthetic_arguments():
    with pytest.raises(ValueError, match="dataset='dots' is not one of 'shapes', 'moving-digits', 'clouds'"):
        synthetic_dataset("dots")
    with pytest.raises(ValueError, match="num_frames=0 must be a positive integer"):
        synthetic_dataset("shapes", num_frames=0)
    with pytest.raises(ValueError, match="image_size=4 is too small"):
        synthetic_dataset("clouds", image_size=4)
    with pytest.raises(ValueError, match="length=2.5 must be a positive integer"):
        synthetic_dataset("moving-digits", length=2.5)
    with pytest.raises(ValueError, match="seed=-1 must be a non-negative integer"):
        synthetic_dataset("shapes", seed=-1)
    with pytest.raises(IndexError):
        synthetic_dataset("shapes", length=3)[3]


# --------------------------------------------------------------------------- real video files

def write_video(path, num_frames, height=48, width=64, codec="mpeg4", base=10, step=10, gop=None):
    """A real video file whose frame i has brightness base + step·i, so frame order can be checked;
    a dark band on the left shows flips."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 2_000_000
        if gop:
            stream.gop_size = gop
        for i in range(num_frames):
            image = np.full((height, width, 3), base + step * i, np.uint8)
            image[:, : width // 4] = 0
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def right_brightness(video):
    """Mean 0..255 brightness of each frame's right part, away from the dark band: (F,)."""
    return ((video[:, :, :, -6:] + 1) * 127.5).mean(dim=(1, 2, 3))


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_mp4_round_trip_keeps_order_and_interval(tmp_path, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} is not in this PyAV build")
    write_video(tmp_path / "a.mp4", 20, codec=codec)
    ds = VideoFolder(tmp_path, num_frames=4, frame_interval=2, image_size=32, train=False)
    assert len(ds) == 1 and ds.skipped == []
    video = ds[0]["video"]
    assert video.shape == (4, 3, 32, 32) and video.dtype == torch.float32
    indices = ds.frame_indices(20, np.random.default_rng([0, 0, 0]))       # the crop item 0 used
    assert indices[-1] - indices[0] == 7                                     # a window of 4 x 2 frames
    expected = torch.tensor(10 + 10 * indices, dtype=torch.float32)         # brightness written per frame
    assert torch.allclose(right_brightness(video), expected, atol=4), (right_brightness(video), expected)


def test_seeking_decodes_the_same_frames_as_decoding_from_the_start(tmp_path):
    write_video(tmp_path / "long.mp4", 90, height=16, width=16, base=5, step=2, gop=8)
    with av.open(str(tmp_path / "long.mp4")) as container:
        every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    for wanted in ([0, 3, 6], [41, 44, 47, 50], [70, 89], [89], [60, 60, 61]):
        frames = read_frames(tmp_path / "long.mp4", wanted).numpy()
        assert np.array_equal(frames, np.stack([every[i] for i in wanted])), wanted


@pytest.mark.parametrize("ext,codec", [(".avi", "mpeg4"), (".mkv", "mpeg4"), (".mov", "mpeg4"),
                                       (".webm", "libvpx-vp9"), (".gif", None)])
def test_other_containers(tmp_path, ext, codec):
    if codec is None:      # GIF: write with PIL, which keeps exact grey levels in its palette
        frames = [Image.fromarray(np.full((24, 32, 3), 10 + 20 * i, np.uint8)) for i in range(10)]
        frames[0].save(tmp_path / f"clip{ext}", save_all=True, append_images=frames[1:], duration=100)
    elif codec in av.codecs_available:
        write_video(tmp_path / f"clip{ext}", 10, height=24, width=32, codec=codec, step=20)
    else:
        pytest.skip(f"{codec} is not in this PyAV build")
    ds = VideoFolder(tmp_path, num_frames=5, frame_interval=2, image_size=16, train=False)
    assert len(ds) == 1 and ds.skipped == []
    brightness = right_brightness(ds[0]["video"])
    assert torch.allclose(brightness, 10 + 20 * torch.arange(0, 10, 2.25).long().float(), atol=6), brightness


def test_random_flip_only_when_training(tmp_path):
    write_video(tmp_path / "a.mp4", 12)
    darker_left = []
    for seed in range(12):
        video = VideoFolder(tmp_path, num_frames=4, frame_interval=1, image_size=16, seed=seed)[0]["video"]
        darker_left.append(bool(video[..., :3].mean() < video[..., -3:].mean()))
        assert torch.equal(video, VideoFolder(tmp_path, 4, 1, 16, seed=seed)[0]["video"])   # same seed, same flip
    assert 0 < sum(darker_left) < 12                                          # some flipped, some not
    assert VideoFolder(tmp_path, 4, 1, 16, train=False).flip is False
    assert VideoFolder(tmp_path, 4, 1, 16, flip=False).flip is False


def test_corrupt_and_short_files_are_skipped_with_one_warning_each(tmp_path):
    write_video(tmp_path / "good.mp4", 20)
    write_video(tmp_path / "short.mp4", 3)
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


def test_a_file_that_breaks_after_the_probe_is_replaced(tmp_path):
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        write_video(tmp_path / name, 12)
    ds = VideoFolder(tmp_path, num_frames=4, frame_interval=2, image_size=16, train=False)
    (tmp_path / "b.mp4").write_bytes(b"\x00" * 2000)                 # damaged after the dataset was built
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(3)] + [ds[1]]
    assert items[1]["path"] == str(tmp_path / "c.mp4")               # the next usable clip, every time
    assert torch.equal(items[1]["video"], items[3]["video"])
    assert [p for p, _ in ds.skipped] == [str(tmp_path / "b.mp4")] and "failed while reading" in ds.skipped[0][1]
    assert len([w for w in caught if "skipping" in str(w.message)]) == 1


def test_ucf101_layout_labels(tmp_path):
    for cls in ("Biking", "Archery", "Diving"):
        (tmp_path / cls).mkdir()
    write_video(tmp_path / "Biking" / "v_Biking_g01.mp4", 12)
    write_video(tmp_path / "Archery" / "v_Archery_g01.mp4", 12)
    write_video(tmp_path / "stray.mp4", 12)                          # not in a class folder
    with pytest.warns(UserWarning, match="not inside a class folder"):
        ds = VideoFolder(tmp_path, num_frames=4, frame_interval=3, image_size=16, layout="ucf101")
    assert ds.class_names == ["Archery", "Biking", "Diving"] and ds.num_classes == 3   # every class folder, sorted
    assert {ds[i]["path"].split("/")[-2]: ds[i]["label"] for i in range(len(ds))} == {"Archery": 0, "Biking": 1}
    with pytest.raises(ValueError, match="has no class sub-folders"):
        VideoFolder(tmp_path / "Biking", layout="ucf101")


def test_frame_folders_in_natural_order(tmp_path):
    clip = tmp_path / "sky" / "video0" / "clip0"                     # SkyTimelapse nests clips two deep
    clip.mkdir(parents=True)
    for i in range(12):                                               # f2.png must come before f10.png
        Image.fromarray(np.full((20, 30, 3), 10 + 20 * i, np.uint8)).save(clip / f"f{i}.png")
    (tmp_path / "sky" / "video0" / "notes.txt").write_text("not a frame")
    ds = VideoFolder(tmp_path / "sky", num_frames=6, frame_interval=2, image_size=16, layout="sky")
    assert len(ds) == 1 and ds.flip is False                          # sky: no flips, like the official code
    brightness = right_brightness(ds[0]["video"])
    indices = ds.frame_indices(12, np.random.default_rng([0, 0, 0]))
    assert torch.allclose(brightness, torch.tensor(10.0 + 20 * indices, dtype=torch.float32), atol=1.5), (brightness, indices)
    taichi = VideoFolder(tmp_path / "sky", num_frames=6, frame_interval=1, image_size=8, layout="taichi")
    assert taichi[0]["video"].shape == (6, 3, 8, 8)


def test_video_folder_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="layout='kinetics' is not one of"):
        VideoFolder(tmp_path, layout="kinetics")
    with pytest.raises(ValueError, match="no usable clips under"):
        VideoFolder(tmp_path)
    with pytest.raises(ValueError, match="frame_interval=0 must be a positive integer"):
        VideoFolder(tmp_path, frame_interval=0)
    with pytest.raises(ValueError, match="seed=-2 must be a non-negative integer"):
        VideoFolder(tmp_path, seed=-2)
    with pytest.raises(ValueError, match="root='.*missing' is not a folder"):
        VideoFolder(tmp_path / "missing")
    write_video(tmp_path / "a.mp4", 12)
    with pytest.raises(ValueError, match="no usable clips under .* layout='sky' expects folders of frame images"):
        VideoFolder(tmp_path, layout="sky")


# --------------------------------------------------------------------------- joint image-video batches

def test_joint_batches_take_images_from_other_clips():
    base = synthetic_dataset("shapes", num_frames=6, image_size=16, length=20)
    joint = JointImageVideo(base, num_images=3, seed=1)
    item = joint[5]
    assert item["video"].shape == (9, 3, 16, 16) and item["image_labels"].shape == (3,)
    assert item["image_labels"].dtype == torch.long and item["num_images"] == 3
    assert torch.equal(item["video"][:6], base[5]["video"]) and item["label"] == base[5]["label"]
    for frame, label in zip(item["video"][6:], item["image_labels"]):
        sources = [i for i in range(20) if any(torch.equal(frame, f) for f in base[i]["video"])]
        assert sources and 5 not in sources and base[sources[0]]["label"] == label
    assert torch.equal(joint[5]["video"], item["video"])                     # deterministic
    batch = torch.utils.data.default_collate([joint[i] for i in range(4)])
    assert batch["video"].shape == (4, 9, 3, 16, 16) and batch["image_labels"].shape == (4, 3)
    with pytest.raises(ValueError, match="num_images=0 must be a positive integer"):
        JointImageVideo(base, num_images=0)
    with pytest.raises(ValueError, match="dataset has 1 clip"):
        JointImageVideo(synthetic_dataset("shapes", length=1), num_images=2)


def test_joint_batches_over_video_files(tmp_path):
    for k, cls in enumerate(("A", "B", "C")):                        # each class a distinct brightness
        (tmp_path / cls).mkdir()
        write_video(tmp_path / cls / "v.mp4", 10, base=40 + 80 * k, step=0)
    ds = VideoFolder(tmp_path, num_frames=4, frame_interval=2, image_size=16, layout="ucf101", train=False)
    joint = JointImageVideo(ds, num_images=2, seed=3)
    for i in range(3):
        item = joint[i]
        assert item["video"].shape == (6, 3, 16, 16) and item["label"] == i
        assert i not in item["image_labels"].tolist() and len(set(item["image_labels"].tolist())) == 2
        for frame, label in zip(item["video"][4:], item["image_labels"]):
            assert abs(right_brightness(frame[None]).item() - (40 + 80 * label.item())) < 4


def test_gif_command(tmp_path):
    from minilatte.data.__main__ import main
    written = main(["--out", str(tmp_path), "--frames", "4", "--size", "16", "--clips", "2"])
    assert {p.name for p in written} >= {"shapes.gif", "moving-digits.gif", "clouds.gif", "mp4_round_trip.gif",
                                          "joint_item.gif"}
    assert all(p.stat().st_size > 0 for p in written)


def test_synthetic_frame_interval_keeps_every_kth_frame_of_a_longer_clip():
    long = synthetic_dataset("shapes", num_frames=8, image_size=16, seed=3, length=4)
    strided = synthetic_dataset("shapes", num_frames=4, image_size=16, seed=3, length=4, frame_interval=2)
    assert torch.equal(strided[1]["video"], long[1]["video"][::2])
    assert strided[1]["label"] == long[1]["label"] and "frame_interval=2" in repr(strided)
    assert repr(synthetic_dataset("shapes", num_frames=4, image_size=16)).endswith("seed=0)")   # cache keys unchanged
