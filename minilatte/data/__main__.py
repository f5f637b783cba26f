"""``python -m minilatte.data --out DIR``: GIFs (and PNG contact sheets) to look at the data.

Writes one grid of clips per synthetic dataset, a round trip through real mp4 files (synthetic clips
encoded with PyAV, read back by VideoFolder with frame_interval 2) and an image-video joint item.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..viz import save_frames_png, save_gif
from . import JointImageVideo, VideoFolder, synthetic_dataset, write_video


def balanced_items(ds, n: int) -> list[dict]:
    """The first ``n`` items that show every content class about equally often."""
    per_class, counts, items = -(-n // ds.num_classes), [0] * ds.num_classes, []
    for i in range(len(ds)):
        item = ds[i]
        if counts[item["label"]] < per_class:
            counts[item["label"]] += 1
            items.append(item)
        if len(items) == n:
            break
    return items


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(prog="python -m minilatte.data", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/data", help="output folder (default: runs/data)")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (default: 16)")
    parser.add_argument("--size", type=int, default=64, help="frame height and width (default: 64)")
    parser.add_argument("--clips", type=int, default=8, help="clips per grid (default: 8)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scale = max(1, 128 // args.size)                     # small clips are blown up to be visible
    written = []

    def save(videos: torch.Tensor, name: str, note: str = "") -> None:
        written.extend([save_gif(videos, out / f"{name}.gif", ncols=4, scale=scale),
                        save_frames_png(videos, out / f"{name}.png", scale=scale)])
        print(f"wrote {out / name}.gif and .png{note}")

    for name in ("shapes", "moving-digits", "clouds"):
        ds = synthetic_dataset(name, num_frames=args.frames, image_size=args.size)
        items = balanced_items(ds, args.clips)
        labels = ", ".join(f"{ds.class_names[it['label']]}/{ds.motion_names[it['motion']]}" for it in items)
        save(torch.stack([it["video"] for it in items]), name, f"  (content/motion: {labels})")

    # Real files: synthetic clips twice as long, encoded to mp4, read back every ~2nd frame.
    clips = out / "mp4"
    source = synthetic_dataset("shapes", num_frames=2 * args.frames, image_size=args.size, seed=1)
    for i, item in enumerate(balanced_items(source, 4)):
        write_video(clips / f"clip{i}.mp4", item["video"])
    loaded = VideoFolder(clips, num_frames=args.frames, frame_interval=2, image_size=args.size, train=False)
    save(torch.stack([loaded[i]["video"] for i in range(len(loaded))]), "mp4_round_trip",
         f"  ({len(loaded)} mp4 files in {clips} read back, frame_interval 2)")

    joint = JointImageVideo(synthetic_dataset("shapes", num_frames=args.frames, image_size=args.size), num_images=4)
    item = joint[0]
    save(item["video"][None], "joint_item", f"  ({args.frames} video frames + 4 images of other clips, "
         f"video label {item['label']}, image labels {item['image_labels'].tolist()})")
    return written


if __name__ == "__main__":
    main()
