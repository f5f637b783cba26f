"""``python -m minilatte demo``: the whole pipeline in minutes — train, sample, look, measure.

On a CPU it trains the ``cpu`` config (a tiny Latte on synthetic moving shapes); with CUDA the
``1gpu-demo`` config. On a CPU the demo keeps a time budget (``minutes``, ten by default, from start to
report): it times a few training steps and one sampling call on this machine, and trains as many of the
config's steps as fit before the scoring it will do — but never fewer than ``MIN_STEPS`` (a slow machine
takes longer rather than show a worse model). Samples improve over that whole range (FD-probe 8.7 after
2,700 steps, 6.6 after 8,100; ``benchmarks/results/demo_steps.md``), so a faster CPU shows a better
model in the same time, and on a fast one the demo's run is the config's full run.
It writes into the output folder:

* ``samples.gif`` — videos sampled with the EMA weights, ``samples.png`` — their frames side by side,
* ``data.gif`` — training clips for comparison, ``loss.png`` — the loss curve,
* ``eval.json`` — the model's quality, as ``python -m minilatte eval`` measures it,
* ``report.txt`` — what was trained, on which precision and threads, how long it took, and how good
  the samples are next to what a perfect model would score.
"""
from __future__ import annotations

import json
import math
import platform
import tempfile
import time
from pathlib import Path

import torch

from .checkpoint import latest_checkpoint, read_config
from .config import RunConfig, load_config
from .evaluate import evaluate, generate_clips, probe_accuracy, real_clips
from .sample import load_for_sampling
from .train import Trainer, train
from .viz import save_frames_png, save_gif

QUALITY_CLIPS = 256        # clips sampled to measure the model (as many real clips are compared)
MINUTES = 10.0             # the demo's promise on an idle laptop CPU: the report within ten minutes
MIN_STEPS = 2700           # below this a class is often wrong (content accuracy 0.98-1.00 at 2,700 steps)
SAMPLE_BATCH = 64          # clips sampled at once when scoring (evaluate's default)


def plan_steps(cfg: RunConfig, out_dir: Path, seconds_left: float, quality_clips: int,
               progress: bool = True) -> tuple[int, str]:
    """How many of the config's training steps fit ``seconds_left`` on this machine (at least ``MIN_STEPS``),
    and how that was decided.

    Times 20 training steps (after 5 untimed ones) and one guided sampling call on a throwaway
    trainer — which also builds the latent cache the real run then reuses — and estimates the
    scoring's sampling time from the second. A folder that already holds a run keeps its steps.
    """
    saved = latest_checkpoint(out_dir / "checkpoints")
    if saved is not None:
        return read_config(saved)["train"]["steps"], "the steps of the run in the output folder, which this resumes"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, progress=progress)
        batches = iter(trainer.loader())
        for _ in range(5):
            trainer.train_step(next(batches))
        tick = time.perf_counter()
        for _ in range(20):
            trainer.train_step(next(batches))
        step_s = (time.perf_counter() - tick) / 20
        c = trainer.latte_cfg
        n = 2 * min(SAMPLE_BATCH, quality_clips)          # guidance samples both halves in one batch
        x = torch.randn(n, c.num_frames, c.in_channels, c.input_size, c.input_size)
        t, y = torch.full((n,), 500), torch.arange(n) % max(1, c.num_classes)
        with torch.no_grad():
            trainer.ema(x, t, y=y if c.num_classes else None)
            tick = time.perf_counter()
            trainer.ema(x, t, y=y if c.num_classes else None)
            call_s = time.perf_counter() - tick
    sampling_steps = cfg.diffusion.sampling_steps
    # The scoring samples quality_clips in batches, plus 8 clips for the GIF; decoding, the probe and the
    # bootstrap add about a quarter to that (measured on the cpu config).
    score_s = 1.25 * (math.ceil(quality_clips / SAMPLE_BATCH) + 1) * sampling_steps * call_s
    budget = seconds_left - (time.perf_counter() - start) - score_s
    fit = int(budget / step_s) // 100 * 100
    least = min(MIN_STEPS, cfg.train.steps)
    steps = min(max(fit, least), cfg.train.steps)
    why = (f"{1 / step_s:.1f} steps/s measured, {budget:.0f} s left for training after an estimated "
           f"{score_s:.0f} s of scoring")
    if fit < least:
        why += f"; {least} steps are the least the demo trains"
    elif fit >= cfg.train.steps:
        why += f"; all of the config's {cfg.train.steps} steps fit"
    return steps, why


def run_demo(out_dir: Path, progress: bool = True, overrides: tuple[str, ...] = (),
             quality_clips: int = QUALITY_CLIPS, minutes: float | None = MINUTES) -> Path:
    """Train, sample, score and report into ``out_dir``. ``minutes``: the time budget from start to report on
    a CPU (None: train the config's steps, as on CUDA)."""
    started = time.perf_counter()
    name = "1gpu-demo" if torch.cuda.is_available() else "cpu"
    cfg = load_config(name, overrides)
    out_dir = Path(out_dir)
    steps_reason = "the config's"
    if minutes is not None and not torch.cuda.is_available():
        steps, steps_reason = plan_steps(cfg, out_dir, 60 * minutes - (time.perf_counter() - started),
                                         quality_clips, progress)
        cfg = load_config(name, (*overrides, f"train.steps={steps}"))
    print(f"minilatte demo: training config '{name}' into {out_dir} "
          f"({cfg.train.steps} steps: {steps_reason}; {cfg.model.preset}, {cfg.data.dataset} at "
          f"{cfg.latte_config().num_frames}x{cfg.data.image_size}x{cfg.data.image_size})")
    start = time.perf_counter()
    result = train(cfg, out_dir, resume=True, progress=progress)
    train_seconds = time.perf_counter() - start

    model, _ = load_for_sampling(result.checkpoint, "cuda" if torch.cuda.is_available() else "cpu")
    n = 8
    start = time.perf_counter()
    videos, _ = generate_clips(model, cfg, n, seed=cfg.train.seed, progress=False)
    sample_seconds = time.perf_counter() - start
    save_gif(videos, out_dir / "samples.gif", ncols=4)
    save_frames_png(videos, out_dir / "samples.png")
    real, real_labels = real_clips(cfg, max(n, quality_clips))     # clips like the training data
    save_gif(real[:n], out_dir / "data.gif", ncols=4)

    start = time.perf_counter()
    scores = evaluate(result.checkpoint, ["acc", "fd-probe"], num_samples=quality_clips, progress=False)
    eval_seconds = time.perf_counter() - start
    (out_dir / "eval.json").write_text(json.dumps(scores, indent=2) + "\n")
    runtime = json.loads((out_dir / "runtime.json").read_text()) if (out_dir / "runtime.json").is_file() else {}

    report = out_dir / "report.txt"
    lines = [
        "minilatte demo",
        f"config: {name} ({cfg.model.preset}, {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{cfg.data.dataset} {cfg.latte_config().num_frames} frames at {cfg.data.image_size}x{cfg.data.image_size}"
        f"{', in the tiny VAE latent space' if cfg.data.vae else ''})",
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}",
    ]
    if runtime:
        threads = f", {runtime['threads']} CPU thread(s) ({runtime['threads_reason']})" if runtime["threads"] else ""
        lines.append(f"runtime: {runtime['precision']} ({runtime['precision_reason']}){threads}")
    lines += [
        f"training: {result.step} steps in {train_seconds:.0f} s (this invocation), final loss {result.final_loss:.4f}",
        f"steps: {cfg.train.steps} ({steps_reason})",
        f"sampling: {n} videos with {cfg.diffusion.sampler.upper()}-{cfg.diffusion.sampling_steps}, "
        f"CFG {cfg.diffusion.cfg_scale:g}, in {sample_seconds:.1f} s",
        "files: samples.gif, samples.png, data.gif, loss.png, log.csv, eval.json, checkpoints/",
        f"total: {time.perf_counter() - started:.0f} s from start to report",
        "",
        *quality_lines(scores, probe_accuracy(real, real_labels, cfg.data.dataset), eval_seconds),
    ]
    report.write_text("\n".join(lines) + "\n")
    print(report.read_text())
    return out_dir


def quality_lines(scores: dict, real_accuracy: float | None, seconds: float) -> list[str]:
    """The report's closing lines: the model's scores next to what real clips score."""
    m, n = scores["metrics"], scores["num_samples"]
    fd = m["fd-probe"]
    lines = [f"quality ({n} sampled clips vs {n} real ones, {scores['sampler'].upper()}-{scores['sampling_steps']}, "
             f"CFG {scores['cfg_scale']:g}; {seconds:.0f} s; python -m minilatte eval measures the same):"]
    if "acc" in m:
        acc = m["acc"]
        real = f"; real clips: {real_accuracy:.2f}" if real_accuracy is not None else ""
        per_class = ", ".join(f"{k} {v['value']:.2f}" for k, v in acc["per_class"].items())
        lines.append(f"  content accuracy {acc['value']:.2f} [{acc['ci_low']:.2f}, {acc['ci_high']:.2f}] "
                     f"(the probe names the class each video was asked for{real}; chance "
                     f"{1 / len(acc['per_class']):.2f})")
        lines.append(f"    per class: {per_class}")
    lines.append(f"  FD-probe {fd['value']:.2f} [{fd['ci_low']:.2f}, {fd['ci_high']:.2f}], "
                 f"{fd['value'] / fd['reference']:.1f}x the real-vs-real value {fd['reference']:.2f} "
                 f"(content and motion; a perfect model scores about the real-vs-real value)")
    return lines
