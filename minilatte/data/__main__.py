"""``python -m minilatte.data --out DIR``: GIFs of every synthetic dataset, a real mp4 round trip and a joint batch."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..viz import save_gif
from . import JointImageVideo, VideoFolder, synthetic_dataset


def write_mp4(path: Path, video: torch.Tensor, fps: int = 8) -> None:
    """(F, 3, H, W) in [-1, 1] -> an mpeg4 .mp4 file (H and W even)."""
    import av
    frames = ((video.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m minilatte.data", description=__doc__)
    parser.add_argument("--out", default="runs/data", help="output folder")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("shapes", "moving-digits", "clouds"):
        ds = synthetic_dataset(name, num_frames=args.frames, image_size=args.size)
        print(f"wrote {save_gif(torch.stack([ds[i]['video'] for i in range(8)]), out / f'{name}.gif', ncols=4, scale=2)}")
    clips = out / "mp4"
    clips.mkdir(exist_ok=True)
    source = synthetic_dataset("shapes", num_frames=2 * args.frames, image_size=args.size, seed=1)
    for i in range(4):
        write_mp4(clips / f"clip{i}.mp4", source[i]["video"])
    loaded = VideoFolder(clips, num_frames=args.frames, frame_interval=2, image_size=args.size, train=False)
    print(f"wrote {save_gif(torch.stack([loaded[i]['video'] for i in range(len(loaded))]), out / 'mp4_round_trip.gif', scale=2)}"
          f" ({len(loaded)} mp4 files read back, frame interval 2)")
    joint = JointImageVideo(synthetic_dataset("shapes", num_frames=args.frames, image_size=args.size), num_images=4)
    print(f"wrote {save_gif(joint[0]['video'], out / 'joint_batch.gif', scale=2)} "
          f"({args.frames} video frames + 4 images from other clips, labels {joint[0]['image_labels'].tolist()})")


if __name__ == "__main__":
    main()
