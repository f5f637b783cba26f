"""Video data: synthetic datasets made on the fly, video folders, image-video joint batches."""
from .joint import JointImageVideo
from .video_folder import VideoFolder, count_frames, read_frames
from .synthetic import SYNTHETIC, Clouds, MovingDigits, Shapes, SyntheticVideos, synthetic_dataset

__all__ = ["VideoFolder", "count_frames", "read_frames", "JointImageVideo", "SYNTHETIC", "Clouds", "MovingDigits", "Shapes", "SyntheticVideos", "synthetic_dataset"]
