"""Video data: synthetic datasets made on the fly, folders of real videos, image-video joint batches.

    from minilatte.data import VideoFolder, synthetic_dataset, JointImageVideo

* ``synthetic.py`` — ``shapes``, ``moving-digits``, ``clouds``: clips rendered per index, offline;
* ``video_io.py`` — probing and decoding video files (PyAV) and frame folders;
* ``transforms.py`` — Latte's clip pipeline: temporal crop, resize + centre crop, flip, [-1, 1];
* ``video_folder.py`` — ``VideoFolder``: a folder of videos as a dataset, bad files skipped;
* ``joint.py`` — ``JointImageVideo``: a clip plus single frames of other clips;
* ``captions.py`` — ``CaptionedSynthetic``: the synthetic clips with captions written from their labels;
* ``captioned_folder.py`` — ``CaptionedVideoFolder``: real videos listed with captions in a CSV / JSONL index.

``python -m minilatte.data --out DIR`` writes GIFs of all of them to look at.
"""
from .captioned_folder import CaptionedVideoFolder
from .captions import CaptionedSynthetic
from .joint import JointImageVideo
from .synthetic import SYNTHETIC, Clouds, MovingDigits, Shapes, SyntheticVideos, synthetic_dataset
from .video_folder import LAYOUTS, VideoFolder
from .video_io import count_frames, read_frames, write_video

__all__ = ["VideoFolder", "synthetic_dataset", "JointImageVideo", "SYNTHETIC", "SyntheticVideos", "Shapes",
           "MovingDigits", "Clouds", "LAYOUTS", "count_frames", "read_frames", "write_video", "CaptionedSynthetic",
           "CaptionedVideoFolder"]
