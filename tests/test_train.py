"""Training: checkpoints, exact resume, NaN stop, 2-process gloo equals 1 process, CLI sample (more in test_reliability)."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import torchrun_error
from minilatte.checkpoint import list_checkpoints, load_checkpoint
from minilatte.config import load_config
from minilatte.distributed import DistContext
from minilatte.train import Trainer, TrainingError, train

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def last_log_row(run: Path) -> dict:
    with open(run / "log.csv") as f:
        return list(csv.DictReader(f))[-1]


def test_ci_config_trains_and_writes_everything(tmp_path):
    result = train(load_config("ci"), tmp_path, progress=False)
    assert result.step == 20 and torch.isfinite(torch.tensor(result.final_loss))
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step_0000010", "step_0000020"]
    for name in ("log.csv", "loss.png", "samples/step_0000020.gif"):
        assert (tmp_path / name).is_file(), name
    saved = load_checkpoint(result.checkpoint)
    assert saved["state"]["step"] == 20 and set(saved["ema"]) == set(saved["model"])


def test_resume_in_process_matches_an_uninterrupted_run(tmp_path):
    sets = ["train.num_sample_videos=0", "model.num_classes=3", "train.mixed_precision=fp32"]    # fp32: not timed
    cfg = load_config("ci", sets)
    straight = train(cfg, tmp_path / "a", progress=False)
    half = load_config("ci", sets + ["train.steps=10"])
    train(half, tmp_path / "b", progress=False)
    resumed = train(cfg, tmp_path / "b", resume=True, progress=False)
    assert resumed.final_loss == straight.final_loss
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])


def test_resuming_a_finished_run_trains_nothing_and_reports_its_last_logged_loss(tmp_path):
    cfg = load_config("ci", ["train.num_sample_videos=0", "model.num_classes=3"])
    train(cfg, tmp_path, progress=False)
    again = train(cfg, tmp_path, resume=True, progress=False)
    assert again.step == 20 and again.final_loss == float(last_log_row(tmp_path)["loss"])


def test_kill_9_then_resume_gives_the_same_final_loss(tmp_path):
    args = [sys.executable, "-m", "minilatte", "train", "--config", "ci", "--no-progress",
            "--set", "train.steps=300", "--set", "train.ckpt_every=20", "--set", "train.log_every=20",
            "--set", "train.num_sample_videos=0", "--set", "train.mixed_precision=fp32"]   # fp32: not timed per run
    subprocess.run(args + ["--out", str(tmp_path / "straight")], check=True, env=ENV, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--out", str(run)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "step_0000040").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list_checkpoints(run / "checkpoints")
    assert done and done[-1].name != "step_0000300", "the run finished before it could be killed"
    for path in done:                                   # whatever exists is complete
        load_checkpoint(path)
    subprocess.run(args + ["--out", str(run), "--resume"], check=True, env=ENV, capture_output=True)
    assert last_log_row(run)["loss"] == last_log_row(tmp_path / "straight")["loss"]
    steps = [int(r["step"]) for r in csv.DictReader(open(run / "log.csv"))]
    assert steps == sorted(set(steps)) and steps[-1] == 300      # no duplicated rows after the resume


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = load_config("ci", ["train.steps=30", "train.num_sample_videos=0"])
    trainer = Trainer(cfg, tmp_path, DistContext(), progress=False)
    original = trainer.train_step

    def poisoned(batch):
        if trainer.step == 12:
            with torch.no_grad():
                trainer.model.final_layer.linear.bias.fill_(float("nan"))
        return original(batch)

    trainer.train_step = poisoned
    with pytest.raises(TrainingError, match="loss became nan by step 15; stopped. Last good checkpoint: .*step_0000010"):
        trainer.run()
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step_0000010"]
    assert all(torch.isfinite(v).all() for v in load_checkpoint(tmp_path / "checkpoints" / "step_0000010")["model"].values())


@pytest.mark.parametrize("strategy,port", [("ddp", "29517"), ("fsdp", "29518")])
def test_two_gloo_processes_equal_one_process_on_the_same_global_batch(tmp_path, strategy, port):
    # fp32 in both runs: under bf16 autocast half a batch rounds otherwise than the whole (as auto picks on a
    # CPU where bf16 times faster), and each run would time it for itself.
    common = ["--config", "ci", "--no-progress", "--set", "train.num_sample_videos=0", "--set", "train.steps=10",
              "--set", f"train.distributed={strategy}", "--set", "train.mixed_precision=fp32"]
    subprocess.run([sys.executable, "-m", "minilatte", "train", *common, "--out", str(tmp_path / "one")],
                   check=True, env=ENV, capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", port, "-m", "minilatte", "train", *common, "--out", str(tmp_path / "two")],
                          env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, torchrun_error(proc.stderr)
    assert proc.stdout.count("trained ci") == 1          # only rank 0 speaks
    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "step_0000010")
    two = load_checkpoint(tmp_path / "two" / "checkpoints" / "step_0000010")
    for part in ("model", "ema"):
        assert set(one[part]) == set(two[part])
        for key in one[part]:
            assert torch.allclose(one[part][key], two[part][key], atol=1e-5), key
    assert abs(float(last_log_row(tmp_path / "one")["loss"]) - float(last_log_row(tmp_path / "two")["loss"])) < 1e-4


def test_sample_cli_writes_a_gif(tmp_path):
    train(load_config("ci", ["train.steps=10", "model.num_classes=3", "diffusion.cfg_scale=2.0"]), tmp_path, progress=False)
    out = tmp_path / "s.gif"
    subprocess.run([sys.executable, "-m", "minilatte", "sample", "--checkpoint", str(tmp_path), "--num-videos", "3",
                    "--out", str(out), "--sampler", "ddpm", "--steps", "5", "--class-label", "2"],
                   check=True, env=ENV, capture_output=True)
    from PIL import Image
    assert Image.open(out).n_frames == 4


def test_torch_compile_trains_like_eager(tmp_path):
    sets = ["train.steps=4", "train.ckpt_every=4", "train.log_every=2", "train.num_sample_videos=0",
            "train.mixed_precision=fp32"]            # both runs in fp32, whatever auto would time on this CPU
    eager = train(load_config("ci", sets), tmp_path / "eager", progress=False)
    compiled = train(load_config("ci", sets + ["train.compile=true"]), tmp_path / "compiled", progress=False)
    assert abs(compiled.final_loss - eager.final_loss) < 1e-4
    a, b = load_checkpoint(eager.checkpoint), load_checkpoint(compiled.checkpoint)
    assert set(a["model"]) == set(b["model"])             # no "_orig_mod." prefixes in checkpoints
    assert all(torch.allclose(a["model"][k], b["model"][k], atol=1e-4) for k in a["model"])


def test_batches_carry_the_epoch_so_crops_change_per_epoch():
    from minilatte.train import EpochIndexed, StepBatchSampler

    class Recorder(torch.utils.data.Dataset):
        epoch = 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return 4

        def __getitem__(self, index):
            return (self.epoch, index)

    batches = list(StepBatchSampler(length=4, batch_size=2, steps=5, seed=0))
    assert sorted(i for b in batches[:2] for _, i in b) == [0, 1, 2, 3]     # an epoch visits every clip once
    assert [{e for e, _ in b} for b in batches] == [{0}, {0}, {1}, {1}, {2}]
    data = EpochIndexed(Recorder())
    assert [data[key] for key in batches[2]] == batches[2]     # the item was read in its own epoch


def test_learning_rate_warms_up_then_stays_or_decays_by_a_cosine():
    from minilatte.train import learning_rate
    constant = load_config("ci", ["train.steps=100", "train.warmup_steps=10", "train.lr=1.0e-3"]).train
    cosine = load_config("ci", ["train.steps=100", "train.warmup_steps=10", "train.lr=1.0e-3",
                                "train.lr_decay=cosine"]).train
    assert learning_rate(constant, 0) == pytest.approx(1e-4) and learning_rate(constant, 99) == pytest.approx(1e-3)
    assert learning_rate(cosine, 4) == learning_rate(constant, 4)              # the same warm-up
    assert learning_rate(cosine, 10) == pytest.approx(1e-3)                    # decay starts after it
    assert learning_rate(cosine, 55) == pytest.approx(5e-4)                    # half-way: half the rate
    assert learning_rate(cosine, 99) < 1e-6


def test_init_weights_sets_a_fresh_run_and_its_ema_but_not_a_resumed_one(tmp_path):
    calls = []

    def init(model):
        calls.append(model)
        torch.nn.init.constant_(model.final_layer.linear.bias, 0.5)

    cfg = load_config("ci", ["train.steps=1", "train.lr=1e-12", "train.num_sample_videos=0"])
    train(cfg, tmp_path, progress=False, init_weights=init)
    ema = load_checkpoint(list_checkpoints(tmp_path / "checkpoints")[-1])["ema"]
    assert torch.allclose(ema["final_layer.linear.bias"], torch.tensor(0.5), atol=1e-6)   # the EMA started there
    cfg.train.steps = 2
    train(cfg, tmp_path, resume=True, progress=False, init_weights=init)
    assert len(calls) == 1
