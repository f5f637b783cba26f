"""``python -m minilatte demo``: the whole pipeline in minutes — train, sample, look.

On a CPU it trains the ``cpu`` config (a tiny pixel-space Latte on synthetic moving shapes); with
CUDA the ``1gpu-demo`` config. It writes into the output folder:

* ``samples.gif`` — videos sampled with the EMA weights, ``samples.png`` — their frames side by side,
* ``data.gif`` — training clips for comparison, ``loss.png`` — the loss curve,
* ``report.txt`` — what was trained, how long it took, the final loss.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from .config import load_config
from .train import build_dataset, train


def run_demo(out_dir: Path, progress: bool = True, overrides: tuple[str, ...] = ()) -> Path:
    name = "1gpu-demo" if torch.cuda.is_available() else "cpu"
    cfg = load_config(name, overrides)
    out_dir = Path(out_dir)
    print(f"minilatte demo: training config '{name}' into {out_dir} "
          f"({cfg.train.steps} steps, {cfg.model.preset}, {cfg.data.dataset} at "
          f"{cfg.latte_config().num_frames}x{cfg.data.image_size}x{cfg.data.image_size})")
    start = time.perf_counter()
    result = train(cfg, out_dir, resume=True, progress=progress)
    train_seconds = time.perf_counter() - start

    from .sample import load_for_sampling, sample_videos
    from .viz import save_frames_png, save_gif

    model, _ = load_for_sampling(result.checkpoint)
    n = 8
    labels = torch.arange(n) % cfg.latte_config().num_classes if cfg.latte_config().num_classes else None
    start = time.perf_counter()
    videos = sample_videos(model, cfg.diffusion, n, labels=labels, seed=cfg.train.seed, progress=False)
    sample_seconds = time.perf_counter() - start
    save_gif(videos, out_dir / "samples.gif", ncols=4)
    save_frames_png(videos, out_dir / "samples.png")
    data = build_dataset(cfg, cfg.latte_config())
    save_gif(torch.stack([data[i]["video"] for i in range(n)]), out_dir / "data.gif", ncols=4)

    report = out_dir / "report.txt"
    report.write_text("\n".join([
        "minilatte demo",
        f"config: {name} ({cfg.model.preset}, {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{cfg.data.dataset} {cfg.latte_config().num_frames} frames at {cfg.data.image_size}x{cfg.data.image_size})",
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else f'CPU, {torch.get_num_threads()} threads'}",
        f"training: {result.step} steps in {train_seconds:.0f} s (this invocation), final loss {result.final_loss:.4f}",
        f"sampling: {n} videos with {cfg.diffusion.sampler.upper()}-{cfg.diffusion.sampling_steps} in {sample_seconds:.1f} s",
        "files: samples.gif, samples.png, data.gif, loss.png, log.csv, checkpoints/",
    ]) + "\n")
    print(report.read_text())
    return out_dir
