"""Synthetic video datasets that exist instantly, offline, at any size: each clip is made on the fly.

Every clip is a function of (seed, index) only — the same clip in every epoch, process and order —
with a **content** label (what moves) and a **motion** label (how it moves), so class-conditional
training and motion-aware evaluation work on them.

* ``shapes`` — one coloured square, circle or triangle bouncing off the walls (content = shape,
  motion = one of 8 start directions). Clear, high-contrast: a tiny model learns it on a CPU.
* ``moving-digits`` — a handwritten digit (scikit-learn's 8×8 digits, shipped with the package)
  bouncing like Moving-MNIST (content = digit, motion = direction).
* ``clouds`` — soft fractal clouds drifting over a blue sky, SkyTimelapse-like (one content class,
  motion = drift direction): for unconditional training.

Clips are float tensors (F, 3, H, W) in [-1, 1].
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

DIRECTIONS = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")
_PALETTE = np.array([[1.0, 0.25, 0.2], [0.2, 0.85, 0.3], [0.25, 0.45, 1.0], [1.0, 0.85, 0.15],
                     [0.9, 0.3, 0.95], [0.2, 0.9, 0.95]])


def _bounce(start: np.ndarray, velocity: np.ndarray, low: float, high: float, num_frames: int) -> np.ndarray:
    """Positions (F, 2) of a point moving at ``velocity`` and reflecting off [low, high] on both axes."""
    span = high - low
    raw = start[None] - low + velocity[None] * np.arange(num_frames)[:, None]   # unfolded path
    folded = np.mod(raw, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


class SyntheticVideos(Dataset):
    """Base class: ``length`` clips of ``num_frames`` frames at ``image_size``², generated per index."""

    name = ""
    class_names: tuple[str, ...] = ()
    motion_names: tuple[str, ...] = DIRECTIONS

    def __init__(self, num_frames: int = 16, image_size: int = 64, seed: int = 0, length: int = 1000):
        for arg, value in (("num_frames", num_frames), ("image_size", image_size), ("length", length)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}={value!r} must be a positive integer")
        if image_size < 8:
            raise ValueError(f"image_size={image_size} is too small; use at least 8")
        self.num_frames, self.image_size, self.seed, self.length = num_frames, image_size, seed, length

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_motions(self) -> int:
        return len(self.motion_names)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} clips")
        rng = np.random.default_rng([self.seed, index])
        label, motion = int(rng.integers(self.num_classes)), int(rng.integers(self.num_motions))
        frames = self.render(rng, label, motion)                           # (F, H, W, 3) in [0, 1]
        video = torch.from_numpy(frames.astype(np.float32)).permute(0, 3, 1, 2) * 2 - 1
        return {"video": video, "label": label, "motion": motion}

    def render(self, rng: np.random.Generator, label: int, motion: int) -> np.ndarray:
        raise NotImplementedError

    def _velocity(self, rng, motion: int, speed: float) -> np.ndarray:
        angle = motion * 2 * math.pi / len(DIRECTIONS) + rng.uniform(-0.2, 0.2)
        return speed * np.array([math.cos(angle), -math.sin(angle)])      # (x, y); image y points down


class Shapes(SyntheticVideos):
    name = "shapes"
    class_names = ("square", "circle", "triangle")

    def render(self, rng, label, motion):
        S, F = self.image_size, self.num_frames
        radius = S * rng.uniform(0.22, 0.28)
        speed = S * rng.uniform(0.07, 0.1)
        start = rng.uniform(radius, S - radius, size=2)
        centres = _bounce(start, self._velocity(rng, motion, speed), radius, S - radius, F)   # (F, 2)
        yy, xx = np.mgrid[0:S, 0:S] + 0.5                                   # pixel centres
        dx = xx[None] - centres[:, 0, None, None]                            # (F, H, W)
        dy = yy[None] - centres[:, 1, None, None]
        if label == 0:     # square: L∞ distance
            sdf = np.maximum(abs(dx), abs(dy)) - radius * 0.85
        elif label == 1:   # circle
            sdf = np.hypot(dx, dy) - radius
        else:              # upward triangle: intersection of three half-planes
            r = radius * 1.1
            edges = [dy - r * 0.5, -0.866 * dx - 0.5 * dy - r * 0.5, 0.866 * dx - 0.5 * dy - r * 0.5]
            sdf = np.maximum.reduce(edges)
        alpha = np.clip(0.5 - sdf, 0, 1)[..., None]                          # antialiased coverage
        colour = _PALETTE[rng.integers(len(_PALETTE))]
        return alpha * colour


class MovingDigits(SyntheticVideos):
    name = "moving-digits"
    class_names = tuple(str(d) for d in range(10))
    _digits: dict[int, list[np.ndarray]] | None = None

    @classmethod
    def digits(cls) -> dict[int, list[np.ndarray]]:
        """scikit-learn's 1,797 handwritten 8×8 digits (values 0..1), by class."""
        if cls._digits is None:
            from sklearn.datasets import load_digits
            data = load_digits()
            cls._digits = {d: [img / 16.0 for img, y in zip(data.images, data.target) if y == d] for d in range(10)}
        return cls._digits

    def render(self, rng, label, motion):
        S, F = self.image_size, self.num_frames
        glyphs = self.digits()[label]
        glyph = torch.from_numpy(glyphs[rng.integers(len(glyphs))]).float()[None, None]
        size = max(6, int(round(S * 0.5)))
        sprite = torch.nn.functional.interpolate(glyph, size=(size, size), mode="bicubic", align_corners=False)
        sprite = sprite.clamp(0, 1)[0, 0].numpy()
        speed = S * rng.uniform(0.07, 0.1)
        start = rng.uniform(0, S - size, size=2)
        corners = np.round(_bounce(start, self._velocity(rng, motion, speed), 0, S - size, F)).astype(int)
        frames = np.zeros((F, S, S), np.float32)
        for f, (x, y) in enumerate(corners):
            frames[f, y:y + size, x:x + size] = np.maximum(frames[f, y:y + size, x:x + size], sprite)
        return np.repeat(frames[..., None], 3, axis=-1)


class Clouds(SyntheticVideos):
    name = "clouds"
    class_names = ("sky",)

    def render(self, rng, label, motion):
        S, F = self.image_size, self.num_frames
        # Fractal noise: random phases with a 1/f^1.8 spectrum, shifted in Fourier space for smooth drift.
        k = np.fft.fftfreq(S)[:, None], np.fft.rfftfreq(S)[None, :]
        freq = np.hypot(*k)
        amplitude = np.where(freq > 0, np.maximum(freq, 1e-6) ** -1.8, 0.0) * (freq < 0.35)
        spectrum = amplitude * np.exp(2j * np.pi * rng.uniform(size=amplitude.shape))
        velocity = self._velocity(rng, motion, S * rng.uniform(0.03, 0.05))          # pixels per frame (x, y)
        t = np.arange(F)[:, None, None]
        shift = np.exp(-2j * np.pi * (k[1] * velocity[0] + k[0] * velocity[1]) * t)   # (F, H, W/2+1)
        field = np.fft.irfft2(spectrum[None] * shift, s=(S, S))                      # (F, H, W)
        field = (field - field.mean()) / (field.std() + 1e-8)
        cover = np.clip(0.5 + 0.45 * field, 0, 1)[..., None]
        sky = np.array([0.25, 0.5, 0.95]) * np.linspace(0.75, 1.05, S)[None, :, None, None].transpose(0, 1, 2, 3)
        return np.clip((1 - cover) * sky + cover * np.array([1.0, 1.0, 1.0]), 0, 1)


SYNTHETIC = {cls.name: cls for cls in (Shapes, MovingDigits, Clouds)}


def synthetic_dataset(name: str, num_frames: int = 16, image_size: int = 64, seed: int = 0,
                      length: int = 1000) -> SyntheticVideos:
    """A synthetic video dataset by name: ``shapes``, ``moving-digits`` or ``clouds``."""
    if name not in SYNTHETIC:
        raise ValueError(f"dataset={name!r} is not one of {', '.join(map(repr, SYNTHETIC))}")
    return SYNTHETIC[name](num_frames=num_frames, image_size=image_size, seed=seed, length=length)
