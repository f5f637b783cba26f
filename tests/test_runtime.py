"""Precision and thread choices are measured per machine and explained (minilatte/runtime.py)."""
import pytest
import torch

from minilatte import runtime
from minilatte.config import ConfigError, load_config
from minilatte.train import Trainer

CPU = torch.device("cpu")


def test_fp32_when_asked_and_bf16_on_cuda():
    assert runtime.choose_precision("fp32", CPU, 96) == ("fp32", "asked for")
    assert runtime.choose_precision("auto", torch.device("cuda"), 96)[0] == "bf16"


def test_a_cpu_without_native_bf16_gets_fp32_and_refuses_bf16(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "fma"})
    assert runtime.choose_precision("auto", CPU, 96) == ("fp32", "CPU without native bf16")
    with pytest.raises(ValueError, match="no native bf16"):
        runtime.choose_precision("bf16", CPU, 96)


@pytest.mark.parametrize("speedup, expected", [(2.1, "bf16"), (1.1, "fp32")])
def test_a_native_bf16_cpu_gets_bf16_only_where_it_measures_faster(monkeypatch, speedup, expected):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    monkeypatch.setattr(runtime, "matmul_speedup_bf16", lambda size, seconds=0.1: speedup)
    precision, reason = runtime.choose_precision("auto", CPU, 96)
    assert precision == expected and f"{speedup:.1f}x" in reason


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
    assert busy is None or 0.0 <= busy <= runtime.usable_cores() + 0.5


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
