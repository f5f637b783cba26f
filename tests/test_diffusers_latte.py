"""Latte-T2V interop with diffusers' LatteTransformer3DModel: numerical parity, exact round trip, local folders."""
import json

import pytest
import torch

from conftest import assert_same_up_to_rounding, randomize_
from minilatte.convert import diffusers_config, from_diffusers, to_diffusers
from minilatte.models import Latte, LatteConfig

diffusers = pytest.importorskip("diffusers")

B, F, S, C, L, C_TEXT = 2, 3, 8, 4, 5, 12
# Latte-1's settings (maxin-cn/Latte-1, transformer/config.json) at a tiny size.
LATTE1 = dict(num_attention_heads=2, attention_head_dim=8, in_channels=C, out_channels=2 * C, num_layers=2,
              cross_attention_dim=16, sample_size=S, patch_size=2, activation_fn="gelu-approximate",
              num_embeds_ada_norm=1000, norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
              caption_channels=C_TEXT, video_length=F, attention_bias=True)


def tiny_diffusers(**kw):
    return randomize_(diffusers.LatteTransformer3DModel(**{**LATTE1, **kw}), 0.2).eval()


def as_pipeline_calls(model, x, t, text, temporal=True):
    """diffusers' forward as LattePipeline calls it: x (B, C, F, H, W), no mask."""
    return model(x, t, encoder_hidden_states=text, enable_temporal_attentions=temporal, return_dict=False)[0]


def as_minilatte(model, x, t, text, temporal=True, **kw):
    """minilatte on the same x: frames before channels; temporal attention off = every frame an image."""
    frames = x.shape[2]
    return model(x.transpose(1, 2), t, text=text, num_images=0 if temporal else frames, **kw).transpose(1, 2)


@pytest.mark.parametrize("temporal", [True, False])
@pytest.mark.parametrize("size", [dict(), dict(num_attention_heads=4, attention_head_dim=24, cross_attention_dim=96)])
def test_parity_with_diffusers(temporal, size):
    ref = tiny_diffusers(**size)
    model = from_diffusers(ref).eval()
    x, t, text = torch.randn(B, C, F, S, S), torch.tensor([10, 900]), torch.randn(B, L, C_TEXT)
    with torch.no_grad():
        expected = as_pipeline_calls(ref, x, t, text, temporal)
        ratio = assert_same_up_to_rounding(as_minilatte(model, x, t, text, temporal), expected)
    print(f"max |minilatte - diffusers| = {ratio:.2e} of the output scale {expected.abs().max():.2f}")
    assert expected.abs().max() > 0.5


def test_one_frame_text_to_image_as_the_pipeline_runs_it():
    ref = tiny_diffusers()
    model = from_diffusers(ref).eval()
    x, t, text = torch.randn(B, C, 1, S, S), torch.tensor([10, 900]), torch.randn(B, L, C_TEXT)
    with torch.no_grad():   # LattePipeline: video_length=1 switches temporal attention off
        assert_same_up_to_rounding(as_minilatte(model, x, t, text, False), as_pipeline_calls(ref, x, t, text, False))


def test_a_masked_caption_equals_the_pipelines_cut_caption():
    """LattePipeline (one prompt) cuts the caption to its real tokens; minilatte masks them, in a video batch."""
    ref = tiny_diffusers()
    model = from_diffusers(ref).eval()
    x, t, text = torch.randn(B, C, F, S, S), torch.tensor([10, 900]), torch.randn(B, L, C_TEXT)
    keep = [2, 4]
    mask = torch.arange(L)[None] < torch.tensor(keep)[:, None]
    with torch.no_grad():
        ours = as_minilatte(model, x, t, text, text_mask=mask)
        for i, k in enumerate(keep):
            cut = as_pipeline_calls(ref, x[i:i + 1], t[i:i + 1], text[i:i + 1, :k])
            assert_same_up_to_rounding(ours[i:i + 1], cut)


def test_round_trip_is_exact():
    ref = tiny_diffusers()
    back = to_diffusers(from_diffusers(ref))
    assert dict(back.config) == dict(ref.config)
    assert back.state_dict().keys() == ref.state_dict().keys()
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in back.state_dict().items())
    model = randomize_(Latte(diffusers_config(dict(ref.config))), 0.2)
    again = from_diffusers(to_diffusers(model))
    assert again.config == model.config
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in again.state_dict().items())


def latte1_layout(tmp_path, ref, **save):
    """A pipeline folder as the released maxin-cn/Latte-1: transformer/config.json + the safetensors weights."""
    ref.save_pretrained(tmp_path / "Latte-1" / "transformer", **save)
    return tmp_path / "Latte-1"


def test_loads_the_latte1_folder_layout(tmp_path):
    ref = tiny_diffusers()
    folder = latte1_layout(tmp_path, ref)
    assert sorted(p.name for p in (folder / "transformer").iterdir()) == [
        "config.json", "diffusion_pytorch_model.safetensors"]
    assert json.loads((folder / "transformer" / "config.json").read_text())["_class_name"] == "LatteTransformer3DModel"
    x, t, text = torch.randn(1, C, F, S, S), torch.tensor([500]), torch.randn(1, L, C_TEXT)
    expected = as_pipeline_calls(ref, x, t, text).detach()
    for source in (folder, folder / "transformer", str(folder)):
        model = from_diffusers(source).eval()
        with torch.no_grad():
            assert_same_up_to_rounding(as_minilatte(model, x, t, text), expected)
    sharded = latte1_layout(tmp_path / "sharded", ref, max_shard_size="20KB")
    assert len(list((sharded / "transformer").glob("*.safetensors"))) > 1
    model = from_diffusers(sharded)
    assert all(torch.equal(v, from_diffusers(folder).state_dict()[k]) for k, v in model.state_dict().items())
    half = latte1_layout(tmp_path / "fp16", ref.half(), variant="fp16")
    with pytest.raises(FileNotFoundError, match="safetensors files there: diffusion_pytorch_model.fp16.safetensors"):
        from_diffusers(half)
    model = from_diffusers(half, variant="fp16")
    assert next(model.parameters()).dtype == torch.float32
    assert torch.equal(model.blocks[0].attn.proj.weight, ref.transformer_blocks[0].attn1.to_out[0].weight.float())


def test_pickled_weights_and_empty_folders_are_refused(tmp_path):
    folder = latte1_layout(tmp_path, tiny_diffusers(), safe_serialization=False)
    with pytest.raises(ValueError, match="only pickled weights \\(diffusion_pytorch_model.bin\\); only safetensors"):
        from_diffusers(folder)
    with pytest.raises(FileNotFoundError, match="neither transformer/config.json nor config.json"):
        from_diffusers(tmp_path / "nothing")
    with pytest.raises(TypeError, match="from_diffusers takes a LatteTransformer3DModel or a folder"):
        from_diffusers(42)


@pytest.mark.parametrize("change, message", [
    (dict(norm_type="ada_norm_zero"), "norm_type='ada_norm_zero' is not supported"),
    (dict(norm_elementwise_affine=True), "norm_elementwise_affine=True is not supported"),
    (dict(activation_fn="geglu"), "activation_fn='geglu' is not supported"),
    (dict(cross_attention_dim=32), "cross_attention_dim=32 must equal the width"),
    (dict(sample_size=128), "sample_size=128: diffusers interpolates"),
    (dict(out_channels=3), "out_channels=3 must be in_channels=4 or twice it"),
    (dict(_class_name="Transformer2DModel"), "not a LatteTransformer3DModel config"),
])
def test_unsupported_diffusers_settings_are_refused(change, message):
    config = {**LATTE1, "_class_name": "LatteTransformer3DModel", **change}
    with pytest.raises(ValueError, match=message):
        diffusers_config(config)


def test_wrong_weights_and_non_diffusers_models_are_refused():
    ref = tiny_diffusers()
    state = {k: v for k, v in ref.state_dict().items() if "attn2.to_k" not in k}

    class Half:
        config = {**ref.config, "_class_name": "LatteTransformer3DModel"}

        def state_dict(self):
            return state
    with pytest.raises(ValueError, match="missing keys \\['transformer_blocks.0.attn2.to_k.bias'"):
        from_diffusers(Half())
    base = dict(input_size=S, num_frames=F, in_channels=C, patch_size=2, hidden_size=16, depth=2, num_heads=2)
    for cfg in (LatteConfig(**base), LatteConfig(**base, conditioning="text", text_dim=C_TEXT, variant=2)):
        with pytest.raises(ValueError, match="only conditioning='text', variant=1"):
            to_diffusers(Latte(cfg))
