"""Beyond one machine: torchrun's c10d rendezvous across "nodes" and its elastic restarts (gloo, loopback, CPU).

Each "node" is its own torchrun agent on this machine, as on a cluster where every node runs one;
a restart is a worker killed with SIGKILL from outside, as a pre-emption kills it.
"""
import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import stop_process, torchrun_error
from minilatte.checkpoint import load_checkpoint
from minilatte.config import ConfigError, load_config
from minilatte.train import train

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
# fp32 and one thread whatever the CPU and its load: a run and the one it is compared with must not
# measure their way to different precisions or thread counts (summation orders).
SETTINGS = ["train.num_sample_videos=0", "train.mixed_precision=fp32", "train.threads=1"]
COMMON = ["--config", "ci", "--no-progress"] + [a for s in SETTINGS for a in ("--set", s)]


def in_process(out: Path, *settings: str):
    """The same run trained in this process (no interpreter to start)."""
    return train(load_config("ci", SETTINGS + list(settings)), out, progress=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(port: int, run_id: str, args: list[str]) -> subprocess.Popen:
    """One torchrun agent of a 2-node job that meets the other at 127.0.0.1:port."""
    return subprocess.Popen(TORCHRUN + ["--nnodes", "2", "--nproc_per_node", "1", "--rdzv-backend", "c10d",
                                        "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", run_id,
                                        "-m", "minilatte", "train", *args],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextlib.contextmanager
def stopped_at_the_end(procs: list[subprocess.Popen]):
    """Whatever a failing test leaves running is stopped: SIGTERM lets a torchrun agent stop its workers."""
    try:
        yield
    finally:
        for p in procs:
            stop_process(p, timeout=60)


def log_rows(run: Path) -> list[dict]:
    """log.csv without its timing column."""
    with open(run / "log.csv") as f:
        return [{k: v for k, v in row.items() if k != "steps_per_sec"} for row in csv.DictReader(f)]


def assert_close_relative(a: torch.Tensor, b: torch.Tensor, name: str, rtol: float = 1e-5) -> None:
    """Equal up to the last bits, relative to the tensor's magnitude (a 2-process all-reduce sums in another order)."""
    scale = a.abs().max().clamp_min(1e-12)
    assert (a - b).abs().max() <= rtol * scale, name


def test_two_nodes_with_c10d_rendezvous_equal_one_process(tmp_path):
    args = COMMON + ["--set", "train.steps=10"]
    in_process(tmp_path / "one", "train.steps=10")
    port = free_port()
    nodes = [node(port, "two-nodes", args + ["--out", str(tmp_path / "two")]) for _ in range(2)]
    with stopped_at_the_end(nodes):
        outputs = [p.communicate(timeout=240) for p in nodes]
    for p, (_, err) in zip(nodes, outputs):
        assert p.returncode == 0, torchrun_error(err)
    assert sum(out.count("trained ci") for out, _ in outputs) == 1          # one rank 0 across the nodes
    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "step_0000010")
    two = load_checkpoint(tmp_path / "two" / "checkpoints" / "step_0000010")
    for part in ("model", "ema"):
        assert set(one[part]) == set(two[part])
        for key in one[part]:
            assert_close_relative(one[part][key], two[part][key], f"{part}.{key}")
    for a, b in zip(log_rows(tmp_path / "one"), log_rows(tmp_path / "two"), strict=True):
        assert a["step"] == b["step"] and abs(float(a["loss"]) - float(b["loss"])) <= 1e-5 * abs(float(a["loss"]))


def worker_of(agent: int) -> int | None:
    """The pid of the training process that torchrun agent ``agent`` started (a child running minilatte)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == agent and b"minilatte" in cmdline:
            return int(entry.name)
    return None


def test_a_worker_killed_mid_run_is_restarted_by_torchrun_and_resumes_by_itself(tmp_path):
    steps = ["train.steps=60", "train.ckpt_every=10", "train.log_every=10"]
    in_process(tmp_path / "straight", *steps)
    args = COMMON + [a for s in steps for a in ("--set", s)]
    run = tmp_path / "restarted"
    agent = subprocess.Popen(TORCHRUN + ["--standalone", "--nproc_per_node", "1", "--max-restarts", "1",
                                         "-m", "minilatte", "train", *args, "--out", str(run)],
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with stopped_at_the_end([agent]):
        deadline = time.time() + 120
        while not (run / "checkpoints" / "step_0000010").exists() and time.time() < deadline and agent.poll() is None:
            time.sleep(0.005)
        worker = worker_of(agent.pid)
        assert worker is not None, "no training process found under torchrun"
        os.kill(worker, signal.SIGKILL)                 # a pre-emption: no signal handler, no last checkpoint
        out, err = agent.communicate(timeout=240)
    assert agent.returncode == 0, torchrun_error(err)
    restarts = [line for line in out.splitlines() if line.startswith("torchrun restart 1: resuming from step ")]
    assert len(restarts) == 1, out
    resumed_at = int(restarts[0].split("resuming from step ")[1].split()[0])
    assert 10 <= resumed_at < 60, restarts[0]        # killed after step 10's checkpoint, before the end
    assert log_rows(run) == log_rows(tmp_path / "straight")                 # no row lost or repeated
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "step_0000060")
    b = load_checkpoint(run / "checkpoints" / "step_0000060")
    for part in ("model", "ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part


def test_nodes_that_do_not_share_the_run_folder_stop_with_one_line(tmp_path):
    args = COMMON + ["--set", "train.steps=10", "--resume"]
    in_process(tmp_path / "node0", "train.steps=10")
    port = free_port()
    nodes = [node(port, "unshared", args + ["--out", str(tmp_path / f"node{i}")]) for i in range(2)]
    with stopped_at_the_end(nodes):
        errors = [p.communicate(timeout=240)[1] for p in nodes]
    assert all(p.returncode != 0 for p in nodes)
    lines = [line for err in errors for line in err.splitlines()
             if line.startswith("minilatte: error: the processes see different newest checkpoints")]
    assert len(lines) == 2, torchrun_error(errors[0])                     # every process stops, saying why
    assert all("(step 10 on one, none on another): --out must be one folder that every node reads and writes"
               in line for line in lines), lines[0]


def test_a_restarted_worker_resumes_or_starts_afresh_and_never_moves_the_run_aside(tmp_path, monkeypatch, capsys):
    cfg = load_config("ci", SETTINGS)
    straight = train(cfg, tmp_path / "straight", progress=False)
    in_process(tmp_path / "run", "train.steps=10")
    with pytest.raises(ConfigError, match="already holds a run"):        # a first start refuses the folder
        train(cfg, tmp_path / "run", progress=False)
    capsys.readouterr()
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    resumed = train(cfg, tmp_path / "run", progress=False, overwrite=True)    # --overwrite of the first start
    newest = tmp_path / "run" / "checkpoints" / "step_0000010"
    assert f"torchrun restart 1: resuming from step 10 ({newest})" in capsys.readouterr().out
    assert resumed.final_loss == straight.final_loss and log_rows(tmp_path / "run") == log_rows(tmp_path / "straight")
    assert not list(tmp_path.glob("run.replaced-*"))
    afresh = train(cfg, tmp_path / "empty", progress=False)
    assert "torchrun restart 1: no checkpoint in" in capsys.readouterr().out
    assert afresh.final_loss == straight.final_loss
