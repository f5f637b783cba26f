"""Latent space: a real diffusers AutoencoderKL (tiny, random, saved locally) frame by frame."""
import pytest
import torch
from diffusers import AutoencoderKL

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
    assert torch.allclose(latents, one_by_one, atol=1e-5)
    frame = codec.encode(video[:1, 2:3], sample=False)           # frames are encoded independently
    assert torch.allclose(frame, latents[:1, 2:3], atol=1e-5)
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
