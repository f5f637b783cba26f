"""The demo: trains, samples, and ends its report with the model's own quality numbers."""
import json

import pytest

from minilatte.config import load_config
from minilatte import demo
from minilatte.demo import plan_steps, run_demo

TINY = ("model.hidden_size=32", "model.depth=2", "train.steps=4", "train.ckpt_every=4", "train.log_every=2",
        "train.warmup_steps=0", "diffusion.sampling_steps=2", "data.length=16")


def test_demo_writes_samples_and_a_report_with_quality(tmp_path):
    out = run_demo(tmp_path / "demo", progress=False, overrides=(*TINY, f"data.latent_cache={tmp_path / 'cache'}"),
                   quality_clips=8, minutes=None)
    for name in ("samples.gif", "samples.png", "data.gif", "loss.png", "eval.json", "runtime.json", "report.txt"):
        assert (out / name).is_file(), name
    report = (out / "report.txt").read_text()
    runtime = json.loads((out / "runtime.json").read_text())
    assert f"runtime: {runtime['precision']} ({runtime['precision_reason']})" in report
    assert f"{runtime['threads']} CPU thread(s)" in report
    scores = json.loads((out / "eval.json").read_text())["metrics"]
    last = report.strip().splitlines()
    assert last[-3].startswith(f"  content accuracy {scores['acc']['value']:.2f}")
    assert "per class: square" in last[-2] and "circle" in last[-2] and "triangle" in last[-2]
    fd = scores["fd-probe"]
    assert last[-1].startswith(f"  FD-probe {fd['value']:.2f}") and f"{fd['reference']:.2f}" in last[-1]
    assert "real clips: " in report


@pytest.mark.parametrize("seconds, expected", [(0.0, "least"), (1e6, "all of the config's")])
def test_the_demo_trains_as_many_steps_as_its_time_allows_within_bounds(tmp_path, monkeypatch, seconds, expected):
    monkeypatch.setattr(demo, "MIN_STEPS", 30)
    cfg = load_config("cpu", (*TINY, "train.steps=120", f"data.latent_cache={tmp_path / 'cache'}"))
    steps, why = plan_steps(cfg, tmp_path / "demo", seconds, quality_clips=8, progress=False)
    assert steps == (30 if expected == "least" else 120)
    assert "steps/s measured" in why and expected in why


def test_a_demo_folder_with_a_run_keeps_its_steps(tmp_path):
    overrides = (*TINY, f"data.latent_cache={tmp_path / 'cache'}")
    run_demo(tmp_path / "demo", progress=False, overrides=overrides, quality_clips=8, minutes=None)
    steps, why = plan_steps(load_config("cpu", (*overrides, "train.steps=99")), tmp_path / "demo", 1e6,
                            quality_clips=8, progress=False)
    assert steps == 4 and "resumes" in why
