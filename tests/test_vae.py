"""Latent space: a real diffusers AutoencoderKL (tiny, random, saved locally) frame by frame."""
import pytest
import torch
from diffusers import AutoencoderKL

from conftest import assert_same_up_to_rounding
from minilatte.config import load_config
from minilatte.train import train
from minilatte.vae import LatentCodec


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=4, latent_channels=4,
                        layers_per_block=1)
    path = tmp_path_factory.mktemp("tiny-vae")
    vae.save_pretrained(path / "vae")          # the Stable Diffusion pipeline layout: <root>/vae/
    return path


def test_encode_decode_shapes_and_chunking(vae_dir):
    codec = LatentCodec.from_pretrained(vae_dir, chunk_size=3)
    assert codec.scale == 0.18215 and codec.downsample == 8
    video = torch.rand(2, 5, 3, 32, 32) * 2 - 1
    latents = codec.encode(video, sample=False)
    assert latents.shape == (2, 5, 4, 4, 4)
    one_by_one = LatentCodec(codec.vae, chunk_size=1).encode(video, sample=False)
    assert_same_up_to_rounding(latents, one_by_one)
    frame = codec.encode(video[:1, 2:3], sample=False)           # frames are encoded independently
    assert_same_up_to_rounding(frame, latents[:1, 2:3])
    assert codec.decode(latents).shape == (2, 5, 3, 32, 32)
    assert codec.decode(latents).abs().max() <= 1


def test_missing_vae_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no VAE at .*give a local folder with config.json"):
        LatentCodec.from_pretrained(tmp_path / "nothing")


def test_latent_space_training_runs_end_to_end(vae_dir, tmp_path):
    cfg = load_config("ci", [f"data.vae={vae_dir}", "data.image_size=64", "model.in_channels=4", "train.steps=4",
                             "train.ckpt_every=4", "train.log_every=2"])
    result = train(cfg, tmp_path, progress=False)
    assert result.step == 4 and result.samples.is_file()
    from PIL import Image
    assert Image.open(result.samples).size[0] > 64 * 2   # decoded to pixels, not 8x8 latents


def test_downsampling_is_read_from_the_vae_config(tmp_path):
    from minilatte.config import ConfigError
    from minilatte.tiny_vae import tiny_vae_config
    from minilatte.vae import vae_downsample

    AutoencoderKL(**tiny_vae_config()).save_pretrained(tmp_path / "tiny")
    assert vae_downsample(tmp_path / "tiny") == 4
    cfg = load_config("ci", [f"data.vae={tmp_path / 'tiny'}", "data.image_size=32", "model.in_channels=4"])
    assert cfg.data.image_size == 4 * cfg.latte_config().input_size
    with pytest.raises(ConfigError, match="must be 4 x model input_size=8 with this VAE"):
        load_config("ci", [f"data.vae={tmp_path / 'tiny'}", "data.image_size=64", "model.in_channels=4"])
    with pytest.raises(ConfigError, match="data.latent_cache needs data.vae"):
        load_config("ci", [f"data.latent_cache={tmp_path / 'cache'}"])


def test_latent_cache_stores_the_posterior_and_samples_per_epoch(vae_dir, tmp_path):
    from minilatte.data import synthetic_dataset
    from minilatte.latent_cache import LatentClips, build_latent_cache

    codec = LatentCodec.from_pretrained(vae_dir)
    ds = synthetic_dataset("shapes", num_frames=3, image_size=32, seed=0, length=5)
    folder = build_latent_cache(ds, codec, vae_dir, tmp_path / "cache", batch_size=2, progress=False)
    clips = LatentClips(folder, seed=0)
    mean, std = codec.encode_moments(torch.stack([ds[i]["video"] for i in range(5)]))
    assert clips.mean.shape == (5, 3, 4, 4, 4) and (std > 0).all()
    assert_same_up_to_rounding(clips.mean, mean)                    # built in batches of 2, against all 5 at once
    assert_same_up_to_rounding(clips.std, std)
    assert [clips[i]["label"] for i in range(5)] == [ds[i]["label"] for i in range(5)]
    # A latent sample is mean + std * eps with eps fixed by (seed, index, epoch).
    first = clips[1]["video"]
    assert torch.equal(first, clips[1]["video"])
    clips.set_epoch(1)
    assert not torch.equal(first, clips[1]["video"])
    assert ((clips[1]["video"] - clips.mean[1]) / clips.std[1]).std() > 0.5
    # The same dataset and VAE reuse the cache; anything else is refused.
    stamp = (folder / "latents.safetensors").stat().st_mtime_ns
    build_latent_cache(ds, codec, vae_dir, folder, progress=False)
    assert (folder / "latents.safetensors").stat().st_mtime_ns == stamp
    other = synthetic_dataset("clouds", num_frames=3, image_size=32, seed=0, length=5)
    with pytest.raises(ValueError, match="holds latents of another dataset or VAE"):
        build_latent_cache(other, codec, vae_dir, folder, progress=False)
    with pytest.raises(FileNotFoundError, match="no latent cache"):
        LatentClips(tmp_path / "nothing")


def test_training_from_a_latent_cache_encodes_once(vae_dir, tmp_path):
    cache = tmp_path / "cache"
    overrides = [f"data.vae={vae_dir}", f"data.latent_cache={cache}", "data.image_size=64", "data.length=8",
                 "model.in_channels=4", "train.steps=4", "train.ckpt_every=4", "train.log_every=2"]
    result = train(load_config("ci", overrides), tmp_path / "run", progress=False)
    assert result.step == 4 and result.samples.is_file()
    stamp = (cache / "latents.safetensors").stat().st_mtime_ns
    again = train(load_config("ci", overrides + ["train.steps=6"]), tmp_path / "run", resume=True, progress=False)
    assert again.step == 6 and (cache / "latents.safetensors").stat().st_mtime_ns == stamp


def test_per_channel_latents_mean_and_std_normalise_every_channel(vae_dir):
    """diffusers' latents_mean/latents_std: latents = (z - mean) * scale / std, per channel; decode inverts it."""
    plain = LatentCodec.from_pretrained(vae_dir)
    mean, std = [0.5, -1.0, 2.0, 0.0], [2.0, 0.5, 1.0, 4.0]
    vae = AutoencoderKL.from_config({**plain.vae.config, "latents_mean": mean, "latents_std": std,
                                     "scaling_factor": 1.0})
    vae.load_state_dict(plain.vae.state_dict())
    normed = LatentCodec(vae)
    video = torch.rand(1, 3, 3, 32, 32) * 2 - 1
    z = plain.encode(video, sample=False) / plain.scale                       # raw posterior mode
    m, s = torch.tensor(mean).view(4, 1, 1), torch.tensor(std).view(4, 1, 1)
    torch.testing.assert_close(normed.encode(video, sample=False), (z - m) / s)
    moments = normed.encode_moments(video)
    raw = plain.encode_moments(video)
    torch.testing.assert_close(moments[0], (raw[0] / plain.scale - m) / s)
    torch.testing.assert_close(moments[1], raw[1] / plain.scale / s)
    torch.testing.assert_close(normed.decode((z - m) / s), plain.decode(z * plain.scale), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="latents_mean and latents_std"):
        LatentCodec(AutoencoderKL.from_config({**plain.vae.config, "latents_mean": mean}))
