"""The benchmark's structure on a tiny size: matched models, FLOP counts, JSON figures, CLI. No timing asserts."""
import json
import math

import pytest
import torch

from minilatte.bench import (QUICK, BenchSize, _inputs, build_diffusers, build_minilatte, compare_with_diffusers,
                             count_flops, forward_fns, no_grad_fn, speedup, time_interleaved, to_markdown)
from minilatte.cli import main
from minilatte.flops import forward_flops

@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny ops on a busy 2-core machine spend most of their time in thread barriers: run them on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = BenchSize(hidden_size=32, depth=2, num_heads=2, num_frames=2, input_size=4, patch_size=2, batch_size=1)


def _positive_finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_matched_models_take_the_same_input_and_cost_the_same_flops():
    ml, df = build_minilatte(TINY), build_diffusers(TINY)
    inputs = _inputs(TINY, "cpu")
    fwd = forward_fns(ml, df, inputs)
    assert fwd["minilatte"]().shape == fwd["diffusers"]().shape == (1, 2, 8, 4, 4)
    assert count_flops(no_grad_fn(fwd["minilatte"])) == forward_flops(TINY.latte_config(), batch_size=1)
    # No caption cross-attention in the matched diffusers model: every spatial block is self-attention only.
    assert all(block.attn2 is None for block in df.transformer_blocks)


def test_counted_forward_flops_agree_within_the_documented_0_1_percent():
    """README, Performance: "counted forward FLOPs agree within 0.1 %" at the size ``bench --quick`` times.

    Same per-token work; the models differ only in the conditioning MLPs (diffusers' shared adaLN, its
    caption projection), a share of the FLOPs that shrinks with the size: 0.07 % here, 3 % at TINY.
    """
    ml, df = build_minilatte(QUICK), build_diffusers(QUICK)
    fwd = forward_fns(ml, df, _inputs(QUICK, "cpu"))
    ml_flops, df_flops = count_flops(no_grad_fn(fwd["minilatte"])), count_flops(no_grad_fn(fwd["diffusers"]))
    assert ml_flops == forward_flops(QUICK.latte_config(), batch_size=QUICK.batch_size)
    assert df_flops == pytest.approx(ml_flops, rel=1e-3)


def test_comparison_report_has_positive_finite_figures_and_is_json():
    report = compare_with_diffusers(TINY, repeats=2, profile=True)
    for key in ("train_step_speedup_vs_diffusers", "forward_speedup_vs_diffusers", "matmul_tflops",
                "train_step_speedup_ceiling_same_math", "optimizer_seconds"):
        assert _positive_finite(report[key]), key
    assert set(report["seconds"]) == {"minilatte_forward", "diffusers_forward", "minilatte_train_step",
                                      "diffusers_train_step"}
    assert all(len(v) == 2 for v in report["seconds_all"]["train_step"].values())
    assert report["memory"]["activation_bytes_minilatte"] > 0
    assert set(report["time_breakdown"]["minilatte"]) == {"matmul", "attention", "copies", "other element-wise"}
    assert sum(report["time_breakdown"]["minilatte"].values()) == pytest.approx(1, abs=0.01)
    assert report["flops"]["minilatte_train_step_counted"] > 2 * report["flops"]["minilatte_forward_counted"]
    json.dumps(report)


def test_speedup_is_the_median_of_interleaved_pair_ratios():
    times = {"diffusers": [2.0, 3.0, 4.0], "minilatte": [1.0, 1.0, 4.0]}
    assert speedup(times, "diffusers", "minilatte") == {"median": 2.0, "min": 1.0, "max": 3.0}
    calls = []
    out = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=2, warmup=0)
    assert calls == ["a", "b", "a", "b"] and all(len(v) == 2 for v in out.values())
    with pytest.raises(ValueError, match="repeats=0 must be a positive integer"):
        time_interleaved({"a": lambda: None}, repeats=0)


def test_cli_quick_writes_json_with_the_speedups(tmp_path, monkeypatch):
    import minilatte.bench.report as report_module
    monkeypatch.setattr(report_module, "QUICK", TINY)  # the real --quick size takes a minute; the plumbing is the same
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--repeats", "1", "--json", str(path), "--markdown",
                 str(tmp_path / "bench.md")]) == 0
    report = json.loads(path.read_text())
    assert _positive_finite(report["train_step_speedup_vs_diffusers"])
    assert _positive_finite(report["forward_speedup_vs_diffusers"])
    assert report["command"].startswith("python -m minilatte bench --quick")
    features = [row["feature"] for row in report["ablation"]]
    assert "SDPA attention (CPU flash kernel)" in features and "activation checkpointing (per block)" in features
    assert any(not row["measured"] for row in report["ablation"])        # GPU rows: not measured on a CPU
    ckpt = next(r for r in report["ablation"] if r["feature"].startswith("activation checkpointing"))
    assert ckpt["activation_bytes_on"] < ckpt["activation_bytes_off"]
    assert "| forward+backward s |" in (tmp_path / "bench.md").read_text()
    assert to_markdown(report).count("\n") > 20


def test_cli_memory_prints_the_tables(capsys):
    assert main(["bench", "--memory", "--model", "Latte-XL/2", "--batch-size", "2", "--num-gpus", "8"]) == 0
    out = capsys.readouterr().out
    assert "673,681,568 parameters" in out and "| paper-ucf101 |" in out and "FSDP bf16 ckpt" in out


def test_cli_bad_input_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop:                 # argparse: one line after the usage, exit code 2
        main(["bench", "--threads", "0"])
    assert stop.value.code == 2 and "argument --threads: 0 must be >= 1" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["bench", "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    assert main(["bench", "--memory", "--model", "Latte-Huge/2"]) == 2
    assert "unknown preset" in capsys.readouterr().err
