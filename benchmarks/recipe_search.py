"""Time to quality on a CPU: which recipe gives the best samples for a fixed wall-clock budget?

Every arm trains the demo's task (class-conditional 8-frame moving shapes) for the same wall-clock
budget and is scored by the probe on 256 sampled clips (content accuracy with Wilson intervals,
FD-probe and KID with bootstrap intervals, real-vs-real reference). Arms change one lever at a time
from a base recipe; the official Latte recipe runs on the same model and data for the same time.

Equal time, reproducibly: each arm first times ``--calib-steps`` training steps of its own recipe,
then trains ``budget x measured steps/s`` steps (a fixed number, so the run is deterministic and
resumable). The table reports the real training time next to the budget.

    python benchmarks/recipe_search.py --budget 240 --jobs 2          # every arm, two at a time
    python benchmarks/recipe_search.py --arms base,official --jobs 1  # some arms
    python benchmarks/recipe_search.py --report                       # table from the cached results
    python benchmarks/recipe_search.py --score runs/demo --variants ddim25-cfg3,ddim50-cfg1  # samplers

Results are cached per arm in ``--work`` (``NAME/result.json``): an interrupted search continues.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# The base is the recipe the CPU tier had before this search (tiny-VAE latents 4x8x8 with one global
# scale, patch 2, velocity, cosine schedule, batch 16, lr 1e-3, EMA 0.999 with warm-up), written as
# overrides of today's `cpu` config. The tiny VAE's first config (one scale, 0.50608, no per-channel
# statistics) is rebuilt from the shipped one into the work folder.
BASE = "cpu"
GLOBAL_SCALE = 0.50608
BASE_OVERRIDES = ["data.vae={work}/tiny-vae-global", "data.latent_cache={work}/latent-cache/global",
                  "diffusion.min_snr_gamma=null", "train.batch_size=16", "train.lr=1.0e-3"]
PIXELS16 = ["data.vae=null", "data.latent_cache=null", "data.length=100000", "data.image_size=16",
            "model.input_size=16", "model.in_channels=3"]
PIXELS32 = [*PIXELS16[:3], "data.image_size=32", "model.input_size=32", "model.in_channels=3"]

NORM = ["data.vae=data_samples/tiny-vae", "data.latent_cache={work}/latent-cache/norm"]

# name: (lever, overrides of BASE, note)
ARMS: dict[str, tuple[str, list[str], str]] = {
    "base": ("base", [], "the previous CPU recipe: latents with one global scale, batch 16, lr 1e-3"),
    "official": ("official recipe", ["diffusion.prediction=epsilon", "diffusion.noise_schedule=linear",
                                     "train.ema_decay=0.9999", "train.ema_warmup=false", "train.lr=1.0e-4",
                                     "train.warmup_steps=0", "train.grad_clip=null"],
                 "Latte: eps, linear beta, EMA 0.9999 no warm-up, lr 1e-4, fp32"),
    "pixels16-p4": ("representation", [*PIXELS16, "model.patch_size=4"], "pixels 16x16, patch 4 (16 tokens/frame)"),
    "pixels32-p8": ("representation", [*PIXELS32, "model.patch_size=8"], "pixels 32x32, patch 8 (16 tokens/frame)"),
    "latent-norm": ("representation", NORM, "latents normalised per channel (latents_mean/std)"),
    "latent-p1": ("representation", ["model.patch_size=1"], "latents 8x8, patch 1 (64 tokens/frame)"),
    "eps": ("objective", ["diffusion.prediction=epsilon"], "epsilon prediction"),
    "x0": ("objective", ["diffusion.prediction=x_start"], "x_0 prediction"),
    "min-snr5": ("objective", ["diffusion.min_snr_gamma=5"], "Min-SNR-5 loss weighting"),
    "linear": ("objective", ["diffusion.noise_schedule=linear"], "linear beta schedule"),
    "w64-d8": ("width/depth", ["model.hidden_size=64", "model.depth=8"], "64 wide, 8 blocks"),
    "w96-d8": ("width/depth", ["model.depth=8"], "96 wide, 8 blocks"),
    "bs32": ("batch/lr", ["train.batch_size=32"], "batch 32"),
    "lr2e-3": ("batch/lr", ["train.lr=2.0e-3"], "lr 2e-3"),
    "ema0.9999": ("EMA", ["train.ema_decay=0.9999"], "EMA 0.9999 with warm-up"),
    # Round 2: levers combined on the per-channel normalised latents.
    "norm-bs8": ("combined", [*NORM, "train.batch_size=8"], "normalised latents, batch 8"),
    "norm-cosine": ("combined", [*NORM, "train.lr_decay=cosine"], "normalised latents, cosine lr decay"),
    "norm-lr2e-3-cosine": ("combined", [*NORM, "train.lr=2.0e-3", "train.lr_decay=cosine"],
                           "normalised latents, lr 2e-3, cosine decay"),
    "norm-lr2e-3-snr": ("combined", [*NORM, "train.lr=2.0e-3", "diffusion.min_snr_gamma=5"],
                        "normalised latents, lr 2e-3, Min-SNR-5"),
    "norm-lr2e-3-snr-cosine": ("combined", [*NORM, "train.lr=2.0e-3", "diffusion.min_snr_gamma=5",
                                            "train.lr_decay=cosine"],
                               "normalised latents, lr 2e-3, Min-SNR-5, cosine decay"),
    "norm-lr3e-3-snr-cosine": ("combined", [*NORM, "train.lr=3.0e-3", "diffusion.min_snr_gamma=5",
                                            "train.lr_decay=cosine"],
                               "normalised latents, lr 3e-3, Min-SNR-5, cosine decay"),
    "norm-bs8-lr2e-3-snr": ("combined", [*NORM, "train.batch_size=8", "train.lr=2.0e-3", "diffusion.min_snr_gamma=5"],
                            "normalised latents, batch 8, lr 2e-3, Min-SNR-5"),
    "norm-bs8-lr2e-3-snr-cosine": ("combined", [*NORM, "train.batch_size=8", "train.lr=2.0e-3",
                                                "diffusion.min_snr_gamma=5", "train.lr_decay=cosine"],
                                   "normalised latents, batch 8, lr 2e-3, Min-SNR-5, cosine decay"),
    "norm-bs4-lr2e-3-snr": ("combined", [*NORM, "train.batch_size=4", "train.lr=2.0e-3", "diffusion.min_snr_gamma=5"],
                            "normalised latents, batch 4, lr 2e-3, Min-SNR-5"),
}

# Arms whose steps cost what another arm's cost (only the objective, learning rate or EMA differ) take
# that arm's calibrated steps/s: equal steps, so the timing noise of a calibration (about ±20 % on
# this shared 2-core machine) cannot favour one of them.
SAME_COST = {**{n: "base" for n in ("official", "eps", "x0", "min-snr5", "linear", "lr2e-3", "ema0.9999")},
             **{n: "latent-norm" for n in ("norm-cosine", "norm-lr2e-3-cosine", "norm-lr2e-3-snr",
                                           "norm-lr2e-3-snr-cosine", "norm-lr3e-3-snr-cosine")},
             "norm-bs8-lr2e-3-snr-cosine": "norm-bs8-lr2e-3-snr"}

# Sampler and guidance are evaluation choices: scored on one trained arm (--eval-arm), no retraining.
EVAL_VARIANTS = {
    "ddim50-cfg3": ("ddim", 50, 3.0),
    "ddpm250-cfg3": ("ddpm", 250, 3.0),
    "ddim25-cfg3": ("ddim", 25, 3.0),
    "ddim50-cfg1": ("ddim", 50, 1.0),
    "ddim50-cfg2": ("ddim", 50, 2.0),
    "ddim50-cfg5": ("ddim", 50, 5.0),
}
DEFAULT_EVAL = "ddim50-cfg3"
EVAL_LIVE = {"official"}        # also scored with the live weights: its EMA 0.9999 barely moves in a short run


def _machine() -> str:
    import torch
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def calibrate(cfg, out_dir: Path, steps: int) -> float:
    """Training steps per second of ``cfg`` on this machine (the first 5 steps are not timed)."""
    import copy

    from minilatte.train import Trainer

    cfg = copy.deepcopy(cfg)
    cfg.train.steps = steps + 5
    trainer = Trainer(cfg, out_dir, progress=False)
    batches = iter(trainer.loader())
    for _ in range(5):
        trainer.train_step(next(batches))
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(next(batches))
    return steps / (time.perf_counter() - start)


def run_arm(name: str, args) -> dict:
    """Calibrate, train for the budget, evaluate; writes and returns ``work/NAME/result.json``."""
    import torch

    from minilatte.config import load_config
    from minilatte.evaluate import evaluate
    from minilatte.train import train

    torch.set_num_threads(args.threads)
    lever, overrides, note = ARMS[name]
    folder = Path(args.work) / name
    result_path = folder / "result.json"
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    overrides = [o.format(work=args.work) for o in (*BASE_OVERRIDES, *overrides)]
    cfg = load_config(BASE, [*overrides, "train.num_sample_videos=0"])
    if "steps" not in result:
        twin = Path(args.work) / SAME_COST.get(name, "-") / "result.json"
        if twin.is_file():    # an arm that costs the same per step as another gets its step count
            rate, calibrated_by = json.loads(twin.read_text())["calib_steps_per_s"], SAME_COST[name]
        else:
            rate, calibrated_by = calibrate(cfg, folder / "calibration", args.calib_steps), name
        steps = max(1, int(args.budget * rate))
        result = {"arm": name, "lever": lever, "note": note, "overrides": overrides, "budget_s": args.budget,
                  "calib_steps_per_s": rate, "calibrated_by": calibrated_by, "steps": steps, "threads": args.threads}
    cfg = load_config(BASE, [*overrides, "train.num_sample_videos=0", f"train.steps={result['steps']}",
                             f"train.ckpt_every={result['steps']}", "train.log_every=50"])
    if "train_s" not in result:
        start = time.perf_counter()
        trained = train(cfg, folder / "run", resume=True, progress=False)
        result.update(train_s=time.perf_counter() - start, final_loss=trained.final_loss)
        _write(result_path, result)
    variants = EVAL_VARIANTS if name == args.eval_arm else {DEFAULT_EVAL: EVAL_VARIANTS[DEFAULT_EVAL]}
    if name in EVAL_LIVE:
        variants = {**variants, f"{DEFAULT_EVAL}-live": EVAL_VARIANTS[DEFAULT_EVAL]}
    result.setdefault("evals", {})
    for key, (sampler, steps, cfg_scale) in variants.items():
        if key in result["evals"]:
            continue
        start = time.perf_counter()
        source = live_weights(folder / "run") if key.endswith("-live") else folder / "run"
        scores = evaluate(source, ["acc", "fd-probe", "kid"], num_samples=args.num_samples,
                          sampler=sampler, steps=steps, cfg_scale=cfg_scale, progress=False)
        result["evals"][key] = {"sample_s": time.perf_counter() - start, "metrics": scores["metrics"]}
        _write(result_path, result)
    return result


def global_scale_vae(work: Path) -> None:
    """``work/tiny-vae-global``: the shipped tiny VAE with its first config (one latent scale)."""
    import shutil

    from minilatte.assets import data_sample
    target = work / "tiny-vae-global"
    if (target / "config.json").is_file():
        return
    shutil.copytree(data_sample("tiny-vae"), target)
    config = json.loads((target / "config.json").read_text())
    config.update(latents_mean=None, latents_std=None, scaling_factor=GLOBAL_SCALE)
    (target / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def live_weights(run: Path) -> Path:
    """A sampling folder whose "EMA" weights are the run's live weights (to score them with ``evaluate``)."""
    import shutil

    from minilatte.checkpoint import resolve_checkpoint
    source, target = resolve_checkpoint(run), run.parent / "live"
    target.mkdir(exist_ok=True)
    shutil.copy(source / "config.yaml", target / "config.yaml")
    shutil.copy(source / "model.safetensors", target / "ema.safetensors")
    return target


def score_run(run: str, variants: list[str], args) -> dict:
    """Score a finished run (e.g. the demo's) with several sampler/guidance settings; cached per setting."""
    import torch

    from minilatte.evaluate import evaluate

    torch.set_num_threads(args.threads)
    path = RESULTS / "recipe_search_samplers.json"
    result = json.loads(path.read_text()) if path.is_file() else {"run": run, "evals": {}}
    for key in variants:
        if key in result["evals"]:
            continue
        sampler, steps, cfg_scale = EVAL_VARIANTS[key]
        start = time.perf_counter()
        scores = evaluate(run, ["acc", "fd-probe", "kid"], num_samples=args.num_samples, sampler=sampler,
                          steps=steps, cfg_scale=cfg_scale, progress=False)
        result["evals"][key] = {"sample_s": time.perf_counter() - start, "metrics": scores["metrics"]}
        _write(path, result)
    return result


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _fmt(m: dict, digits: int = 3) -> str:
    return f"{m['value']:.{digits}g} [{m['ci_low']:.{digits}g}, {m['ci_high']:.{digits}g}]"


def table(results: list[dict]) -> str:
    rows = ["| arm | lever | what | steps | train s | sampler | content acc [95%] | worst class | "
            "FD-probe [95%] | FD / real-real | KID |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for key, ev in r.get("evals", {}).items():
            m = ev["metrics"]
            worst = min(m["acc"]["per_class"].items(), key=lambda kv: kv[1]["value"])
            fd = m["fd-probe"]
            note = ARMS[r["arm"]][2] if r["arm"] in ARMS else r["note"]
            rows.append(f"| {r['arm']} | {r['lever']} | {note} | {r['steps']} | {r['train_s']:.0f} | {key} | "
                        f"{_fmt(m['acc'], 2)} | {worst[0]} {worst[1]['value']:.2f} | {_fmt(fd)} | "
                        f"{fd['value'] / fd['reference']:.1f}x | {m['kid']['value']:.3f} |")
    return "\n".join(rows)


def report(args) -> None:
    results = [json.loads((Path(args.work) / n / "result.json").read_text()) for n in ARMS
               if (Path(args.work) / n / "result.json").is_file()]
    results = [r for r in results if "evals" in r]
    header = (f"Recipe search, {time.strftime('%Y-%m-%d')}: {_machine()}; each arm {args.threads} thread(s), "
              f"{args.jobs} arm(s) at a time; training budget {args.budget:.0f} s per arm; "
              f"{args.num_samples} sampled clips per evaluation.\n\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "recipe_search.json").write_text(json.dumps({"machine": _machine(), "budget_s": args.budget,
                                                           "arms": results}, indent=2) + "\n")
    (RESULTS / "recipe_search.md").write_text(header + table(results) + "\n")
    print(header + table(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", default="all", help=f"comma-separated arm names or 'all': {', '.join(ARMS)}")
    parser.add_argument("--budget", type=float, default=240.0, help="training seconds per arm")
    parser.add_argument("--calib-steps", type=int, default=30)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per arm")
    parser.add_argument("--jobs", type=int, default=1, help="arms trained at the same time")
    parser.add_argument("--work", default="runs/recipe-search", help="folder of per-arm runs and results")
    parser.add_argument("--eval-arm", default="", help="arm also scored with every sampler/guidance setting")
    parser.add_argument("--report", action="store_true", help="only write the table from cached results")
    parser.add_argument("--score", metavar="RUN", help="score a trained run with the --variants settings instead")
    parser.add_argument("--variants", default=",".join(EVAL_VARIANTS), help="sampler/guidance settings for --score")
    parser.add_argument("--one", help=argparse.SUPPRESS)          # internal: run one arm in this process
    args = parser.parse_args()
    if args.score:
        for key, ev in score_run(args.score, args.variants.split(","), args)["evals"].items():
            m = ev["metrics"]
            print(f"{key}: acc {_fmt(m['acc'], 2)}, FD-probe {_fmt(m['fd-probe'])} (real vs real "
                  f"{m['fd-probe']['reference']:.2f}), {ev['sample_s']:.0f} s")
        return
    if args.one:
        run_arm(args.one, args)
        return
    if args.report:
        report(args)
        return
    names = list(ARMS) if args.arms == "all" else args.arms.split(",")
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        parser.error(f"unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    # Build the shared latent cache once, before arms run side by side.
    from minilatte.config import load_config
    from minilatte.train import Trainer
    global_scale_vae(Path(args.work))
    Trainer(load_config(BASE, [o.format(work=args.work) for o in BASE_OVERRIDES] + ["train.steps=1"]),
            Path(args.work) / "cache-build", progress=False)
    pending, running = list(names), []
    passthrough = ["--budget", str(args.budget), "--calib-steps", str(args.calib_steps), "--num-samples",
                   str(args.num_samples), "--threads", str(args.threads), "--work", args.work,
                   "--eval-arm", args.eval_arm]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            log = open(Path(args.work) / f"{name}.log", "w")
            running.append((name, subprocess.Popen([sys.executable, __file__, "--one", name, *passthrough],
                                                   stdout=log, stderr=subprocess.STDOUT, env=env)))
            print(f"started {name}", flush=True)
        time.sleep(2)
        for item in list(running):
            if item[1].poll() is not None:
                running.remove(item)
                print(f"finished {item[0]} (exit {item[1].returncode})", flush=True)
    report(args)


if __name__ == "__main__":
    main()
