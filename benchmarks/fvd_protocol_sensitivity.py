"""How far FVD moves when one choice of the FVD protocol changes, on small synthetic data.

    python benchmarks/fvd_protocol_sensitivity.py [--num-videos 48] [--dataset clouds]

The "generated" set stands for a model that learned its training videos perfectly: clips cut from the
training videos the way Latte's training loader cuts them (16 frames spread over a 48-frame window,
frame interval 3). Every real set is then built one way or another, and the canonical I3D FVD between
the two is reported, so any FVD above the baseline comes from the protocol alone:

* the baseline — the official protocol: the training videos, 16 frames every 3 from a random start;
* the real split — held-out videos instead of the training ones (issue #103: "the split you trained on");
* the real subsample factor — 1 or 6 instead of 3 (issue #115: 6 for Taichi-HD);
* the resolution — real frames at half the generated frames' size (a different dataset release, #80);
* the number of videos — the baseline at fewer clips (FD is biased upward at small N);
* noise — the baseline again with other random clip starts, for the size of a change that means nothing.

Writes benchmarks/results/fvd_protocol_sensitivity.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from minilatte.data import synthetic_dataset
from minilatte.data.transforms import resize_center_crop, temporal_crop_indices
from minilatte.fvd_protocol import real_frame_indices
from minilatte.metrics import frechet_distance, i3d_features, load_i3d

RESULTS = Path(__file__).resolve().parent / "results"
LONG = 96                 # frames per synthetic "video": long enough for 16 frames every 6


def uint8(frames: torch.Tensor) -> torch.Tensor:
    """(F, 3, H, W) in [-1, 1] → (F, H, W, 3) uint8."""
    return rearrange(((frames + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), "f c h w -> f h w c")


def clips(videos, pick, size: int | None = None) -> torch.Tensor:
    """One 16-frame uint8 clip per video: frames ``pick(i)`` of video i, optionally resized to ``size``."""
    out = []
    for i, video in enumerate(videos):
        frames = video[torch.from_numpy(pick(i))]
        if size is not None:
            frames = resize_center_crop(frames, size)
        out.append(uint8(frames))
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-videos", type=int, default=48)
    parser.add_argument("--dataset", default="clouds")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS / "fvd_protocol_sensitivity")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start, n, size = time.time(), args.num_videos, args.image_size
    train = [synthetic_dataset(args.dataset, LONG, size, seed=0, length=n)[i]["video"] for i in range(n)]
    held_out = [synthetic_dataset(args.dataset, LONG, size, seed=1, length=n)[i]["video"] for i in range(n)]

    def every(factor, seed):
        return lambda i: real_frame_indices(LONG, 16, factor, np.random.default_rng([seed, i]))

    def training_loader(seed):
        return lambda i: temporal_crop_indices(LONG, 16, 3, np.random.default_rng([seed, i]))

    sets = {
        "generated": clips(train, training_loader(2)),
        "generated, other clip starts": clips(train, training_loader(5)),
        "real: train split, every 3 (protocol)": clips(train, every(3, 3)),
        "real: held-out split, every 3": clips(held_out, every(3, 3)),
        "real: train split, every frame": clips(train, every(1, 3)),
        "real: train split, every 6": clips(train, every(6, 3)),
        "real: train split, every 3, half resolution": clips(train, every(3, 3), size // 2),
    }
    i3d = load_i3d()
    features = {name: i3d_features(videos, model=i3d, device="cpu") for name, videos in sets.items()}
    fake, base = features["generated"], "real: train split, every 3 (protocol)"
    rows = [{"change": "none (the protocol)", "real set": base, "n": n, "fvd": frechet_distance(features[base], fake)}]
    for name in list(sets)[3:]:
        rows.append({"change": name.split(": ", 1)[1], "real set": name, "n": n,
                     "fvd": frechet_distance(features[name], fake)})
    for small in (n // 3, 2 * n // 3):
        rows.append({"change": f"{small} videos per set instead of {n}", "real set": base, "n": small,
                     "fvd": frechet_distance(features[base][:small], fake[:small])})
    rows.append({"change": "noise: generated clips with other random starts", "real set": base, "n": n,
                 "fvd": frechet_distance(features[base], features["generated, other clip starts"])})
    baseline = rows[0]["fvd"]
    for row in rows:
        row["vs protocol"] = row["fvd"] / baseline
    meta = {"date": date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, 1 thread",
            "torch": torch.__version__, "dataset": args.dataset, "image_size": size, "frames_per_video": LONG,
            "num_videos": n, "seconds": round(time.time() - start),
            "command": f"python benchmarks/fvd_protocol_sensitivity.py --num-videos {n} --dataset {args.dataset}"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"FVD (canonical I3D) between a perfect model's clips of `{args.dataset}` ({size}², {n} videos per set) "
             f"and real sets built one way or another; measured {meta['date']}, {meta['seconds']} s, "
             f"`{meta['command']}`.", "", "| change to the protocol | videos per set | FVD | × protocol |",
             "|---|---|---|---|"]
    lines += [f"| {r['change']} | {r['n']} | {r['fvd']:.1f} | {r['vs protocol']:.2f} |" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
