"""Model components and the four variants: shapes, zero init, which tokens see which, RoPE, errors."""
import itertools

import pytest
import torch

from conftest import assert_same_up_to_rounding, randomize_
from minilatte.models import (Attention, LatteConfig, PatchEmbed, RotaryEmbedding, TransformerBlock,
                              TubeletEmbed, count_parameters, create_latte, patchify, sincos_1d, sincos_2d,
                              unpatchify)

B, F, C, S = 2, 4, 3, 8   # small shapes: batch, frames, channels, latent size

ALL_CHOICES = list(itertools.product((1, 2, 3, 4), ("uniform", "compression"), ("s-adaln", "tokens"),
                                     ("absolute", "rope")))


def tiny(**kw):
    kw = {"num_frames": F, "input_size": S, "in_channels": C, "num_classes": 5, **kw}
    if kw.get("patch_embedding") == "compression":
        kw.setdefault("tubelet_stride", 2)
    return create_latte("Latte-Nano/2", **kw).eval()   # eval: no random label dropout


@pytest.mark.parametrize("variant,patch_embedding,conditioning,temporal_pe", ALL_CHOICES)
def test_forward_shape_every_choice(variant, patch_embedding, conditioning, temporal_pe):
    model = randomize_(tiny(variant=variant, patch_embedding=patch_embedding, conditioning=conditioning,
                            temporal_pe=temporal_pe))
    x, t, y = torch.randn(B, F, C, S, S), torch.tensor([3, 900]), torch.tensor([0, 4])
    out = model(x, t, y)
    assert out.shape == (B, F, 2 * C, S, S)
    assert torch.isfinite(out).all() and out.abs().sum() > 0
    if patch_embedding == "uniform":   # joint image-video forward: 2 images appended
        out = model(torch.randn(B, F + 2, C, S, S), t, y, num_images=2, y_images=torch.tensor([[1, 2], [3, 4]]))
        assert out.shape == (B, F + 2, 2 * C, S, S)


@pytest.mark.parametrize("variant", (1, 2, 3, 4))
def test_fresh_s_adaln_model_outputs_exactly_zero(variant):
    model = tiny(variant=variant)
    out = model(torch.randn(B, F, C, S, S), torch.tensor([1, 999]), torch.tensor([0, 1]))
    assert torch.equal(out, torch.zeros_like(out))


def test_learn_sigma_false_and_unconditional():
    model = randomize_(tiny(learn_sigma=False, num_classes=0))
    assert model(torch.randn(B, F, C, S, S), torch.tensor([1, 2])).shape == (B, F, C, S, S)
    assert not hasattr(model, "y_embedder")
    with pytest.raises(ValueError, match="y \\(class labels\\) is required"):
        tiny()(torch.randn(B, F, C, S, S), torch.tensor([1, 2]))


def _block(axis):
    return randomize_(TransformerBlock(16, 4, axis), std=0.5)


def test_spatial_block_never_mixes_frames():
    block, x, c = _block("spatial"), torch.randn(B, F, 6, 16), torch.randn(B, 1, 16)
    x2 = x.clone()
    x2[:, 1] += torch.randn_like(x2[:, 1])            # perturb frame 1 only
    diff = (block(x, c) - block(x2, c)).abs().amax(dim=(0, 2, 3))   # per frame
    assert diff[1] > 0 and torch.all(diff[[0, 2, 3]] == 0)


def test_temporal_block_never_mixes_positions():
    block, x, c = _block("temporal"), torch.randn(B, F, 6, 16), torch.randn(B, 1, 16)
    x2 = x.clone()
    x2[:, :, 2] += torch.randn_like(x2[:, :, 2])      # perturb patch position 2 in every frame
    diff = (block(x, c) - block(x2, c)).abs().amax(dim=(0, 1, 3))   # per position
    assert diff[2] > 0 and torch.all(diff[[0, 1, 3, 4, 5]] == 0)
    x3 = x.clone()
    x3[:, 0, 2] += 1.0                                # one token changes: its position, all frames
    diff = (block(x, c) - block(x3, c)).abs().amax(dim=(0, 3))      # (F, N)
    assert torch.all(diff[:, 2] > 0) and torch.all(diff[:, [0, 1, 3, 4, 5]] == 0)


@pytest.mark.parametrize("variant", (1, 2, 3, 4))
def test_every_variant_mixes_space_and_time(variant):
    model = randomize_(tiny(variant=variant, num_classes=0))
    x, t = torch.randn(1, F, C, S, S), torch.tensor([10])
    x2 = x.clone()
    x2[:, 0, :, :2, :2] += 1.0                         # one patch of frame 0
    diff = (model(x, t) - model(x2, t)).abs().amax(dim=2)   # (1, F, S, S)
    assert torch.all(diff.amax(dim=(-1, -2)) > 0)       # reaches every frame
    assert torch.all(diff[0, 0] > 0)                    # and every pixel of frame 0


@pytest.mark.parametrize("variant", (1, 2, 3, 4))
def test_image_frames_are_independent_of_video_and_each_other(variant):
    model = randomize_(tiny(variant=variant))
    k = 2
    x, t, y, yi = torch.randn(B, F + k, C, S, S), torch.tensor([5, 6]), torch.tensor([0, 1]), torch.tensor([[2, 3], [4, 0]])
    base = model(x, t, y, num_images=k, y_images=yi)
    x2 = x.clone()
    x2[:, :F] += torch.randn_like(x2[:, :F])           # change the whole video part
    x2[:, F] += torch.randn_like(x2[:, F])             # and the first image
    out = model(x2, t, y, num_images=k, y_images=yi)
    assert torch.equal(out[:, F + 1], base[:, F + 1])   # the second image does not notice
    assert (out[:, :F] - base[:, :F]).abs().amax() > 0


def test_absolute_temporal_pe_only_on_video_frames():
    model = randomize_(tiny(num_classes=0))
    grid = torch.zeros(1, F + 2, 3, model.config.hidden_size)
    out = model.add_temporal_pe(grid, n_video=F)
    assert torch.equal(out[0, :F, 0], model.temp_embed) and torch.equal(out[0, F:], grid[0, F:])


def test_sincos_tables_match_the_formula():
    table = sincos_1d(8, range(3))
    pos, i = 2.0, 1
    w = 10000 ** (-2 * i / 8)
    assert torch.allclose(table[2, [i, i + 4]], torch.tensor([torch.sin(torch.tensor(pos * w)), torch.cos(torch.tensor(pos * w))]))
    grid = sincos_2d(16, 2, 3)                          # row-major 2x3 grid; first half encodes the column
    assert grid.shape == (6, 16)
    assert torch.equal(grid[4, :8], sincos_1d(8, [1])[0]) and torch.equal(grid[4, 8:], sincos_1d(8, [1])[0])
    assert torch.equal(grid[2, :8], sincos_1d(8, [2])[0]) and torch.equal(grid[2, 8:], sincos_1d(8, [0])[0])


def test_rope_depends_only_on_relative_position():
    rope = RotaryEmbedding(8)
    q, k = torch.randn(8), torch.randn(8)
    def score(m, n, length=12):
        qs = rope(q.expand(length, 8))[m]
        ks = rope(k.expand(length, 8))[n]
        return torch.dot(qs, ks)
    assert torch.allclose(score(3, 1), score(7, 5), atol=1e-5)
    assert torch.allclose(score(0, 4), score(6, 10), atol=1e-5)
    assert not torch.allclose(score(3, 1), score(1, 3), atol=1e-3)
    assert torch.allclose(rope(q.expand(4, 8))[0], q)     # position 0 is not rotated
    assert torch.allclose(rope(q.expand(4, 8)).norm(dim=-1), q.norm().expand(4))   # rotations keep length


def test_rope_model_accepts_other_frame_counts():
    model = randomize_(tiny(temporal_pe="rope", num_classes=0))
    assert model(torch.randn(1, 2 * F, C, S, S), torch.tensor([3])).shape == (1, 2 * F, 2 * C, S, S)
    with pytest.raises(ValueError, match="num_frames"):
        tiny(num_classes=0)(torch.randn(1, 2 * F, C, S, S), torch.tensor([3]))


@pytest.mark.parametrize("stride", (1, 2, 4))
def test_patchify_unpatchify_round_trip(stride):
    x = torch.randn(B, 8, C, 12, 12)
    tokens = patchify(x, 3, stride)
    assert tokens.shape == (B, 8 // stride, 16, stride * 9 * C)
    assert torch.equal(unpatchify(tokens, 3, (4, 4), stride), x)


def test_embedders_are_linear_maps_of_patches():
    x = torch.randn(B, F, C, S, S)
    uniform, tubelet = PatchEmbed(2, C, 16), TubeletEmbed(2, 2, C, 16)
    assert uniform(x).shape == (B, F, 16, 16) and tubelet(x).shape == (B, F // 2, 16, 16)
    # The tubelet conv is a Linear over (s, p, q, c)-ordered tubelet pixels.
    w = tubelet.proj.weight.permute(0, 2, 3, 4, 1).reshape(16, -1)    # (D, s*p*q*C)
    expected = patchify(x, 2, 2) @ w.T + tubelet.proj.bias
    assert_same_up_to_rounding(tubelet(x), expected)
    w = uniform.proj.weight.permute(0, 2, 3, 1).reshape(16, -1)
    assert_same_up_to_rounding(uniform(x), patchify(x, 2) @ w.T + uniform.proj.bias)


def test_compression_halves_token_frames_and_round_trips_shape():
    model = randomize_(tiny(patch_embedding="compression", tubelet_stride=2, num_classes=0))
    assert model.embed(torch.randn(B, F, C, S, S), 0).shape == (B, F // 2, (S // 2) ** 2, 64)
    assert model(torch.randn(B, F, C, S, S), torch.tensor([1, 2])).shape == (B, F, 2 * C, S, S)


def test_forward_with_cfg_guides_only_eps_channels():
    model = randomize_(tiny())
    x = torch.randn(2, F, C, S, S)
    x = torch.cat([x[:1], x[:1]])
    t, y = torch.tensor([50, 50]), torch.tensor([3, 5])   # 5 = null class
    out, raw = model.forward_with_cfg(x, t, y, cfg_scale=4.0), model(x, t, y)
    assert torch.allclose(out[:, :, C:], raw[:, :, C:])
    assert_same_up_to_rounding(out[0, :, :C], raw[1, :, :C] + 4.0 * (raw[0, :, :C] - raw[1, :, :C]))
    assert torch.equal(out[0, :, :C], out[1, :, :C])   # both halves carry the guided ε


def test_label_dropout_uses_null_class_only_in_training():
    model = tiny(class_dropout_prob=0.5)
    table = model.y_embedder.embedding_table.weight
    y = torch.zeros(1000, dtype=torch.long)
    model.train()
    dropped = (model.y_embedder(y) == table[5]).all(dim=1).float().mean()
    assert 0.4 < dropped < 0.6
    model.eval()
    assert torch.equal(model.y_embedder(y), table[0].expand(1000, -1))



def _joint_dropout(**kw):
    model = tiny(class_dropout_prob=0.5, **kw).train()
    null = model.y_embedder.embedding_table.weight[5]
    y, y_images = torch.zeros(2000, dtype=torch.long), torch.ones(2000, 3, dtype=torch.long)
    _, labels = model.condition(torch.zeros(2000), y, n_video=F, num_images=3, y_images=y_images)
    is_null = (labels == null).all(dim=-1)                       # (B, F + 3)
    clip, images = is_null[:, :F], is_null[:, F:]
    assert (clip == clip[:, :1]).all()                           # a clip's frames agree about its label
    assert 0.45 < clip[:, 0].float().mean() < 0.55               # and the clip is dropped half the time
    assert 0.45 < images.float().mean() < 0.55
    assert not (images == clip[:, :1]).all()                     # images drop apart from the clip
    return images


def test_joint_label_dropout_is_decided_once_per_clip_and_once_per_sample_images():
    images = _joint_dropout()                                    # the default, as in the official latte_img.py
    assert (images == images[:, :1]).all()                       # a sample's images drop together


def test_joint_label_dropout_per_image_option():
    images = _joint_dropout(image_label_dropout="per_image")
    assert not (images == images[:, :1]).all()                   # each image decides on its own
    with pytest.raises(ValueError, match="image_label_dropout='each' is not one of 'per_sample', 'per_image'"):
        tiny(image_label_dropout="each")


PAPER_COUNTS = {"Latte-S/2": 32_480_672, "Latte-B/2": 129_547_040, "Latte-L/2": 456_815_648, "Latte-XL/2": 673_681_568}


@pytest.mark.parametrize("name", PAPER_COUNTS)
def test_preset_parameter_counts_match_reference(name):
    assert count_parameters(name, num_frames=16, input_size=32, in_channels=4, learn_sigma=True) == PAPER_COUNTS[name]


def test_gradient_checkpointing_gives_same_gradients():
    model = randomize_(tiny(num_classes=0))
    x, t = torch.randn(B, F, C, S, S), torch.tensor([1, 2])
    grads = []
    for flag in (False, True):
        model.zero_grad()
        model.gradient_checkpointing = flag
        model(x, t).square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert_same_up_to_rounding(*grads)


@pytest.mark.parametrize("kwargs,message", [
    (dict(input_size=30, patch_size=4), "input_size=30 is not divisible by patch_size=4"),
    (dict(patch_embedding="compression", tubelet_stride=3, num_frames=16), "num_frames=16 is not divisible by tubelet_stride=3"),
    (dict(num_heads=5, hidden_size=64), "num_heads=5 does not divide hidden_size=64"),
    (dict(variant=5), "variant=5 is not one of 1, 2, 3, 4"),
    (dict(conditioning="cross-attn"), "conditioning='cross-attn' is not one of 's-adaln', 'tokens'"),
    (dict(temporal_pe="learned"), "temporal_pe='learned' is not one of 'absolute', 'rope'"),
    (dict(patch_embedding="tubelet"), "patch_embedding='tubelet' is not one of 'uniform', 'compression'"),
    (dict(depth=3), "depth=3 must be even for variant 1"),
])
def test_bad_config_raises_value_error_naming_argument(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)")):
        LatteConfig(**kwargs)


def test_bad_preset_and_argument_names():
    with pytest.raises(ValueError, match="unknown preset 'Latte-M/2'; choose one of Latte-XL/2"):
        create_latte("Latte-M/2")
    with pytest.raises(ValueError, match="unknown model argument\\(s\\) frames"):
        create_latte("Latte-S/2", frames=16)


def test_frames_not_divisible_by_stride_at_forward():
    model = tiny(patch_embedding="compression", tubelet_stride=2, num_classes=0, temporal_pe="rope")
    with pytest.raises(ValueError, match="video frames=3 are not divisible by tubelet_stride=2"):
        model(torch.randn(1, 3, C, S, S), torch.tensor([1]))


def test_attention_is_sdpa_multi_head_attention():
    attn = randomize_(Attention(16, 4), std=0.3)
    x = torch.randn(2, 1, 5, 16)                      # one frame: spatial attention over 5 tokens
    q, k, v = attn.qkv(x[:, 0]).reshape(2, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
    weights = (q @ k.transpose(-1, -2) / 2.0).softmax(-1)          # head_dim 4 -> scale 1/2
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(2, 5, 16))
    assert_same_up_to_rounding(attn(x, "spatial")[:, 0], expected)
