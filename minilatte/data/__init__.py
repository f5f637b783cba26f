"""Video data: synthetic datasets made on the fly, video folders, image-video joint batches."""
from .joint import JointImageVideo
from .synthetic import SYNTHETIC, Clouds, MovingDigits, Shapes, SyntheticVideos, synthetic_dataset

__all__ = ["JointImageVideo", "SYNTHETIC", "Clouds", "MovingDigits", "Shapes", "SyntheticVideos", "synthetic_dataset"]
