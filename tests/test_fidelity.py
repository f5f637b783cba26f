"""Points where minilatte follows the official Latte code (github.com/Vchitect/Latte) by default.

Each test states the official behaviour in its docstring and checks minilatte against a small
re-statement of that rule written here.
"""
import pytest
import torch

from minilatte.testing import randomize_
from minilatte.config import DiffusionSection
from minilatte.convert import export_official_latte, load_official_latte
from minilatte.diffusion import space_timesteps
from minilatte.models import compute_matched_config, count_parameters, create_latte, latte_config
from minilatte.sample import sample_videos, sampling_diffusion

F, S, K = 4, 8, 3          # frames, latent size, appended images


def nano(**kw):
    kw = {"num_frames": F, "input_size": S, "in_channels": 3, "num_classes": 5, **kw}
    return create_latte("Latte-Nano/2", **kw)


# ---------------------------------------------------------------- 1. label dropout of appended images
def test_image_labels_drop_once_per_sample_as_in_latte_img():
    """Official (models/latte_img.py, Latte.forward while training): the clip label y (B,) goes through
    the label embedder once (one uniform draw per sample); then, sample by sample, the sample's image
    labels are embedded as one row of shape (1, K), and the embedder draws one uniform number per row,
    so all K images of a sample are dropped to the null class together or not at all."""
    B, p = 8, 0.5
    model = nano(class_dropout_prob=p).train()
    null = model.y_embedder.embedding_table.weight[5]
    y, y_images = torch.arange(B) % 5, torch.randint(0, 5, (B, K))

    torch.manual_seed(3)
    _, labels = model.condition(torch.zeros(B), y, n_video=F, num_images=K, y_images=y_images)
    got = (labels == null).all(dim=-1)                                   # (B, F + K) dropped?

    torch.manual_seed(3)                                                 # the official order of draws
    clip_drop = torch.rand(B) < p
    image_drop = torch.cat([torch.rand(1) < p for _ in range(B)])        # one draw per sample's row
    expected = torch.cat([clip_drop[:, None].expand(B, F), image_drop[:, None].expand(B, K)], dim=1)
    assert torch.equal(got, expected)


# ---------------------------------------------------------------- 2. respacing of the DDIM sampler
def official_section_steps(num_steps: int, count: int) -> list[int]:
    """One section of ``count`` steps: positions 0, s, 2s, ... with s = (T - 1) / (count - 1), each rounded."""
    stride = 1 if count <= 1 else (num_steps - 1) / (count - 1)
    steps, position = [], 0.0
    for _ in range(count):
        steps.append(round(position))
        position += stride
    return steps


@pytest.mark.parametrize("steps", [10, 25, 50, 100, 250])
@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_both_samplers_use_the_official_respacing(sampler, steps):
    """Official (sample/sample.py): ``create_diffusion(str(args.num_sampling_steps))`` for DDPM and DDIM
    alike, i.e. diffusion/respace.py's space_timesteps with one section of N evenly spaced steps — not
    the "ddimN" integer stride."""
    diffusion = sampling_diffusion(DiffusionSection(sampler=sampler, sampling_steps=steps))
    assert diffusion.timestep_map == official_section_steps(1000, steps)


def test_official_respacing_differs_from_the_ddim_stride():
    official = official_section_steps(1000, 50)
    assert official[-1] == 999 and sorted(space_timesteps(1000, "ddim50"))[-1] == 980
    assert official != sorted(space_timesteps(1000, "ddim50"))


# ---------------------------------------------------------------- 3. the null-class row
def test_null_row_exists_only_with_label_dropout():
    """Official (models/latte.py and DiT models.py, LabelEmbedder): the table has
    ``num_classes + (dropout_prob > 0)`` rows."""
    assert nano(class_dropout_prob=0.1).y_embedder.embedding_table.weight.shape[0] == 6
    assert nano(class_dropout_prob=0.0).y_embedder.embedding_table.weight.shape[0] == 5


def test_a_checkpoint_without_null_row_loads_and_refuses_guidance():
    model = randomize_(create_latte("Latte-S/4", num_frames=F, input_size=S, num_classes=7, depth=2,
                                    class_dropout_prob=0.0)).eval()
    state = export_official_latte(model)
    assert state["y_embedder.embedding_table.weight"].shape == (7, 384)
    for overrides in ({"class_dropout_prob": 0.0}, {"num_classes": 7}):
        loaded = load_official_latte(state, **overrides).eval()
        assert loaded.config == model.config
        x, t, y = torch.randn(2, F, 4, S, S), torch.tensor([3, 700]), torch.tensor([0, 6])
        with torch.no_grad():
            assert torch.equal(loaded(x, t, y), model(x, t, y))
    with pytest.raises(ValueError, match="forward_with_cfg needs the null class"):
        loaded.forward_with_cfg(x, t, torch.tensor([1, 7]), 4.0)
    with pytest.raises(ValueError, match="cfg_scale=4.0 needs the null class"):
        sample_videos(loaded, DiffusionSection(sampling_steps=2), 2, labels=torch.tensor([0, 1]), cfg_scale=4.0)
    with pytest.raises(ValueError, match="num_classes=5 does not fit the checkpoint's label table of 7 rows"):
        load_official_latte(state, num_classes=5)


def test_a_checkpoint_with_null_row_is_read_as_the_official_default():
    model = randomize_(create_latte("Latte-S/4", num_frames=F, input_size=S, num_classes=7, depth=2)).eval()
    state = export_official_latte(model)
    assert state["y_embedder.embedding_table.weight"].shape == (8, 384)
    assert load_official_latte(state).config == model.config            # 7 classes + null (dropout 0.1)
    with pytest.raises(ValueError, match="class_dropout_prob=0.0 does not fit"):
        load_official_latte(state, num_classes=7, class_dropout_prob=0.0)


# ---------------------------------------------------------------- 4. compute-matched variants
@pytest.mark.parametrize("name, tolerance", [("Latte-S/2", 0.05), ("Latte-B/2", 0.05), ("Latte-XL/2", 0.01)])
def test_compute_matched_variant_3_has_the_parameters_of_variant_1(name, tolerance):
    """At equal depth a variant-3 model has ~39% more parameters than variant 1; matched, it is within
    ``tolerance`` of variant 1's count."""
    kw = dict(num_frames=16, input_size=32, in_channels=4)
    reference = count_parameters(name, **kw)
    assert count_parameters(name, variant=3, **kw) / reference > 1.35
    matched, ratio = compute_matched_config(latte_config(name, **kw), variant=3)
    assert matched.variant == 3 and matched.depth < latte_config(name).depth
    params = {d: count_parameters(name, variant=3, depth=d, **kw) for d in (matched.depth - 1, matched.depth,
                                                                           matched.depth + 1)}
    assert ratio == params[matched.depth] / reference and abs(ratio - 1) <= tolerance
    assert all(abs(p - reference) >= abs(params[matched.depth] - reference) for p in params.values())


def test_compute_matched_keeps_depth_for_variants_1_2_4_and_in_create_latte():
    config = latte_config("Latte-S/2", num_frames=16, input_size=32)
    for variant in (1, 2, 4):
        matched, ratio = compute_matched_config(config, variant)
        assert matched.depth == config.depth and ratio == 1.0
    with torch.device("meta"):
        model = create_latte("Latte-S/2", num_frames=16, input_size=32, variant=3, compute_matched=True)
    assert model.config.depth == 9
    with pytest.raises(ValueError, match="compute_matched='yes' must be True or False"):
        create_latte("Latte-Nano/2", compute_matched="yes")
    with pytest.raises(ValueError, match="variant=5 is not one of"):
        compute_matched_config(config, 5)


# ---------------------------------------------------------------- 5. head count of official checkpoints
def test_heads_come_from_the_official_presets_or_an_explicit_argument():
    """Official presets (models/latte.py): widths 384, 768, 1024, 1152 have 6, 12, 16, 16 heads; the
    head count is not in the weights, so other widths need it said."""
    official = randomize_(create_latte("Latte-B/4", num_frames=F, input_size=S, depth=2))
    assert load_official_latte(export_official_latte(official)).config.num_heads == 12
    other = randomize_(create_latte("Latte-Tiny/2", num_frames=F, input_size=S, in_channels=4, depth=2)).eval()
    state = export_official_latte(other)
    with pytest.raises(ValueError, match="hidden_size=128 is not an official Latte width.*pass num_heads="):
        load_official_latte(state)
    loaded = load_official_latte(state, num_heads=4).eval()
    x, t = torch.randn(2, F, 4, S, S), torch.tensor([1, 500])
    with torch.no_grad():
        assert torch.equal(loaded(x, t), other(x, t))
