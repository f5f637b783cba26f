"""Reading and writing video: files through PyAV (FFmpeg), and folders of frame images.

Two clip sources look the same from outside:

* a **video file** (mp4/avi/webm/mkv/mov/gif): frames are decoded with PyAV;
* a **frame folder** (png/jpg/...): frame i is the i-th image in natural order (``2.png`` before
  ``10.png``), the SkyTimelapse / Taichi-HD way of shipping clips.

``count_frames`` is the cheap probe used when a dataset is built (container metadata, or counting
packets without decoding them); ``read_frames`` decodes only what a clip needs: it seeks to the
key frame before the first wanted frame and stops after the last one.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

# PyAV and PIL are imported inside the readers and writers: only folder datasets and written sample
# videos need them, and every ``import minilatte.data`` (the CLI's --help included) would pay for them.

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def natural_key(name: str) -> list:
    """Sort key that compares digit runs as numbers: frame2.png < frame10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def is_image_file(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a frame folder, in natural order (hidden files such as ._0001.jpg ignored)."""
    names = [entry.name for entry in Path(folder).iterdir() if entry.is_file() and is_image_file(entry.name)]
    return [Path(folder) / name for name in sorted(names, key=natural_key)]


def count_frames(path: str | Path) -> int:
    """Frames in a video file or frame folder, cheaply; raises if the file cannot be opened.

    Video files: the container's frame count when it stores one (mp4, mov, avi), otherwise the
    number of video packets (mkv, webm, gif) — demuxing without decoding, one packet per frame.
    Frame folders: the number of images, after checking the first one's header opens.
    """
    path = Path(path)
    if path.is_dir():
        files = frame_files(path)
        if files:
            from PIL import Image
            with Image.open(files[0]) as image:      # reads the header only
                image.size
        return len(files)
    import av
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)    # size 0: end-of-stream marker


def read_frames(path: str | Path, indices) -> torch.Tensor:
    """Frames at ``indices`` (N,) of a video file or frame folder as uint8 (N, H, W, 3), in the
    order given (repeats allowed). Raises if any of them cannot be read."""
    path = Path(path)
    indices = [int(i) for i in np.asarray(indices).reshape(-1)]
    if not indices:
        raise ValueError("indices is empty; ask for at least one frame")
    if min(indices) < 0:
        raise ValueError(f"indices={indices} must be non-negative frame numbers")
    if path.is_dir():
        from PIL import Image
        files = frame_files(path)
        if max(indices) >= len(files):
            raise ValueError(f"frame {max(indices)} asked of a folder of {len(files)} frames")
        decoded = {i: np.asarray(Image.open(files[i]).convert("RGB")) for i in sorted(set(indices))}
    else:
        decoded = _decode_video(path, sorted(set(indices)))
    return torch.from_numpy(np.stack([decoded[i] for i in indices]))


def _decode_video(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """{frame index: (H, W, 3) uint8} for the sorted frame indices ``wanted``."""
    import av
    if wanted[0] > 0:
        with av.open(str(path)) as container:
            frames = _decode_after_seek(container, container.streams.video[0], wanted)
        if frames is not None:
            return frames
    # From the start, counting frames: always right, slower for a window late in a long video.
    frames = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames[i] = frame.to_ndarray(format="rgb24")      # convert only the frames we keep
            if i >= wanted[-1]:
                break
    if len(frames) < len(wanted):
        raise ValueError(f"only {len(frames)} of {len(wanted)} wanted frames could be decoded "
                         f"(frames {wanted[0]}..{wanted[-1]})")
    return frames


def _decode_after_seek(container, stream, wanted: list[int]) -> dict[int, np.ndarray] | None:
    """Seek to the key frame at or before frame ``wanted[0]`` and decode from there.

    A frame's index is read from its timestamp: index = (pts − start) · time_base · frame rate. That
    holds for constant-frame-rate video only, so the decoded run is checked (the first frame must not
    be past the target, then indices must go up by exactly one); on any doubt this returns None and
    the caller decodes from the start instead.
    """
    rate = stream.average_rate or stream.guessed_rate
    if not rate or stream.time_base is None:
        return None
    start = stream.start_time or 0
    seconds_per_pts = Fraction(stream.time_base)
    try:
        container.seek(start + int(Fraction(wanted[0]) / Fraction(rate) / seconds_per_pts),
                       stream=stream, backward=True, any_frame=False)
    except Exception:          # some demuxers (gif, a few avi) cannot seek
        return None
    frames, previous = {}, None
    for frame in container.decode(stream):
        if frame.pts is None:
            return None
        index = round((frame.pts - start) * seconds_per_pts * Fraction(rate))
        if (previous is None and index > wanted[0]) or (previous is not None and index != previous + 1):
            return None
        previous = index
        if index in wanted:
            frames[index] = frame.to_ndarray(format="rgb24")
        if index >= wanted[-1]:
            break
    return frames if len(frames) == len(wanted) else None


def write_video(path: str | Path, video: torch.Tensor, fps: int = 8, codec: str = "mpeg4",
                bit_rate: int = 4_000_000) -> Path:
    """Write a clip (F, 3, H, W) in [-1, 1] to a video file (H and W even for yuv420p codecs).

    mpeg4 is in every FFmpeg build; the generous bit rate keeps small synthetic clips free of
    blocking (FFmpeg's default rate smears a 32×32 clip). Colour edges still soften a little: yuv420p
    stores colour at half resolution.
    """
    import av
    frames = ((video.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    frames = frames.permute(0, 2, 3, 1).numpy()                                   # (F, H, W, 3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        stream.bit_rate = bit_rate
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():           # flush the encoder's buffered frames
            container.mux(packet)
    return path
