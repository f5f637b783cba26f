"""``python -m minilatte.data_samples <what>``: make the small files shipped in ``data_samples/``.

Every file there is made by one of these commands, from nothing but this package:

* ``clips``        — ``clips/<dataset>/*.mp4``: 3 clips of each synthetic dataset, 16 frames of 32×32
  (also a tiny ``VideoFolder`` with the ucf101 layout: one class folder per dataset);
* ``tiny-vae``     — ``tiny-vae/``: the in-package AutoencoderKL (see ``minilatte.tiny_vae``);
* ``latte-shapes`` — ``latte-shapes/``: EMA weights + config of the ``cpu`` config trained to its end
  (the demo's model), loadable with ``minilatte.sample.load_for_sampling``;

The probe classifier of the synthetic-data metrics (``probe.safetensors``) is made by
``python -m minilatte.metrics train-probe``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .assets import DATA_SAMPLES
from .checkpoint import export_for_sampling
from .config import load_config
from .data import SYNTHETIC, synthetic_dataset, write_video
from .tiny_vae import train_tiny_vae
from .train import train

WHAT = ("clips", "tiny-vae", "latte-shapes")


def make_clips(out: Path, per_dataset: int = 3, num_frames: int = 16, image_size: int = 32) -> list[Path]:
    paths = []
    for name in SYNTHETIC:
        ds = synthetic_dataset(name, num_frames=num_frames, image_size=image_size, seed=0, length=per_dataset)
        for i in range(per_dataset):
            paths.append(write_video(out / "clips" / name / f"{name}_{i}.mp4", ds[i]["video"]))
    return paths


def make_latte_shapes(out: Path, run_dir: Path = Path("runs/data_samples/latte-shapes")) -> Path:
    result = train(load_config("cpu"), run_dir, resume=True)
    return export_for_sampling(result.checkpoint, out / "latte-shapes")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m minilatte.data_samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=WHAT)
    parser.add_argument("--out", type=Path, default=DATA_SAMPLES, help="folder (default: the repository's data_samples/)")
    args = parser.parse_args(argv)
    if args.what == "clips":
        made = make_clips(args.out)
    elif args.what == "tiny-vae":
        made = [train_tiny_vae(args.out / "tiny-vae")]
    else:
        made = [make_latte_shapes(args.out)]
    for path in made:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
