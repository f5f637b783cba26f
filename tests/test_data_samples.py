"""The files shipped in data_samples/: small, loadable, and each remade by its documented command."""
from pathlib import Path

import pytest
import torch

from minilatte.assets import DATA_SAMPLES, data_sample, resolve
from minilatte.data import VideoFolder, synthetic_dataset
from minilatte.data_samples import main as data_samples_main


def test_shipped_files_stay_small_and_are_all_documented():
    files = [p for p in DATA_SAMPLES.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 20 * 2**20
    readme = (DATA_SAMPLES / "README.md").read_text()
    for top in {p.relative_to(DATA_SAMPLES).parts[0] for p in files} - {"README.md"}:
        assert f"`{top}" in readme, f"data_samples/{top} is not described in data_samples/README.md"


def test_clips_command_remakes_the_shipped_clips(tmp_path):
    data_samples_main(["clips", "--out", str(tmp_path)])
    made = sorted(p.relative_to(tmp_path) for p in (tmp_path / "clips").rglob("*.mp4"))
    assert made == sorted(p.relative_to(DATA_SAMPLES) for p in (DATA_SAMPLES / "clips").rglob("*.mp4"))
    # They form a class-folder dataset; decoded frames match the synthetic clips up to video compression.
    ds = VideoFolder(tmp_path / "clips", num_frames=16, image_size=32, layout="ucf101", train=False)
    assert len(ds) == 9 and ds.skipped == [] and sorted(ds.class_names) == ["clouds", "moving-digits", "shapes"]
    item = ds[0]
    original = synthetic_dataset(ds.class_names[item["label"]], num_frames=16, image_size=32, seed=0, length=3)
    errors = [(item["video"] - original[i]["video"]).abs().mean().item() for i in range(3)]
    assert min(errors) < 0.1


def test_shipped_latte_draws_the_shapes_it_is_asked_for():
    from minilatte.evaluate import generate_clips, probe_accuracy
    from minilatte.sample import load_for_sampling

    model, cfg = load_for_sampling(data_sample("latte-shapes"))
    assert cfg.name == "cpu" and model.config.num_classes == 3 and cfg.data.vae == "data_samples/tiny-vae"
    videos, labels = generate_clips(model, cfg, 24, seed=0, sampler="ddim", steps=25, progress=False)
    assert videos.shape == (24, 8, 3, 32, 32) and torch.isfinite(videos).all()     # decoded by the tiny VAE
    # The shipped model scores 0.9+ with the probe; a broken or untrained one scores about 0.
    assert probe_accuracy(videos, labels, "shapes") >= 0.75


def test_shipped_tiny_vae_reconstructs_held_out_clips():
    from minilatte.tiny_vae import held_out_psnr

    psnr = held_out_psnr(data_sample("tiny-vae"), num_clips=4)
    assert set(psnr) == {"shapes", "moving-digits", "clouds"}
    assert min(psnr.values()) > 20, psnr


def test_paths_under_data_samples_are_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("data_samples/clips") == DATA_SAMPLES / "clips"
    assert resolve("elsewhere") == Path("elsewhere")
    with pytest.raises(FileNotFoundError, match="python -m minilatte.data_samples"):
        data_sample("nothing-here")
