"""Public API arguments are checked where they come in: a wrong type, shape, range or mismatch is a
TypeError / ValueError whose message names the argument."""
import numpy as np
import pytest
import torch

from minilatte.config import DiffusionSection
from minilatte.data import JointImageVideo, VideoFolder, synthetic_dataset
from minilatte.metrics import (bootstrap_ci, check_matching_clips, compute_fvd, frechet_distance, i3d_features,
                               kid, Probe)
from minilatte.models import LatteConfig, create_latte
from minilatte.sample import sample_videos, sampling_diffusion

B, F, C, S = 2, 4, 3, 8


def nano(**kw):
    kw = {"num_frames": F, "input_size": S, "in_channels": C, "num_classes": 5, **kw}
    return create_latte("Latte-Nano/2", **kw).eval()


# ---------------------------------------------------------------- configuration
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(learn_sigma="no"), ValueError, "learn_sigma='no' must be True or False"),
    (dict(learn_sigma=1), ValueError, "learn_sigma=1 must be True or False"),
    (dict(depth=2.0), ValueError, "depth=2.0 must be a positive integer"),
    (dict(hidden_size=True), ValueError, "hidden_size=True must be a positive integer"),
    (dict(num_frames=0), ValueError, "num_frames=0 must be a positive integer"),
    (dict(num_classes=-1), ValueError, "num_classes=-1 must be an integer >= 0"),
    (dict(num_classes=2.5), ValueError, "num_classes=2.5 must be an integer >= 0"),
    (dict(class_dropout_prob=1.0), ValueError, "class_dropout_prob=1.0 must be a number in \\[0, 1\\)"),
    (dict(class_dropout_prob="0.1"), ValueError, "class_dropout_prob='0.1' must be a number"),
    (dict(mlp_ratio=0), ValueError, "mlp_ratio=0 must be a number > 0"),
    (dict(variant=0), ValueError, "variant=0 is not one of 1, 2, 3, 4"),
    (dict(variant=True), ValueError, "variant=True is not one of 1, 2, 3, 4"),
    (dict(variant=1.0), ValueError, "variant=1.0 is not one of 1, 2, 3, 4"),
    (dict(conditioning=None), ValueError, "conditioning=None is not one of"),
    (dict(image_label_dropout="sometimes"), ValueError, "image_label_dropout='sometimes' is not one of"),
])
def test_config_fields_are_type_and_range_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        LatteConfig(**kwargs)
    with pytest.raises(error, match=message):
        create_latte("Latte-Nano/2", **kwargs)


def test_preset_names_are_checked():
    with pytest.raises(TypeError, match="preset name must be a str"):
        create_latte(2)
    with pytest.raises(ValueError, match="unknown preset 'Latte-Q/2'"):
        create_latte("Latte-Q/2")
    with pytest.raises(ValueError, match="unknown model argument\\(s\\) dropout"):
        create_latte("Latte-Nano/2", dropout=0.1)


# ---------------------------------------------------------------- forward
X, T, Y = torch.randn(B, F, C, S, S), torch.tensor([1, 500]), torch.tensor([0, 4])


@pytest.mark.parametrize("change, error, message", [
    (dict(x=torch.randn(F, C, S, S)), ValueError, "x must have shape \\(B, F, C, H, W\\); got \\(4, 3, 8, 8\\)"),
    (dict(x=X.long()), TypeError, "x must have a floating dtype"),
    (dict(x=X.numpy()), TypeError, "x must be a torch.Tensor"),
    (dict(x=torch.randn(B, F, C + 1, S, S)), ValueError, "x of shape \\(C, H, W\\)=\\(4, 8, 8\\) does not match"),
    (dict(x=torch.randn(B, F, C, S, 2 * S)), ValueError, "x of shape \\(C, H, W\\)=\\(3, 8, 16\\) does not match"),
    (dict(x=torch.randn(B, F + 1, C, S, S)), ValueError, "got 5 video frames but num_frames=4"),
    (dict(t=torch.tensor([1])), ValueError, "t must have shape \\(B,\\) = \\(2,\\)"),
    (dict(t=torch.tensor([[1, 2]])), ValueError, "t must have shape \\(B,\\)"),
    (dict(t=torch.tensor([True, False])), TypeError, "t must have an integer or floating dtype"),
    (dict(t=[1, 2]), TypeError, "t must be a torch.Tensor"),
    (dict(y=None), ValueError, "y \\(class labels\\) is required"),
    (dict(y=torch.tensor([0, 1, 2])), ValueError, "y must have shape \\(B,\\) = \\(2,\\)"),
    (dict(y=torch.tensor([0.0, 1.0])), TypeError, "y must have an integer dtype"),
    (dict(y=torch.tensor([0, 6])), ValueError, "y holds labels in \\[0, 6\\] but must be in \\[0, 4\\], or 5 for the null class"),
    (dict(y=torch.tensor([-1, 0])), ValueError, "y holds labels in \\[-1, 0\\]"),
    (dict(num_images=1.0), TypeError, "num_images must be an int"),
    (dict(num_images=F), ValueError, "num_images=4 must be in \\[0, 3\\]"),
    (dict(y_images=torch.tensor([[1], [2]])), ValueError, "y_images given but num_images=0"),
])
def test_forward_arguments_are_checked(change, error, message):
    kwargs = {"x": X, "t": T, "y": Y, **change}
    with pytest.raises(error, match=message):
        nano()(**kwargs)


def test_joint_forward_arguments_are_checked():
    model, x = nano(), torch.randn(B, F + 2, C, S, S)
    assert model(x, T, Y, num_images=2, y_images=torch.tensor([[0, 1], [2, 3]])).shape == (B, F + 2, 2 * C, S, S)
    for y_images, message in ((torch.tensor([[0, 1, 2], [2, 3, 4]]), "y_images must have shape \\(B, num_images\\) = \\(2, 2\\)"),
                              (torch.tensor([[0, 1], [2, 5]]), "y_images holds labels in \\[0, 5\\] but must be in \\[0, 4\\]"),
                              (torch.tensor([[0.0, 1.0], [2.0, 3.0]]), "y_images must have an integer dtype")):
        with pytest.raises((ValueError, TypeError), match=message):
            model(x, T, Y, num_images=2, y_images=y_images)


def test_labels_for_an_unconditional_model_are_refused():
    model = nano(num_classes=0)
    assert model(X, T).shape == (B, F, 2 * C, S, S)
    with pytest.raises(ValueError, match="y \\(class labels\\) given but the model is unconditional"):
        model(X, T, Y)
    with pytest.raises(ValueError, match="y_images \\(class labels\\) given but the model is unconditional"):
        model(torch.randn(B, F + 1, C, S, S), T, num_images=1, y_images=torch.tensor([[0], [1]]))


def test_null_class_is_accepted_only_where_the_model_has_one():
    model = nano()
    assert model(X, T, torch.tensor([0, 5])).shape == (B, F, 2 * C, S, S)      # [label; null]: a CFG batch
    with pytest.raises(ValueError, match="y holds labels in \\[0, 5\\] but must be in \\[0, 4\\]"):
        nano(class_dropout_prob=0.0)(X, T, torch.tensor([0, 5]))


def test_forward_with_cfg_arguments_are_checked():
    model, y = nano(), torch.tensor([1, 5])
    assert model.forward_with_cfg(X, T, y, 3.0).shape == (B, F, 2 * C, S, S)
    with pytest.raises(ValueError, match="y \\(conditional half\\) holds labels in \\[5, 5\\]"):
        model.forward_with_cfg(X, T, torch.tensor([5, 5]), 3.0)
    with pytest.raises(ValueError, match="even batch"):
        model.forward_with_cfg(torch.randn(3, F, C, S, S), torch.tensor([1, 2, 3]), torch.tensor([0, 1, 5]), 3.0)
    with pytest.raises(TypeError, match="cfg_scale must be a number"):
        model.forward_with_cfg(X, T, y, "3")
    with pytest.raises(TypeError, match="unexpected argument\\(s\\) labels"):
        model.forward_with_cfg(X, T, y, 3.0, labels=y)
    with pytest.raises(ValueError, match="forward_with_cfg needs a class-conditional model"):
        nano(num_classes=0).forward_with_cfg(X, T, y, 3.0)


# ---------------------------------------------------------------- sampling
def test_sampling_arguments_are_checked():
    d = DiffusionSection(sampling_steps=2)
    model = nano()
    for kwargs, error, message in (
            (dict(num_videos=0, labels=torch.tensor([0, 1])), ValueError, "num_videos=0 must be a positive integer"),
            (dict(num_videos=2, labels=torch.tensor([0, 1, 2])), ValueError, "labels must have shape \\(num_videos,\\) = \\(2,\\)"),
            (dict(num_videos=2, labels=torch.tensor([0.0, 1.0])), TypeError, "labels must be an integer tensor"),
            (dict(num_videos=2, labels=torch.tensor([0, 5])), ValueError, "class labels must be in \\[0, 4\\]"),
            (dict(num_videos=2, labels=torch.tensor([0, 1]), cfg_scale=-1.0), ValueError, "cfg_scale=-1.0 must be"),
            (dict(num_videos=2, labels=torch.tensor([0, 1]), steps=2000), ValueError, "steps=2000 must be an integer"),
            (dict(num_videos=2, labels=torch.tensor([0, 1]), sampler="euler"), ValueError, "sampler='euler' is not one of")):
        with pytest.raises(error, match=message):
            sample_videos(model, d, progress=False, **kwargs)
    with pytest.raises(ValueError, match="cfg_scale=3.0 needs class labels, but the model is unconditional"):
        sample_videos(nano(num_classes=0), d, 2, cfg_scale=3.0, progress=False)
    with pytest.raises(ValueError, match="steps=0.5 must be an integer"):
        sampling_diffusion(d, "ddim", 0.5)


# ---------------------------------------------------------------- metrics
def _uint8(n, f=16, size=32):
    return torch.randint(0, 256, (n, f, size, size, 3), dtype=torch.uint8)


class _NeverCalled(torch.nn.Module):
    def forward(self, x):
        raise AssertionError("the network must not run when the inputs are refused")


@pytest.mark.parametrize("real, fake, message", [
    (_uint8(4, f=16), _uint8(4, f=12), "real and fake clips differ in shape \\(F, H, W, C\\): real \\(16, 32, 32, 3\\), fake \\(12, 32, 32, 3\\)"),
    (_uint8(4, size=32), _uint8(4, size=64), "real and fake clips differ in shape"),
    (_uint8(1), _uint8(4), "real videos: need at least 2 clips"),
    (_uint8(4)[0], _uint8(4), "real must have shape \\(N, F, H, W, 3\\)"),
])
def test_fvd_refuses_mismatched_clip_sets(real, fake, message):
    with pytest.raises(ValueError, match=message):
        compute_fvd(real, fake, model=_NeverCalled())


def test_i3d_feature_arguments_are_checked():
    for kwargs, message in ((dict(batch_size=0), "batch_size=0 must be a positive integer"),
                            (dict(num_frames=4), "num_frames=4 must be an integer >= 9"),
                            (dict(frame_repeat=0), "frame_repeat=0 must be an integer >= 1")):
        with pytest.raises(ValueError, match=message):
            i3d_features(_uint8(2), model=_NeverCalled(), **kwargs)
    with pytest.raises(ValueError, match="videos must be uint8"):
        i3d_features(_uint8(2).float(), model=_NeverCalled())


def test_feature_metrics_are_checked():
    a, b = np.random.default_rng(0).normal(size=(2, 10, 4))
    with pytest.raises(ValueError, match="feature sizes differ: real D=4, fake D=3"):
        frechet_distance(a, b[:, :3])
    with pytest.raises(ValueError, match="feature sizes differ"):
        kid(a, b[:, :3])
    with pytest.raises(ValueError, match="feature sizes differ"):
        bootstrap_ci(frechet_distance, a, b[:, :3])
    with pytest.raises(ValueError, match="real features needs at least 2 samples"):
        frechet_distance(a[:1], b)
    with pytest.raises(ValueError, match="fake features must have shape \\(N, D\\)"):
        kid(a, b[None])
    with pytest.raises(TypeError, match="metric must be a function"):
        bootstrap_ci("fd", a, b)
    with pytest.raises(ValueError, match="num_resamples=2.5 must be an integer >= 2"):
        bootstrap_ci(frechet_distance, a, b, num_resamples=2.5)
    with pytest.raises(ValueError, match="subset_size=2.5 must be >= 2"):
        kid(a, b, subset_size=2.5)


def test_probe_inputs_are_checked():
    probe = Probe().eval()
    with pytest.raises(TypeError, match="probe input must be a float tensor"):
        probe.clip_features(torch.zeros(2, 8, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="real and fake clips differ in shape \\(F, C, H, W\\)"):
        check_matching_clips(torch.zeros(2, 8, 3, 16, 16), torch.zeros(2, 10, 3, 16, 16), layout="NFCHW")
    with pytest.raises(ValueError, match="layout='NCHW' is not one of"):
        check_matching_clips(torch.zeros(2, 8, 3, 16, 16), torch.zeros(2, 8, 3, 16, 16), layout="NCHW")


# ---------------------------------------------------------------- datasets
@pytest.mark.parametrize("kwargs, message", [
    (dict(name="digits"), "dataset='digits' is not one of 'shapes', 'moving-digits', 'clouds'"),
    (dict(name=["shapes"]), "dataset=\\['shapes'\\] is not one of"),
    (dict(num_frames=0), "num_frames=0 must be a positive integer"),
    (dict(num_frames=2.0), "num_frames=2.0 must be a positive integer"),
    (dict(image_size=4), "image_size=4 is too small"),
    (dict(length=-3), "length=-3 must be a positive integer"),
    (dict(seed=-1), "seed=-1 must be a non-negative integer"),
])
def test_synthetic_dataset_arguments_are_checked(kwargs, message):
    kwargs = {"name": "shapes", **kwargs}
    with pytest.raises(ValueError, match=message):
        synthetic_dataset(**kwargs)


def test_video_folder_and_joint_arguments_are_checked(tmp_path):
    for kwargs, error, message in ((dict(layout="kinetics"), ValueError, "layout='kinetics' is not one of"),
                                   (dict(num_frames=0), ValueError, "num_frames=0 must be a positive integer"),
                                   (dict(image_size=1.5), ValueError, "image_size=1.5 must be a positive integer"),
                                   (dict(train="yes"), ValueError, "train='yes' must be True or False"),
                                   (dict(flip=1), ValueError, "flip=1 must be True, False or None"),
                                   (dict(root=3), TypeError, "root must be a folder path")):
        with pytest.raises(error, match=message):
            VideoFolder(**{"root": tmp_path, **kwargs})
    ds = synthetic_dataset("shapes", num_frames=4, image_size=8, length=4)
    with pytest.raises(ValueError, match="num_images=0 must be a positive integer"):
        JointImageVideo(ds, num_images=0)
    with pytest.raises(TypeError, match="dataset must be a map-style dataset"):
        JointImageVideo(iter([1, 2]), num_images=1)


# ---------------------------------------------------------------- inputs that used to pass silently or crash late
@pytest.mark.parametrize("t, message", [
    (torch.tensor([-5, 1]), "t holds timesteps in \\[-5, 1\\] but must be in \\[0, 10000\\]"),
    (torch.tensor([1e6, 1.0]), "t holds timesteps in \\[1, 1e\\+06\\] but must be in \\[0, 10000\\]"),
    (torch.tensor([float("nan"), 1.0]), "t holds timesteps in"),
])
def test_timesteps_outside_the_diffusion_range_are_refused(t, message):
    with pytest.raises(ValueError, match=message):
        nano()(X, t, Y)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_inputs_of_another_precision_are_cast_to_the_models(dtype):
    model = nano()
    with torch.no_grad():
        expected = model(X.to(dtype).float(), T, Y)               # the same values, given in float32
        out = model(X.to(dtype), T, Y)
        cfg = model.forward_with_cfg(torch.cat([X, X]).to(dtype), torch.cat([T, T]), torch.tensor([0, 4, 5, 5]), 2.0)
    assert out.dtype == torch.float32 and cfg.dtype == torch.float32
    assert torch.equal(out, expected)
    text = create_latte("Latte-Nano/2", num_frames=F, input_size=S, in_channels=C, conditioning="text",
                        text_dim=6).eval()
    tokens = torch.randn(B, 3, 6)
    with torch.no_grad():
        assert torch.equal(text(X.to(dtype), T, text=tokens.to(dtype)),
                           text(X.to(dtype).float(), T, text=tokens.to(dtype).float()))


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match="x holds no samples \\(batch size 0\\)"):
        nano()(torch.randn(0, F, C, S, S), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))


def test_prompts_that_would_be_changed_or_dropped_are_refused():
    from minilatte.text_encoders import WordEncoder

    model = create_latte("Latte-Nano/2", num_frames=F, input_size=S, in_channels=C, conditioning="text",
                         text_dim=WordEncoder().dim).eval()
    d, encoder = DiffusionSection(sampling_steps=2, cfg_scale=1.0), WordEncoder()
    for prompts, message in ((["a red square", ""], "prompt 1 \\(''\\) is empty"),
                             (["   ", "a red square"], "prompt 0 \\('   '\\) is empty"),
                             (["a red square", "\u00fcber square"], "does not know '\u00fcber'"),
                             (["a red square \U0001F7E5", "a red square"], "has characters the word encoder cannot "
                                                                            "read \\(\U0001F7E5\\)")):
        with pytest.raises(ValueError, match=message):
            sample_videos(model, d, 2, prompts=prompts, text_encoder=encoder, progress=False)
    from minilatte.config import load_config
    from minilatte.sample import generate_clips
    with pytest.raises(ValueError, match="2 prompts for 1 videos: the prompts past the first 1 would be dropped"):
        generate_clips(model, load_config("cpu-t2v"), 1, prompts=["a red square", "a blue circle"],
                       text_encoder=encoder, progress=False)


# ---------------------------------------------------------------- a damaged diffusers folder: one line naming the file
DIFFUSERS_CONFIG = dict(_class_name="LatteTransformer3DModel", num_attention_heads=2, attention_head_dim=8,
                        in_channels=4, out_channels=8, num_layers=1, cross_attention_dim=16, sample_size=8,
                        patch_size=2, caption_channels=12, video_length=2)


@pytest.mark.parametrize("config, message", [
    (b'{"num_attention_heads": ', "diffusers config '.*config.json' is not valid JSON"),
    (b"\xff\xfe", "diffusers config '.*config.json' is not UTF-8"),
    (b"[1, 2]", "diffusers config '.*config.json' must hold a JSON object; it holds a list"),
    ({k: v for k, v in DIFFUSERS_CONFIG.items() if k != "num_attention_heads"},
     "config.json: the diffusers config lacks num_attention_heads"),
    ({**DIFFUSERS_CONFIG, "num_attention_heads": "2"},
     "config.json: .*num_attention_heads='2' must be a positive integer"),
    ({**DIFFUSERS_CONFIG, "patch_size": 0}, "config.json: .*patch_size=0 must be a positive integer"),
])
def test_a_bad_diffusers_config_is_one_line(tmp_path, config, message):
    import json

    from minilatte.convert import from_diffusers

    (tmp_path / "config.json").write_bytes(config if isinstance(config, bytes) else json.dumps(config).encode())
    with pytest.raises(ValueError, match=message):
        from_diffusers(tmp_path)


def test_damaged_diffusers_weights_are_one_line_naming_the_file(tmp_path):
    import json

    from safetensors.torch import save_file

    from minilatte.convert import from_diffusers

    (tmp_path / "config.json").write_text(json.dumps(DIFFUSERS_CONFIG))
    weights = tmp_path / "diffusion_pytorch_model.safetensors"
    save_file({"proj_out.weight": torch.zeros(64, 16)}, weights)
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="diffusion_pytorch_model.safetensors is not a readable safetensors file"):
        from_diffusers(tmp_path)
    weights.unlink()
    (tmp_path / "diffusion_pytorch_model.safetensors.index.json").write_text('{"metadata": {}}')
    with pytest.raises(ValueError, match="diffusers weight index '.*index.json' lacks 'weight_map'"):
        from_diffusers(tmp_path)
