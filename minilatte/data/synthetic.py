"""Synthetic video datasets that exist instantly, offline, at any size: each clip is made on the fly.

Every clip is a function of (seed, index) only — the same clip in every epoch, process and access
order — with a **content** label (what moves) and a **motion** label (how it moves), so
class-conditional training and motion-aware checks work on them.

* ``shapes`` — one coloured square, circle or triangle bouncing off the walls (content = shape,
  motion = one of 8 start directions).
* ``moving-digits`` — a real handwritten digit (scikit-learn's 8×8 digits, shipped inside the
  scikit-learn package: nothing is downloaded) bouncing like Moving-MNIST (content = digit 0–9,
  motion = start direction).
* ``clouds`` — soft fractal clouds drifting over a blue sky, SkyTimelapse-like (one content class,
  motion = drift direction): the unconditional case.

They are built to be learnable by a tiny model on a CPU at 16×16 or 32×32 and 8 frames: one large,
high-contrast object on a plain background, a handful of colours, object size and speed given as
fractions of ``image_size`` so a clip looks the same at every resolution. Rendering is vectorised
numpy (no per-pixel Python loops): a 16×64×64 clip takes 1–3 ms.

Clips are float32 tensors (F, 3, H, W) in [-1, 1]. A longer clip continues a shorter one: frame f
of item i does not depend on ``num_frames``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset

# Motion classes: the start direction, counter-clockwise from east, as on a compass.
DIRECTIONS = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")

# Few, saturated colours: easy to tell apart from the black background and from each other.
PALETTE = np.array([[1.0, 0.25, 0.2], [0.2, 0.85, 0.3], [0.25, 0.45, 1.0],
                    [1.0, 0.85, 0.15], [0.9, 0.3, 0.95], [0.2, 0.9, 0.95]])


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return int(value)


def bounce(start: np.ndarray, velocity: np.ndarray, low: float, high: float, num_frames: int) -> np.ndarray:
    """Positions (F, 2) of a point starting at ``start`` (2,), moving ``velocity`` (2,) per frame and
    reflecting off the walls ``low`` and ``high`` on both axes.

    Closed form, no loop: unfold the path onto a line of period 2·span, then fold it back — a mirror
    image of a straight line is exactly a bouncing path.
    """
    span = high - low
    unfolded = start[None] - low + velocity[None] * np.arange(num_frames)[:, None]
    folded = np.mod(unfolded, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def direction_velocity(rng: np.random.Generator, motion: int, speed: float) -> np.ndarray:
    """Velocity (x, y) in pixels per frame for motion class ``motion`` (an index into DIRECTIONS).

    A little angle jitter (±11°) so clips of one class are not all parallel; image y points down,
    hence the minus sign that makes "N" move up.
    """
    angle = motion * 2 * math.pi / len(DIRECTIONS) + rng.uniform(-0.2, 0.2)
    return speed * np.array([math.cos(angle), -math.sin(angle)])


class SyntheticVideos(Dataset):
    """Base class: ``length`` clips of ``num_frames`` frames of ``image_size``², generated per index.

    Item i = {"video": (F, 3, H, W) float32 in [-1, 1], "label": content class, "motion": motion class}.
    Subclasses implement ``render`` and set ``class_names`` / ``motion_names``.
    """

    name = ""
    class_names: tuple[str, ...] = ()
    motion_names: tuple[str, ...] = DIRECTIONS

    def __init__(self, num_frames: int = 16, image_size: int = 64, seed: int = 0, length: int = 1000,
                 frame_interval: int = 1):
        self.num_frames = _positive_int("num_frames", num_frames)
        self.frame_interval = _positive_int("frame_interval", frame_interval)
        self.image_size = _positive_int("image_size", image_size)
        self.length = _positive_int("length", length)
        if self.image_size < 8:
            raise ValueError(f"image_size={image_size} is too small; use at least 8")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        self.seed = int(seed)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_motions(self) -> int:
        return len(self.motion_names)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.length} clips of {self.num_frames}x{self.image_size}x"
                f"{self.image_size}, {self.num_classes} classes, {self.num_motions} motions, seed={self.seed}"
                + (f", frame_interval={self.frame_interval})" if self.frame_interval > 1 else ")"))

    def __getitem__(self, index: int) -> dict:
        rng, label, motion = self._draw(index)
        frames = self.render(rng, label, motion)                           # (F, H, W, 3) in [0, 1]
        frames = frames[::self.frame_interval]                             # rendered F x interval frames long
        # Scale and reorder in numpy: a torch op on a tensor this small can cost more in thread
        # wake-ups than in arithmetic when the CPU is busy.
        video = rearrange(frames.astype(np.float32) * 2 - 1, "f h w c -> f c h w")
        return {"video": torch.from_numpy(np.ascontiguousarray(video)), "label": label, "motion": motion}

    def _draw(self, index: int) -> tuple[np.random.Generator, int, int]:
        """The item's generator, after drawing its content and motion labels."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} clips")
        # One generator per item, seeded by (seed, index): the clip never depends on which items
        # were drawn before it, so workers, resumed runs and shuffles all see the same data.
        rng = np.random.default_rng([self.seed, int(index)])
        return rng, int(rng.integers(self.num_classes)), int(rng.integers(self.num_motions))

    def attributes(self, index: int) -> dict:
        """What clip ``index`` shows, without rendering it: {"label", "motion"} and the subclass's
        ``details`` (a shape's colour), for captions."""
        rng, label, motion = self._draw(index)
        return {"label": label, "motion": motion, **self.details(rng, label, motion)}

    def details(self, rng: np.random.Generator, label: int, motion: int) -> dict:
        """Random draws of a clip that a caption can name, drawn from ``rng`` as ``render`` draws them."""
        return {}

    def random_image(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        """One random frame (C, H, W) of clip ``index`` and its label (for image-video joint batches)."""
        item = self[index]
        return item["video"][int(rng.integers(self.num_frames))], item["label"]

    def render(self, rng: np.random.Generator, label: int, motion: int) -> np.ndarray:
        """Frames (F, H, W, 3) in [0, 1] for one clip; draw all randomness from ``rng``."""
        raise NotImplementedError


class Shapes(SyntheticVideos):
    """A coloured square, circle or triangle bouncing off the walls, antialiased, on black."""

    name = "shapes"
    class_names = ("square", "circle", "triangle")

    def details(self, rng, label, motion):
        """Size, velocity and colour (an index into PALETTE): the draws before the start position."""
        S = self.image_size
        radius = S * rng.uniform(0.22, 0.28)              # half the object's width: large at any size
        speed = S * rng.uniform(0.06, 0.09)               # about one object-width every 6 frames
        velocity = direction_velocity(rng, motion, speed)
        return {"radius": radius, "velocity": velocity, "colour": int(rng.integers(len(PALETTE)))}

    def render(self, rng, label, motion):
        S, F = self.image_size, self.num_frames * self.frame_interval   # rendered frames
        drawn = self.details(rng, label, motion)
        radius, velocity, colour = drawn["radius"], drawn["velocity"], PALETTE[drawn["colour"]]
        start = rng.uniform(radius, S - radius, size=2)
        centres = bounce(start, velocity, radius, S - radius, F)             # (F, 2) as (x, y)
        # Signed distance (in pixels) from every pixel centre to the shape's outline, for all frames
        # at once: negative inside. Every shape fits in the box centre ± radius, so it stays in frame.
        pixel = np.arange(S) + 0.5
        dx = pixel[None, None, :] - centres[:, 0, None, None]                # (F, 1, W)
        dy = pixel[None, :, None] - centres[:, 1, None, None]                # (F, H, 1)
        if label == 0:       # square: the L∞ distance
            sdf = np.maximum(np.abs(dx), np.abs(dy)) - 0.85 * radius
        elif label == 1:     # circle: the L2 distance
            sdf = np.sqrt(dx ** 2 + dy ** 2) - radius
        else:                # triangle of side 2·radius pointing up: three half-planes, unit normals
            inradius = radius / math.sqrt(3)
            y = dy - inradius / 2      # y from the centroid, which sits h/6 below the box centre
            bottom = y - inradius
            upper_left = -0.5 * y - 0.866 * dx - inradius
            upper_right = -0.5 * y + 0.866 * dx - inradius
            sdf = np.maximum(bottom, np.maximum(upper_left, upper_right))
        # Antialiasing for free: the fraction of a pixel covered by the shape ≈ 0.5 − distance.
        coverage = np.clip(0.5 - sdf, 0.0, 1.0)                               # (F, H, W)
        return coverage[..., None] * colour


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic interpolation kernel (a = −0.5), the kernel behind "bicubic" resizing."""
    x = np.abs(x)
    return np.where(x <= 1, (1.5 * x - 2.5) * x * x + 1,
                    np.where(x < 2, ((-0.5 * x + 2.5) * x - 4) * x + 2, 0.0))


def place_sprite_weights(offsets: np.ndarray, sprite_px: int, size: float, image_size: int) -> np.ndarray:
    """Resampling weights (F, S, sprite_px) that put a sprite of ``sprite_px`` pixels, drawn ``size``
    pixels wide with its edge at ``offsets`` (F,), onto a line of ``image_size`` pixels.

    Scaling plus translation is separable, so a frame is two small matrix products:
    frame = Wy @ sprite @ Wxᵀ. Sub-pixel offsets give smooth motion even at 16×16.
    """
    scale = sprite_px / size                                                   # sprite px per image px
    u = (np.arange(image_size)[None, :] + 0.5 - offsets[:, None]) * scale     # (F, S) in sprite coordinates
    distance = u[:, :, None] - (np.arange(sprite_px) + 0.5)                    # (F, S, sprite_px)
    stretch = max(1.0, scale)             # when shrinking, widen the kernel: an antialiasing filter
    return _cubic(distance / stretch) / stretch


class MovingDigits(SyntheticVideos):
    """A white handwritten digit bouncing on black, Moving-MNIST style, from scikit-learn's digits."""

    name = "moving-digits"
    class_names = tuple(str(d) for d in range(10))
    _digits: dict[int, np.ndarray] | None = None

    @classmethod
    def digits(cls) -> dict[int, np.ndarray]:
        """scikit-learn's 1,797 handwritten 8×8 digits (values 0..1), as {digit: (N, 8, 8)}."""
        if cls._digits is None:
            from sklearn.datasets import load_digits   # heavy (~2 s), digits only; a file inside the package
            data = load_digits()
            images = data.images.astype(np.float32) / 16.0
            cls._digits = {d: images[data.target == d] for d in range(10)}
        return cls._digits

    def render(self, rng, label, motion):
        S, F = self.image_size, self.num_frames * self.frame_interval   # rendered frames
        glyphs = self.digits()[label]
        glyph = glyphs[rng.integers(len(glyphs))]                                  # (8, 8)
        size = S * rng.uniform(0.55, 0.65)              # the 8×8 glyph drawn this many pixels wide
        speed = S * rng.uniform(0.05, 0.08)
        velocity = direction_velocity(rng, motion, speed)
        start = rng.uniform(0, S - size, size=2)
        corners = bounce(start, velocity, 0.0, S - size, F)                        # (F, 2) top-left (x, y)
        wx = place_sprite_weights(corners[:, 0], 8, size, S)                        # (F, W, 8)
        wy = place_sprite_weights(corners[:, 1], 8, size, S)                        # (F, H, 8)
        frames = np.einsum("fhi,ij,fwj->fhw", wy, glyph, wx, optimize=True)      # Wy @ glyph @ Wxᵀ
        # The 8×8 digits are 4×4-pooled scans, so upscaling leaves soft strokes; a contrast curve
        # (smoothstep around 0.35) makes crisp, nearly two-tone strokes that a small model learns faster.
        t = np.clip((frames - 0.1) / 0.5, 0.0, 1.0)
        frames = t * t * (3 - 2 * t)
        return np.repeat(frames[..., None], 3, axis=-1)


class Clouds(SyntheticVideos):
    """Soft fractal clouds drifting over a blue sky gradient, SkyTimelapse-like (label 0)."""

    name = "clouds"
    class_names = ("sky",)

    def render(self, rng, label, motion):
        S, F = self.image_size, self.num_frames * self.frame_interval   # rendered frames
        # Fractal (1/f) noise made in Fourier space: random phases, amplitude falling like f^-1.8,
        # high frequencies cut so the texture stays smooth at small sizes.
        ky, kx = np.fft.fftfreq(S)[:, None], np.fft.rfftfreq(S)[None, :]          # cycles per pixel
        freq = np.sqrt(kx ** 2 + ky ** 2)
        amplitude = np.where(freq > 0, np.maximum(freq, 1e-6) ** -1.8, 0.0) * (freq < 0.3)
        spectrum = amplitude * np.exp(2j * np.pi * rng.uniform(size=amplitude.shape))
        # Drift = a phase ramp per frame (the Fourier shift theorem): exact sub-pixel translation,
        # wrapping around the borders so clouds never run out.
        velocity = direction_velocity(rng, motion, S * rng.uniform(0.03, 0.05))   # (x, y) px/frame
        t = np.arange(F)[:, None, None]
        shift = np.exp(-2j * np.pi * (kx * velocity[0] + ky * velocity[1]) * t)  # (F, H, W/2+1)
        field = np.fft.irfft2(spectrum[None] * shift, s=(S, S))                   # (F, H, W)
        field = (field - field[0].mean()) / (field[0].std() + 1e-8)                # from frame 0 only
        cover = np.clip(0.5 + 0.45 * field, 0.0, 1.0)[..., None]                   # cloud opacity
        brightness = np.linspace(0.75, 1.05, S)[:, None, None]                     # sky lighter at the horizon
        sky = brightness * np.array([0.25, 0.5, 0.95])                             # (H, 1, 3)
        return np.clip((1 - cover) * sky + cover, 0.0, 1.0)                        # white clouds over sky


SYNTHETIC = {cls.name: cls for cls in (Shapes, MovingDigits, Clouds)}


def synthetic_dataset(name: str, num_frames: int = 16, image_size: int = 64, seed: int = 0,
                      length: int = 1000, frame_interval: int = 1) -> SyntheticVideos:
    """A synthetic video dataset by name: ``"shapes"``, ``"moving-digits"`` or ``"clouds"``.

    ``length`` clips of (num_frames, 3, image_size, image_size); item i depends only on (seed, i).
    ``frame_interval`` k > 1 renders each clip k times as long and keeps every k-th frame, as a video
    folder samples a real video: objects move k times as far between the frames a clip shows.
    """
    if not isinstance(name, str) or name not in SYNTHETIC:
        raise ValueError(f"dataset={name!r} is not one of {', '.join(map(repr, SYNTHETIC))}")
    return SYNTHETIC[name](num_frames=num_frames, image_size=image_size, seed=seed, length=length,
                           frame_interval=frame_interval)
