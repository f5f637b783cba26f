"""``python -m minilatte demo``: the whole pipeline in minutes — train, sample, look, measure.

On a CPU it trains the ``cpu`` config (a tiny Latte on synthetic moving shapes); with CUDA the
``1gpu-demo`` config. It writes into the output folder:

* ``samples.gif`` — videos sampled with the EMA weights, ``samples.png`` — their frames side by side,
* ``data.gif`` — training clips for comparison, ``loss.png`` — the loss curve,
* ``eval.json`` — the model's quality, as ``python -m minilatte eval`` measures it,
* ``report.txt`` — what was trained, on which precision and threads, how long it took, and how good
  the samples are next to what a perfect model would score.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from .config import load_config
from .evaluate import evaluate, generate_clips, probe_accuracy, real_clips
from .sample import load_for_sampling
from .train import train
from .viz import save_frames_png, save_gif

QUALITY_CLIPS = 256        # clips sampled to measure the model (as many real clips are compared)


def run_demo(out_dir: Path, progress: bool = True, overrides: tuple[str, ...] = (),
             quality_clips: int = QUALITY_CLIPS) -> Path:
    name = "1gpu-demo" if torch.cuda.is_available() else "cpu"
    cfg = load_config(name, overrides)
    out_dir = Path(out_dir)
    print(f"minilatte demo: training config '{name}' into {out_dir} "
          f"({cfg.train.steps} steps, {cfg.model.preset}, {cfg.data.dataset} at "
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
        f"sampling: {n} videos with {cfg.diffusion.sampler.upper()}-{cfg.diffusion.sampling_steps}, "
        f"CFG {cfg.diffusion.cfg_scale:g}, in {sample_seconds:.1f} s",
        "files: samples.gif, samples.png, data.gif, loss.png, log.csv, eval.json, checkpoints/",
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
