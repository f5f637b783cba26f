"""Precision and thread choices are measured per machine and explained (minilatte/runtime.py)."""
import os

import pytest
import torch

from minilatte import runtime
from minilatte.config import ConfigError, load_config
from minilatte.train import Trainer

CPU = torch.device("cpu")


def _not_measured():
    raise AssertionError("the bf16 step must only be timed on a CPU with native bf16")


def test_fp32_when_asked_and_bf16_on_cuda():
    assert runtime.choose_precision("fp32", CPU, _not_measured) == ("fp32", "asked for")
    assert runtime.choose_precision("auto", torch.device("cuda"), _not_measured)[0] == "bf16"


def test_a_cpu_without_native_bf16_gets_fp32_and_refuses_bf16(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "fma"})
    assert runtime.choose_precision("auto", CPU, _not_measured) == ("fp32", "CPU without native bf16")
    with pytest.raises(ValueError, match="no native bf16"):
        runtime.choose_precision("bf16", CPU, _not_measured)


@pytest.mark.parametrize("speedup, expected", [(2.1, "bf16"), (1.1, "fp32")])
def test_a_native_bf16_cpu_gets_bf16_only_where_it_measures_faster(monkeypatch, speedup, expected):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    precision, reason = runtime.choose_precision("auto", CPU, lambda: speedup)
    assert precision == expected and f"{speedup:.2f}x" in reason


def test_timing_the_bf16_step_leaves_the_run_unchanged():
    """The step is timed on the run's model: its random state and gradients must come out untouched."""
    from minilatte.models import create_latte
    torch.manual_seed(0)
    model = create_latte("Latte-Tiny/2", num_frames=2, input_size=4, in_channels=2, num_classes=3, depth=2)
    x, t, y = torch.randn(2, 2, 2, 4, 4), torch.tensor([1, 500]), torch.tensor([0, 2])
    before = torch.get_rng_state()
    speedup = runtime.step_speedup_bf16(model, (x, t), {"y": y}, seconds=0.02)
    assert speedup > 0
    assert torch.equal(torch.get_rng_state(), before)
    assert all(p.grad is None for p in model.parameters())


def test_threads_leave_out_the_cores_other_processes_keep_busy(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "usable_cores", lambda: 4)
    for busy, expected in ((0.0, 4), (1.2, 3), (2.6, 1), (7.0, 1)):
        monkeypatch.setattr(runtime, "_busy_cores_other_processes", lambda interval=0.25, b=busy: b)
        threads, reason = runtime.choose_threads()
        assert threads == expected and f"{busy:.1f} busy" in reason
    assert runtime.choose_threads(3) == (3, "asked for")


def test_busy_cores_are_measured_from_the_machine():
    busy = runtime._busy_cores_other_processes(0.05)
    # /proc/stat counts the whole machine, whatever this process's CPU affinity.
    assert busy is None or 0.0 <= busy <= (os.cpu_count() or 1) + 0.5


def test_the_trainer_applies_and_records_its_choices(tmp_path):
    before = torch.get_num_threads()
    try:
        trainer = Trainer(load_config("ci", ["train.threads=1", "train.mixed_precision=fp32"]), tmp_path, progress=False)
        assert torch.get_num_threads() == 1
        assert trainer.runtime.to_dict() == {"precision": "fp32", "precision_reason": "asked for", "threads": 1,
                                             "threads_reason": "asked for"}
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match="train.threads=0"):
        load_config("ci", ["train.threads=0"])


def test_a_resumed_run_keeps_the_precision_it_started_with(monkeypatch):
    """Re-timing at resume could pick the other precision mid-run; auto keeps the recorded one."""
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    before = torch.get_num_threads()
    try:
        kept = runtime.apply("auto", CPU, _not_measured, threads=1,
                             previous={"precision": "bf16", "precision_reason": "measured 1.5x"})
        assert kept.precision == "bf16" and kept.precision_reason.startswith("as the run being resumed")
        assert runtime.apply("fp32", CPU, _not_measured, threads=1, previous={"precision": "bf16"}).precision == "fp32"
        assert runtime.apply("auto", CPU, lambda: 0.7, threads=1, previous=None).precision == "fp32"
    finally:
        torch.set_num_threads(before)
