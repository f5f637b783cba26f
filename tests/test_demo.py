"""The demo: trains, samples, and ends its report with the model's own quality numbers."""
import json

from minilatte.demo import run_demo

TINY = ("model.hidden_size=32", "model.depth=2", "train.steps=4", "train.ckpt_every=4", "train.log_every=2",
        "train.warmup_steps=0", "diffusion.sampling_steps=2", "data.length=16")


def test_demo_writes_samples_and_a_report_with_quality(tmp_path):
    out = run_demo(tmp_path / "demo", progress=False, overrides=(*TINY, f"data.latent_cache={tmp_path / 'cache'}"),
                   quality_clips=8)
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
