"""`reproduce`: the paper's FVD protocol end to end on tiny official-layout checkpoints and tiny datasets
in each dataset's folder layout; resume after an interruption; 2 gloo processes equal 1; bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import randomize_, torchrun_error
from minilatte.assets import data_sample
from minilatte.cli import main
from minilatte.convert import export_official_latte
from minilatte.data import write_video
from minilatte.fvd_protocol import PROTOCOLS, real_frame_indices
from minilatte.models import create_latte
from minilatte.reproduce import reproduce

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
FAST = dict(num_videos=3, batch_size=1, sampling_steps=4, log=lambda *_: None)   # 3 shards of 1 video
VAE = data_sample("tiny-vae")                     # 4× downsampling: 8×8 latents → 32×32 frames


def official_checkpoint(path, num_classes=0):
    """A random Latte-S/4 (the official width, so heads are known) of 2 blocks, 16 frames of 8×8 latents."""
    torch.manual_seed(num_classes)
    model = randomize_(create_latte("Latte-S/4", num_frames=16, input_size=8, num_classes=num_classes, depth=2))
    torch.save({"ema": export_official_latte(model)}, path)
    return path


def moving_frames(num, seed, size=(40, 48)):
    """uint8 frames (num, H, W, 3): a bright square drifting over a coloured background."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((num, *size, 3), np.uint8) + rng.integers(0, 200, 3, dtype=np.uint8)
    for i in range(num):
        x = (i + seed * 7) % (size[1] - 8)
        frames[i, 10:18, x:x + 8] = 255
    return frames


def frame_folder(folder, num, seed):
    folder.mkdir(parents=True)
    for i, frame in enumerate(moving_frames(num, seed)):
        Image.fromarray(frame).save(folder / f"{i:04d}.png")


def video_file(path, num, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    video = torch.from_numpy(moving_frames(num, seed)).permute(0, 3, 1, 2).float() / 127.5 - 1
    write_video(path, video)


def make_dataset(root, dataset):
    """Three usable videos in the dataset's official layout (and, for ffs, one too short)."""
    if dataset == "ffs":                      # preprocess_ffs/train/videos/*.mp4
        for i in range(3):
            video_file(root / f"clip{i}.mp4", 50, i)
        video_file(root / "short.mp4", 20, 9)
    elif dataset == "sky":                    # sky_train/<video>/<video>_<n>/*.png (frame folders, nested)
        for i in range(3):
            frame_folder(root / f"vid{i % 2}" / f"vid{i % 2}_{i}", 48, i)
    elif dataset == "ucf101":                 # UCF-101/<class>/v_<class>_gXX_cXX.avi
        for i, cls in enumerate(["ApplyEyeMakeup", "Archery", "ApplyEyeMakeup"]):
            video_file(root / cls / f"v_{cls}_g0{i}_c01.avi", 50, i)
    else:                                     # taichi: frame folders, 16 × 6 = 96 frames needed
        for i in range(3):
            frame_folder(root / f"video{i}", 100, i)
    return root


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return {0: official_checkpoint(folder / "uncond.pt"), 101: official_checkpoint(folder / "ucf101.pt", 101)}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as each gloo process below gets (OMP_NUM_THREADS=1): with another thread count the
    float sums run in another order, and the 1-process and 2-process videos could differ in a last bit."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ffs_run(tmp_path_factory, ckpt):
    tmp = tmp_path_factory.mktemp("ffs")
    data = make_dataset(tmp / "videos", "ffs")
    result = reproduce("ffs", ckpt[0], VAE, data, out=tmp / "one", **FAST)
    return tmp, data, result


def test_real_clips_are_16_frames_every_factor_from_a_random_start():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        idx = real_frame_indices(100, 16, 6, rng)
        assert np.all(np.diff(idx) == 6) and idx[0] >= 0 and idx[-1] <= 99
        starts.add(int(idx[0]))
    assert starts == set(range(0, 100 - 96 + 6))          # every start the official tool can draw
    with pytest.raises(ValueError, match="shorter"):
        real_frame_indices(95, 16, 6, rng)


def test_every_protocol_value_names_its_source():
    for protocol in PROTOCOLS.values():
        assert protocol.num_frames == 16 and protocol.resolution == 256 and protocol.sampling_steps == 250
        for field in ("paper_fvd", "sampler", "sampling_steps", "cfg_scale", "real_split", "real_subsample_factor"):
            assert protocol.source_of(field) != "guess", (protocol.dataset, field)
    assert {p: PROTOCOLS[p].paper_fvd for p in PROTOCOLS} == {"ffs": 34.00, "sky": 59.82, "ucf101": 477.97,
                                                              "taichi": 159.60}
    assert PROTOCOLS["taichi"].real_subsample_factor == 6 and PROTOCOLS["ucf101"].cfg_scale == 7.0


def test_ffs_end_to_end_writes_json_and_markdown(ffs_run):
    tmp, _, result = ffs_run
    saved = json.loads((tmp / "one" / "fvd.json").read_text())
    assert saved["fvd"] == result["fvd"] > 0 and saved["paper_fvd"] == 34.00
    assert (saved["num_videos"], saved["num_real_videos"], saved["real_videos_too_short"]) == (3, 3, 1)
    assert "sampling_steps 4 (protocol 250)" in saved["departures_from_protocol"]
    assert "resolution 32 (protocol 256)" in saved["departures_from_protocol"]
    md = (tmp / "one" / "fvd.md").read_text()
    assert "| FaceForensics |" in md and "34.00" in md and f"{result['fvd']:.2f}" in md
    shard = np.load(tmp / "one" / "fake" / "shard_00002.npz")
    assert shard["videos"].shape == (1, 16, 32, 32, 3) and shard["videos"].dtype == np.uint8
    assert shard["features"].shape == (1, 400)


@pytest.fixture(scope="module")
def other_runs(tmp_path_factory, ckpt):
    """One-process runs for the three other datasets, each in its own layout: {dataset: (tmp, data, result)}."""
    runs = {}
    for dataset in ("sky", "ucf101", "taichi"):
        tmp = tmp_path_factory.mktemp(dataset)
        data = make_dataset(tmp / "data", dataset)
        result = reproduce(dataset, ckpt[PROTOCOLS[dataset].num_classes], VAE, data, out=tmp / "one",
                           **{**FAST, "num_videos": 2})
        runs[dataset] = tmp, data, result
    return runs


@pytest.mark.parametrize("dataset", ["sky", "ucf101", "taichi"])
def test_other_datasets_end_to_end_in_their_layouts(other_runs, dataset):
    tmp, _, result = other_runs[dataset]
    assert np.isfinite(result["fvd"]) and result["num_real_videos"] == 3
    assert result["paper_fvd"] == PROTOCOLS[dataset].paper_fvd
    if dataset == "ucf101":     # class-conditional: labels drawn per shard, CFG 7 as the official config
        labels = [int(np.load(tmp / "one" / "fake" / f"shard_{k:05d}.npz")["labels"][0]) for k in range(2)]
        assert all(0 <= y < 101 for y in labels) and result["settings"]["cfg_scale"] == 7.0


def test_an_interrupted_run_resumes_to_the_same_fvd(ffs_run, ckpt):
    tmp, data, uninterrupted = ffs_run
    out = tmp / "resumed"
    assert reproduce("ffs", ckpt[0], VAE, data, out=out, max_new_shards=1, **FAST) is None
    first = out / "fake" / "shard_00000.npz"
    assert sorted(p.name for p in (out / "fake").iterdir()) == ["shard_00000.npz"] and not (out / "fvd.json").exists()
    stamp = first.stat().st_mtime_ns
    (out / "fake" / "shard_00001.npz").write_bytes(b"half a file")          # what a crash could leave
    result = reproduce("ffs", ckpt[0], VAE, data, out=out, **FAST)
    assert first.stat().st_mtime_ns == stamp                                  # kept, not sampled again
    assert result["fvd"] == uninterrupted["fvd"]
    assert result["runtime_s"]["generated_shards_made_now"] == 2


@pytest.mark.parametrize("dataset", list(PROTOCOLS))
def test_two_gloo_processes_give_the_same_videos_and_fvd_as_one(ffs_run, other_runs, ckpt, dataset):
    tmp, data, one = ffs_run if dataset == "ffs" else other_runs[dataset]
    num_videos = one["num_videos"]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(29531 + list(PROTOCOLS).index(dataset)), "-m", "minilatte", "reproduce",
                           "--dataset", dataset, "--checkpoint", str(ckpt[PROTOCOLS[dataset].num_classes]),
                           "--vae", str(VAE), "--data", str(data), "--out", str(tmp / "two"),
                           "--num-videos", str(num_videos), "--batch-size", "1", "--sampling-steps", "4"],
                          env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, torchrun_error(proc.stderr)
    assert proc.stdout.count(f"{PROTOCOLS[dataset].title}: FVD") == 1         # only rank 0 reports
    two = json.loads((tmp / "two" / "fvd.json").read_text())
    assert two["runtime_s"]["processes"] == 2
    for k in range(num_videos):
        a, b = (np.load(tmp / run / "fake" / f"shard_{k:05d}.npz")["videos"] for run in ("one", "two"))
        assert np.array_equal(a, b)
    # the videos are bit-equal; the Fréchet distance itself (float64 matrix square root through numpy's BLAS,
    # whose thread count differs between the processes) agrees to far below the 2 decimals reported
    assert two["fvd"] == pytest.approx(one["fvd"], rel=1e-6)


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, ckpt, ffs_run, capsys):
    _, data, _ = ffs_run
    flags = {"--dataset": "ffs", "--checkpoint": str(ckpt[0]), "--vae": str(VAE), "--data": str(data),
             "--out": str(tmp_path / "out"), "--sampling-steps": "2"}

    def error(flag, value):
        args = ["reproduce"] + [x for k, v in {**flags, flag: value}.items() for x in (k, v)]
        try:
            code = main(args)
        except SystemExit as stop:          # argparse's own checks
            code = stop.code
        err = capsys.readouterr().err.strip().splitlines()[-1]     # argparse prints its usage first
        assert code == 2 and "error:" in err
        return err

    assert "is not a file" in error("--checkpoint", str(tmp_path / "missing.pt"))
    assert "has no config.json" in error("--vae", str(tmp_path))
    assert "is not a folder" in error("--data", str(tmp_path / "nothing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "does not hold FaceForensics" in error("--data", str(empty))
    assert "needs a class-conditional checkpoint with 101 classes" in error("--dataset", "ucf101")
    assert "must be >= 2" in error("--num-videos", "1")
    short = tmp_path / "short"
    video_file(short / "a.mp4", 50, 0)
    video_file(short / "b.mp4", 20, 1)
    assert "1 usable FaceForensics videos" in error("--data", str(short))


def test_a_rerun_with_other_settings_is_refused(ffs_run, ckpt):
    tmp, data, _ = ffs_run
    with pytest.raises(ValueError, match="holds shards made with other settings .*batch_size: 1 -> 2"):
        reproduce("ffs", ckpt[0], VAE, data, out=tmp / "one", **{**FAST, "batch_size": 2})


def test_changed_real_clips_or_a_damaged_shard_are_made_again_never_reused(ffs_run, ckpt, tmp_path):
    import shutil

    _, source, _ = ffs_run
    data = tmp_path / "videos"
    shutil.copytree(source, data)
    out = tmp_path / "out"
    reproduce("ffs", ckpt[0], VAE, data, out=out, **FAST)

    def fresh(name):
        return reproduce("ffs", ckpt[0], VAE, data, out=tmp_path / name, **FAST)["fvd"]

    video_file(data / "clip1.mp4", 50, 5)                          # the same count, another clip
    rerun = reproduce("ffs", ckpt[0], VAE, data, out=out, **FAST)
    assert rerun["runtime_s"]["generated_shards_made_now"] == 0    # the generated videos still fit
    assert rerun["fvd"] == fresh("fresh-1")
    shard = out / "real" / "shard_00000.npz"
    shard.write_bytes(shard.read_bytes()[:300])                    # a damaged shard is made again
    assert reproduce("ffs", ckpt[0], VAE, data, out=out, **FAST)["fvd"] == rerun["fvd"]
    video_file(data / "clip3.mp4", 50, 6)                          # one clip more
    grown = reproduce("ffs", ckpt[0], VAE, data, out=out, **FAST)
    assert grown["num_real_videos"] == 4 and grown["fvd"] == fresh("fresh-2")


def test_an_evil_or_truncated_checkpoint_is_one_line(tmp_path, ckpt, ffs_run, capsys):
    import pickle

    _, data, _ = ffs_run

    class Exploit:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    evil, truncated = tmp_path / "evil.pt", tmp_path / "truncated.pt"
    with open(evil, "wb") as f:
        pickle.dump({"ema": Exploit()}, f, protocol=2)
    truncated.write_bytes(ckpt[0].read_bytes()[:5000])
    for path, message in ((evil, "holds pickled Python objects beyond tensors; minilatte never executes them"),
                          (truncated, "truncated.pt is not a Latte checkpoint")):
        code = main(["reproduce", "--dataset", "ffs", "--checkpoint", str(path), "--vae", str(VAE), "--data",
                     str(data), "--out", str(tmp_path / "out"), "--num-videos", "2"])
        captured = capsys.readouterr()
        assert code == 2 and message in captured.err and captured.err.strip().count("\n") == 0
        assert "pickled code ran" not in captured.out
