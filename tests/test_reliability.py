"""Reliability: runs are never lost or mixed, interrupts resume exactly, and every user error is one line.

Covers what an adversarial user tried: re-running ``train`` into a used folder, ``--resume`` with another
model, Ctrl-C / SIGTERM at any moment, crash debris and a corrupt newest checkpoint, a full disk, outputs
that cannot be written, and a table of malformed configs and files.
"""
import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from minilatte import checkpoint as ckpt
from minilatte.cli import main
from minilatte.config import ConfigError, load_config
from minilatte.distributed import DistContext
from minilatte.train import Trainer, TrainingInterrupted, train

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# Every run here in fp32: runs compared bit for bit must not each time bf16 for themselves and choose
# differently (auto does where a CPU with native bf16 times it near the threshold).
COMMON = ["train.num_sample_videos=0", "train.mixed_precision=fp32"]


def steps_logged(run: Path) -> list[int]:
    with open(run / "log.csv") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def ema_of(run: Path) -> dict:
    return ckpt.load_checkpoint(ckpt.latest_checkpoint(run / "checkpoints"))["ema"]


def same_weights(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def run_cli(capsys, *argv) -> tuple[int, str]:
    """``python -m minilatte ARGV`` in this process: (exit code, stderr)."""
    code = main(list(argv))
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    assert err.strip().count("\n") == 0 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 20-step ci run: what every interrupted-and-resumed run must equal."""
    out = tmp_path_factory.mktemp("straight")
    train(load_config("ci", COMMON), out, progress=False)
    return out


# ---------------------------------------------------------------- run folders are owned

def test_a_fresh_run_into_a_used_folder_stops_and_keeps_the_old_run(tmp_path, capsys, straight):
    run = tmp_path / "run"
    train(load_config("ci", COMMON), run, progress=False)
    before = ema_of(run)
    code, err = run_cli(capsys, "train", "--config", "ci", "--set", "train.lr=3e-4", "--out", str(run), "--no-progress")
    assert code == 2
    assert "already holds a run (checkpoints up to step_0000020)" in one_line(err) and "--resume" in err
    assert same_weights(before, ema_of(run)) and steps_logged(run) == [5, 10, 15, 20]


def test_overwrite_moves_the_old_run_aside_and_starts_afresh(tmp_path):
    run = tmp_path / "run"
    train(load_config("ci", COMMON), run, progress=False)
    old = ema_of(run)
    train(load_config("ci", COMMON + ["train.steps=10"]), run, overwrite=True, progress=False)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.replaced-")]
    assert len(aside) == 1 and same_weights(old, ema_of(aside[0]))
    assert steps_logged(run) == [5, 10]
    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == ["step_0000010"]


def test_resume_and_overwrite_together_are_refused():
    with pytest.raises(ConfigError, match="choose one"):
        train(load_config("ci", COMMON), "unused", resume=True, overwrite=True, progress=False)


@pytest.mark.parametrize("change,named", [
    ("model.hidden_size=48", "model.hidden_size: 64 -> 48"),
    ("model.num_frames=2", "model.num_frames: 4 -> 2"),
    ("diffusion.prediction=velocity", "diffusion.prediction: 'epsilon' -> 'velocity'"),
])
def test_resume_refuses_another_model_or_data_shape(tmp_path, straight, change, named):
    with pytest.raises(ConfigError, match=f"--resume: .*step_0000020 was trained with other settings .*{named}"):
        train(load_config("ci", COMMON + [change]), straight, resume=True, progress=False)


def test_resume_accepts_new_training_settings_and_says_which(tmp_path, capsys):
    run = tmp_path / "run"
    train(load_config("ci", COMMON + ["train.steps=10"]), run, progress=False)
    capsys.readouterr()
    result = train(load_config("ci", COMMON), run, resume=True, progress=False)
    assert result.step == 20 and "resuming with changed settings: train.steps: 10 -> 20" in capsys.readouterr().out


# ---------------------------------------------------------------- interrupts resume exactly

def test_a_signal_mid_step_finishes_the_step_checkpoints_and_resumes_bit_equal(tmp_path, straight):
    """The signal lands after step 8 drew its timesteps and noise: the step still completes, so the
    checkpoint holds a whole step and the resumed run is bit-equal to the uninterrupted one."""
    run = tmp_path / "run"
    trainer = Trainer(load_config("ci", COMMON), run, DistContext(), progress=False)
    losses = trainer.diffusion.training_losses

    def interrupted_mid_step(*args, **kwargs):
        if trainer.step == 7:
            signal.raise_signal(signal.SIGINT)
        return losses(*args, **kwargs)

    trainer.diffusion.training_losses = interrupted_mid_step
    with pytest.raises(TrainingInterrupted, match="SIGINT at step 8") as stop:
        trainer.run()
    assert stop.value.checkpoint.name == "step_0000008"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler       # handlers restored
    train(load_config("ci", COMMON), run, resume=True, progress=False)
    assert same_weights(ema_of(run), ema_of(straight))
    assert steps_logged(run) == steps_logged(straight)


def test_a_second_ctrl_c_stops_at_once_without_a_checkpoint(tmp_path):
    trainer = Trainer(load_config("ci", COMMON), tmp_path, DistContext(), progress=False)
    losses = trainer.diffusion.training_losses

    def impatient(*args, **kwargs):
        if trainer.step == 12:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
        return losses(*args, **kwargs)

    trainer.diffusion.training_losses = impatient
    with pytest.raises(KeyboardInterrupt) as stop:
        trainer.run()
    assert not isinstance(stop.value, TrainingInterrupted)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "checkpoints")] == ["step_0000010"]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_at_a_random_moment_then_resume_equals_an_uninterrupted_run(tmp_path, sig, code):
    args = [sys.executable, "-m", "minilatte", "train", "--config", "ci", "--no-progress",
            "--set", "train.steps=200", "--set", "train.ckpt_every=50", *sum((["--set", s] for s in COMMON), [])]
    subprocess.run(args + ["--out", str(tmp_path / "straight")], check=True, env=ENV, capture_output=True)
    run = tmp_path / "stopped"
    proc = subprocess.Popen(args + ["--out", str(run)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while not (run / "log.csv").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    time.sleep(0.3)                                   # somewhere inside a step, between checkpoints
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    stopped_at = ckpt.latest_checkpoint(run / "checkpoints")
    assert f"interrupted by {sig.name} at step {int(stopped_at.name[5:])}" in err
    assert stopped_at.name != "step_0000200", "the run finished before the signal"
    subprocess.run(args + ["--out", str(run), "--resume"], check=True, env=ENV, capture_output=True)
    assert same_weights(ema_of(run), ema_of(tmp_path / "straight"))
    assert steps_logged(run) == steps_logged(tmp_path / "straight")


# ---------------------------------------------------------------- crash debris, corrupt checkpoints

def half_run(tmp_path) -> Path:
    run = tmp_path / "run"
    train(load_config("ci", COMMON + ["train.steps=15", "train.ckpt_every=5"]), run, progress=False)
    return run


def test_startup_removes_crash_debris_and_says_so(tmp_path, capsys, straight):
    run = half_run(tmp_path)                           # checkpoints 10 and 15
    ckpts = run / "checkpoints"
    (ckpts / ".tmp-abc123").mkdir()                    # a write killed before its rename
    (ckpts / ".tmp-abc123" / "model.safetensors").write_bytes(b"x" * 100)
    (ckpts / ".del-step_0000005-deadbeef").mkdir()     # a deletion killed half-way
    half_deleted = ckpts / "step_0000018"              # a step folder missing files: set aside, never deleted
    half_deleted.mkdir()
    (half_deleted / "state.pt").write_bytes(b"")
    assert [p.name for p in ckpt.list_checkpoints(ckpts)] == ["step_0000010", "step_0000015"]
    capsys.readouterr()
    train(load_config("ci", COMMON), run, resume=True, progress=False)
    out = capsys.readouterr().out
    assert out.count("removed ") == 2 and out.count("set aside ") == 1
    assert sorted(p.name for p in ckpts.iterdir()) == ["incomplete-step_0000018", "step_0000015", "step_0000020"]
    assert same_weights(ema_of(run), ema_of(straight))


def test_deleting_an_old_checkpoint_never_leaves_a_folder_that_looks_like_one(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt.shutil, "rmtree", lambda *a, **k: None)     # the deletion "crashes" every time
    train(load_config("ci", COMMON + ["train.steps=15", "train.ckpt_every=5"]), tmp_path, progress=False)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert [n for n in names if n.startswith("step_")] == ["step_0000010", "step_0000015"]
    assert any(n.startswith(".del-step_0000005") for n in names)


@pytest.mark.parametrize("damage", ["truncated weights", "pickled state", "empty config"])
def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys, straight, damage):
    run = half_run(tmp_path)
    newest = run / "checkpoints" / "step_0000015"
    if damage == "truncated weights":
        data = (newest / "model.safetensors").read_bytes()
        (newest / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "pickled state":                   # code torch.load(weights_only=True) refuses to run
        torch.save({"step": 15, "hook": Path("x")}, newest / "state.pt")
    else:
        (newest / "config.yaml").write_text("")
    capsys.readouterr()
    train(load_config("ci", COMMON), run, resume=True, progress=False)
    out = capsys.readouterr().out
    assert "renamed it unreadable-step_0000015 and trying the previous checkpoint" in out
    assert (run / "checkpoints" / "unreadable-step_0000015").is_dir()
    assert same_weights(ema_of(run), ema_of(straight))            # continued from step 10, exactly


def test_no_readable_checkpoint_at_all_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    train(load_config("ci", COMMON + ["train.steps=10"]), run, progress=False)
    torch.save({"hook": Path("x")}, run / "checkpoints" / "step_0000010" / "state.pt")
    code, err = run_cli(capsys, "train", "--config", "ci", "--out", str(run), "--resume", "--no-progress")
    assert code == 2 and "no readable checkpoint left" in one_line(err)


def test_a_pickled_state_file_is_refused_in_one_line(tmp_path):
    run = half_run(tmp_path)
    state = run / "checkpoints" / "step_0000015" / "state.pt"
    torch.save({"hook": Path("x")}, state)
    with pytest.raises(ckpt.CheckpointError, match="pickled Python objects beyond tensors; minilatte never executes"):
        ckpt.load_checkpoint(state.parent)


def test_sampling_a_checkpoint_of_another_size_is_one_line(tmp_path, capsys):
    small, other = tmp_path / "small", tmp_path / "other"
    train(load_config("ci", COMMON + ["train.steps=10"]), small, progress=False)
    train(load_config("ci", COMMON + ["train.steps=10", "model.hidden_size=48"]), other, progress=False)
    target = small / "checkpoints" / "step_0000010" / "ema.safetensors"
    target.write_bytes((other / "checkpoints" / "step_0000010" / "ema.safetensors").read_bytes())
    code, err = run_cli(capsys, "sample", "--checkpoint", str(small), "--out", str(tmp_path / "s.gif"))
    assert code == 2 and "holds weights of another model" in one_line(err) and "is (48" in err


# ---------------------------------------------------------------- I/O errors before long work

def test_a_full_disk_is_one_line_and_keeps_the_older_checkpoints(tmp_path, capsys, monkeypatch):
    real_save = ckpt.save_file

    def fills_up(tensors, path):
        if "step" in str(path) or ".tmp-" in str(path):
            if len(ckpt.list_checkpoints(tmp_path / "checkpoints")) >= 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(tensors, path)

    monkeypatch.setattr(ckpt, "save_file", fills_up)
    code, err = run_cli(capsys, "train", "--config", "ci", "--out", str(tmp_path), "--no-progress",
                        "--set", "train.num_sample_videos=0")
    assert code == 2
    assert "cannot write checkpoint step 20" in one_line(err) and "No space left on device" in err
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "checkpoints")] == ["step_0000010"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("command", ["train", "sample", "eval"])
def test_an_output_path_that_is_a_file_or_read_only_fails_before_any_work(tmp_path, capsys, monkeypatch, straight,
                                                                          command):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    argv = {"train": ["train", "--config", "ci", "--no-progress", "--out"],
            "sample": ["sample", "--checkpoint", str(straight), "--out"],
            "eval": ["eval", "--checkpoint", str(straight), "--out"]}[command]
    import minilatte.sample
    monkeypatch.setattr(minilatte.sample, "sample_videos", lambda *a, **k: pytest.fail("sampling started"))
    code, err = run_cli(capsys, *argv, str(blocker / "out.json" if command != "train" else blocker))
    assert code == 2 and ("is a file, not a folder" in one_line(err) or "is not writable" in err)

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("minilatte.run_folder.tempfile.TemporaryFile", read_only)
    code, err = run_cli(capsys, *argv, str(tmp_path / "ro" / ("out" if command == "train" else "out.gif")))
    assert code == 2 and "is not writable (Read-only file system)" in one_line(err)


# ---------------------------------------------------------------- malformed configs: one line naming the field

BAD_OVERRIDES = [
    ("train.grad_clip=-1", "train.grad_clip=-1.0 must be > 0"),
    ("train.warmup_steps=-10", "train.warmup_steps=-10 must be >= 0"),
    ("train.ckpt_every=0", "train.ckpt_every=0 must be >= 1"),
    ("train.log_every=0", "train.log_every=0 must be >= 1"),
    ("train.lr=0", "train.lr=0.0 must be > 0"),
    ("train.lr=.nan", "train.lr=nan must be > 0"),
    ("train.lr=fast", "train.lr='fast' has the wrong type; expected float"),
    ("train.weight_decay=-0.1", "train.weight_decay=-0.1 must be >= 0"),
    ("train.ema_decay=1", "train.ema_decay=1.0 must be in [0, 1)"),
    ("train.batch_size=0", "train.batch_size=0 must be >= 1"),
    ("train.batch_size=100", "train.batch_size=100 must be <= data.length=64"),
    ("train.sample_every=-1", "train.sample_every=-1 must be >= 0"),
    ("data.num_images=-2", "data.num_images=-2 must be >= 0"),
    ("data.num_workers=-1", "data.num_workers=-1 must be >= 0"),
    ("diffusion.cfg_scale=3", "diffusion.cfg_scale=3.0 needs a class-conditional or text model"),
    ("diffusion.min_snr_gamma=0", "diffusion.min_snr_gamma=0.0 must be > 0"),
    ("train.lr=[", "override 'train.lr=[': the value is not valid YAML"),
    ("train", "override 'train' must look like section.key=value"),
]


@pytest.mark.parametrize("override,message", BAD_OVERRIDES)
def test_a_bad_setting_is_one_line_naming_it_with_exit_code_2(tmp_path, capsys, override, message):
    code, err = run_cli(capsys, "train", "--config", "ci", "--set", override, "--out", str(tmp_path / "r"))
    assert code == 2 and message in one_line(err)
    assert not (tmp_path / "r").exists()                   # refused before anything was written


def test_yaml_floats_in_any_notation_are_accepted(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model:\n  input_size: 16\ntrain:\n  lr: 1e-3\n  weight_decay: 3E-2\n  steps: 5\n")
    cfg = load_config(str(cfg_file), ["train.ema_decay=9.9e-1"])
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.train.ema_decay) == (1e-3, 3e-2, 0.99)


@pytest.mark.parametrize("text,message", [
    ("train:\n  lr: [1e-3\n", "is not valid YAML (line 3, column 1"),
    ("- model\n- train\n", "must be a YAML mapping with sections model, data, diffusion, train; it holds a list"),
    ("train: 5\n", "train must be a mapping of settings"),
])
def test_a_malformed_config_file_is_one_line(tmp_path, capsys, text, message):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(text)
    code, err = run_cli(capsys, "train", "--config", str(cfg_file), "--out", str(tmp_path / "r"))
    assert code == 2 and message in one_line(err)


def test_settings_changed_from_python_are_checked_too(tmp_path):
    cfg = load_config("ci")
    cfg.train.warmup_steps = -3
    with pytest.raises(ConfigError, match="train.warmup_steps=-3 must be >= 0"):
        train(cfg, tmp_path, progress=False)


def test_evaluating_clip_sets_of_different_length_is_refused():
    from minilatte.evaluate import evaluate_videos
    real, fake = torch.zeros(4, 8, 3, 16, 16), torch.zeros(4, 4, 3, 16, 16)
    with pytest.raises(ValueError, match="real and fake clips differ in shape"):
        evaluate_videos(real, fake, ["fd-probe"], dataset="shapes")


@pytest.mark.parametrize("argv,message", [
    (["sample", "--checkpoint", "r", "--steps", "0"], "argument --steps: 0 must be >= 1"),
    (["sample", "--checkpoint", "r", "--num-videos", "-1"], "argument --num-videos: -1 must be >= 1"),
    (["sample", "--checkpoint", "r", "--cfg-scale", "nan"], "argument --cfg-scale: nan must be >= 0"),
    (["eval", "--checkpoint", "r", "--batch-size", "0"], "argument --batch-size: 0 must be >= 1"),
    (["eval", "--checkpoint", "r", "--num-samples", "1"], "argument --num-samples: 1 must be >= 2"),
    (["eval", "--checkpoint", "r", "--num-resamples", "x"], "argument --num-resamples: 'x' is not an integer"),
    (["bench", "--repeats", "0"], "argument --repeats: 0 must be >= 1"),
])
def test_a_bad_flag_is_refused_with_exit_code_2(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_eval_refuses_clips_the_probe_cannot_read_before_sampling(capsys, monkeypatch, straight, tmp_path):
    import minilatte.sample
    monkeypatch.setattr(minilatte.sample, "sample_videos", lambda *a, **k: pytest.fail("sampling started"))
    code, err = run_cli(capsys, "eval", "--checkpoint", str(straight), "--out", str(tmp_path / "e.json"))
    assert code == 2 and "need clips of >= 8 frames whose side is a multiple of 16; these are 4 frames" in one_line(err)


# ---------------------------------------------------------------- nothing a user made is deleted, nothing stale is used

def test_resume_with_only_an_incomplete_checkpoint_keeps_it_and_refuses(tmp_path, capsys):
    run = tmp_path / "run"
    train(load_config("ci", COMMON), run, progress=False)                 # checkpoints 10 and 20
    ckpts = run / "checkpoints"
    ckpt._remove(ckpts / "step_0000010")
    (ckpts / "step_0000020" / "state.pt").unlink()                         # removed by hand to save space
    log = (run / "log.csv").read_bytes()
    code, err = run_cli(capsys, "train", "--config", "ci", "--set", "train.steps=30", "--set",
                        "train.num_sample_videos=0", "--out", str(run), "--resume", "--no-progress")
    assert code == 2 and "holds no complete checkpoint to continue from" in one_line(err)
    assert "step_0000020" in err and "--overwrite" in err
    kept = ckpts / "incomplete-step_0000020"
    assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "ema.safetensors", "model.safetensors"]
    assert (run / "log.csv").read_bytes() == log                          # the run's log is not rewritten
    code, err = run_cli(capsys, "train", "--config", "ci", "--out", str(run), "--resume", "--no-progress")
    assert code == 2 and "incomplete-step_0000020" in one_line(err)       # the same answer a second time
    code, err = run_cli(capsys, "sample", "--checkpoint", str(run), "--out", str(tmp_path / "s.gif"))
    assert code == 2 and "only checkpoints set aside (incomplete-step_0000020)" in one_line(err)


def test_an_incomplete_newest_checkpoint_is_set_aside_and_resume_continues_from_the_previous(tmp_path, capsys,
                                                                                          straight):
    run = half_run(tmp_path)                                              # checkpoints 10 and 15
    (run / "checkpoints" / "step_0000015" / "state.pt").unlink()
    (run / "checkpoints" / "incomplete-step_0000015").mkdir()            # an earlier one of the same name stays
    capsys.readouterr()
    train(load_config("ci", COMMON), run, resume=True, progress=False)
    out = capsys.readouterr().out
    assert "set aside" in out and "it lacks state.pt" in out and "removed" not in out
    kept = run / "checkpoints" / "incomplete-step_0000015-2"
    assert (kept / "ema.safetensors").is_file() and (run / "checkpoints" / "incomplete-step_0000015").is_dir()
    assert same_weights(ema_of(run), ema_of(straight))                    # continued from step 10, exactly


def test_sampling_uses_the_newest_checkpoint_or_says_why_not(tmp_path, capsys, monkeypatch):
    run = half_run(tmp_path)                                              # checkpoints 10 and 15
    newest = run / "checkpoints" / "step_0000015"
    (newest / "state.pt").unlink()                                        # sampling does not need it
    assert ckpt.resolve_checkpoint(run) == newest
    (newest / "config.yaml").unlink()
    import minilatte.sample
    monkeypatch.setattr(minilatte.sample, "sample_videos", lambda *a, **k: pytest.fail("sampled an older step"))
    for command in (["sample", "--out", str(tmp_path / "s.gif")], ["eval", "--out", str(tmp_path / "e.json")]):
        code, err = run_cli(capsys, *command, "--checkpoint", str(run))
        assert code == 2 and "newest checkpoint" in one_line(err) and "step_0000015 lacks config.yaml" in err
        assert "--checkpoint " + str(run / "checkpoints" / "step_0000010") in err
    assert not (tmp_path / "s.gif").exists() and not (tmp_path / "e.json").exists()


@pytest.mark.parametrize("failure", ["safetensors", "torch.save"])
def test_a_full_disk_in_any_writer_is_one_line_and_keeps_the_older_checkpoints(tmp_path, capsys, monkeypatch,
                                                                                failure):
    from safetensors import SafetensorError

    def full(path) -> bool:
        return ".tmp-" in str(path) and len(ckpt.list_checkpoints(tmp_path / "checkpoints")) >= 1

    if failure == "safetensors":
        real_save = ckpt.save_file

        def save(tensors, path):
            if full(path):
                raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                                      "message: \"No space left on device\" })")
            return real_save(tensors, path)
        monkeypatch.setattr(ckpt, "save_file", save)
    else:
        real_save = torch.save

        def save(obj, path, *args, **kwargs):
            if full(path):
                raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")
            return real_save(obj, path, *args, **kwargs)
        monkeypatch.setattr(torch, "save", save)
    code, err = run_cli(capsys, "train", "--config", "ci", "--out", str(tmp_path), "--no-progress",
                        "--set", "train.num_sample_videos=0")
    assert code == 2 and "cannot write checkpoint step 20" in one_line(err) and "older checkpoints are intact" in err
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "checkpoints")] == ["step_0000010"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp-")]


def test_a_full_disk_while_writing_a_gif_leaves_no_gif(tmp_path, capsys, monkeypatch, straight):
    from PIL import Image

    def fills_up(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"GIF89a")                                   # a few bytes, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", fills_up)
    out = tmp_path / "s.gif"
    code, err = run_cli(capsys, "sample", "--checkpoint", str(straight), "--out", str(out), "--num-videos", "1",
                        "--steps", "2")
    assert code == 2 and "No space left on device" in one_line(err)
    assert list(tmp_path.iterdir()) == []                                 # no GIF, no temporary file


def test_an_output_file_that_the_command_did_not_write_is_never_overwritten(tmp_path, capsys, monkeypatch, straight):
    import minilatte.sample
    monkeypatch.setattr(minilatte.sample, "sample_videos", lambda *a, **k: pytest.fail("sampling started"))
    weights = ckpt.latest_checkpoint(straight / "checkpoints") / "ema.safetensors"
    before = weights.read_bytes()
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}')
    for argv, message in [
        (["eval", "--out", str(weights)], "must end in .json"),
        (["eval", "--out", str(notes)], "already exists and is not an evaluation result minilatte wrote"),
        (["sample", "--out", str(tmp_path / "x.txt")], "must end in .gif"),
        (["sample", "--out", str(tmp_path / "notes.gif")], "is not a GIF minilatte wrote"),
    ]:
        if argv[-1].endswith("notes.gif"):
            (tmp_path / "notes.gif").write_text("not a picture")
        code, err = run_cli(capsys, argv[0], "--checkpoint", str(straight), *argv[1:])
        assert code == 2 and message in one_line(err), argv
    assert weights.read_bytes() == before and notes.read_text() == '{"mine": 1}'
    from minilatte.evaluate import is_eval_result
    from minilatte.run_folder import check_output_file
    previous = tmp_path / "eval.json"
    previous.write_text('{"checkpoint": "runs/ci", "metrics": {}}')         # a previous eval result: replaced
    assert check_output_file(previous, "--out", ".json", "an evaluation result", is_eval_result) == previous


def test_a_config_that_is_not_utf8_is_one_line_naming_it(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    code, err = run_cli(capsys, "train", "--config", str(config), "--out", str(tmp_path / "run"))
    assert code == 2 and str(config) in one_line(err) and "is not UTF-8" in err


def test_a_caption_index_is_read_as_utf8_with_or_without_a_byte_order_mark(tmp_path):
    from minilatte.data import CaptionedSynthetic, CaptionedVideoFolder, synthetic_dataset, write_video

    clip = CaptionedSynthetic(synthetic_dataset("shapes", num_frames=6, image_size=16, length=1))[0]
    write_video(tmp_path / "clip0.mp4", clip["video"])
    kw = dict(num_frames=4, frame_interval=1, image_size=16)
    index = tmp_path / "spreadsheet.csv"
    index.write_bytes(f"path,caption\nclip0.mp4,\"{clip['caption']}\"\n".encode("utf-8-sig"))
    assert CaptionedVideoFolder(index, **kw)[0]["caption"] == clip["caption"]
    for name, text in (("latin1.csv", "path,caption\nclip0.mp4,caf\u00e9\n"),
                       ("latin1.jsonl", '{"path": "clip0.mp4", "caption": "caf\u00e9"}\n')):
        (tmp_path / name).write_bytes(text.encode("latin-1"))
        with pytest.raises(ValueError, match=f"caption index '.*{name}' is not UTF-8 text"):
            CaptionedVideoFolder(tmp_path / name, **kw)
    with pytest.raises(FileNotFoundError, match="caption index '.*nope.csv' does not exist"):
        CaptionedVideoFolder(tmp_path / "nope.csv", **kw)


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe{}", "is not UTF-8 text"),
    (b'{"checkpoint": ', "is not valid JSON \\(Expecting value: line 1, column 16\\)"),
    (b"{}", "lacks 'checkpoint', 'metrics'"),
    (b"[]", "must hold a JSON object; it holds a list"),
])
def test_a_damaged_ablation_result_is_one_line_naming_the_file(tmp_path, content, message):
    from minilatte.ablate import runs
    from minilatte.ablate.studies import TIERS, Arm, base_config

    base, arm = base_config("ci", ("train.steps=2",)), Arm("s-adaln")
    cfg = runs.arm_config(base, arm, 0, tmp_path, "ci")
    folder = tmp_path / "ci" / arm.key / "seed0"
    folder.mkdir(parents=True)
    (folder / runs.RUN_FILE).write_text(json.dumps(cfg.to_dict()))
    for step in runs.curve_steps(cfg.train.steps, TIERS["ci"].curve_points):
        (folder / f"eval_{step:07d}.json").write_bytes(content)
    with pytest.raises(ValueError, match=f"evaluation result '.*eval_\\d+.json' {message}"):
        runs.run_arm(base, arm, 0, tmp_path, "ci", num_samples=8, report=lambda line: None)
    (folder / runs.RUN_FILE).write_bytes(b"\xff{}")
    with pytest.raises(ValueError, match=f"ablation run record '.*{runs.RUN_FILE}' is not UTF-8"):
        runs.run_arm(base, arm, 0, tmp_path, "ci", num_samples=8, report=lambda line: None)


def test_a_damaged_reproduce_settings_file_is_one_line_naming_it(tmp_path):
    from minilatte.reproduce import check_settings_file

    for content, message in ((b"\xe9", "is not UTF-8"), (b'{"dataset": "ffs",', "is not valid JSON")):
        (tmp_path / "settings.json").write_bytes(content)
        with pytest.raises(ValueError, match=f"reproduce settings '.*settings.json' {message}"):
            check_settings_file(tmp_path, None)


def test_a_damaged_vae_config_is_one_line_naming_it(tmp_path):
    from minilatte.vae import vae_downsample

    (tmp_path / "config.json").write_bytes(b'{"_class_name": "AutoencoderKL"}')
    with pytest.raises(ValueError, match="VAE config '.*config.json' lacks 'block_out_channels'"):
        vae_downsample(tmp_path)
