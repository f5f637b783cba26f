"""Reproduce the Latte paper's FVD for one dataset with one command.

    python -m minilatte reproduce --dataset ffs --checkpoint ffs.pt --vae sd-vae-ft-ema --data preprocess_ffs/train/videos
    torchrun --nproc_per_node 8 -m minilatte reproduce --dataset ucf101 ...      # the same numbers, sooner

It loads an official checkpoint (``convert.load_official_latte``) and a local diffusers VAE, samples the
protocol's number of videos with its sampler (``fvd_protocol.PROTOCOLS``), builds the real set as the
official FVD tool does, and writes ``OUT/fvd.json`` and ``OUT/fvd.md`` (the FVD next to the paper's).

**Shards.** Generated videos are made in shards of ``batch_size`` videos (``OUT/fake/shard_00012.npz``:
uint8 videos, labels and their I3D features), real clips in shards of features (``OUT/real/``). Each
file is written to a temporary name and renamed, so a shard on disk is always whole, and a rerun with the
same settings reuses every finished shard: an interrupted run continues where it stopped. Each shard
records a key of what it was made from — for a generated shard the settings and the size and
modification time of the checkpoint and VAE files, for a real shard the size and modification time of
each of its clips — and a shard whose key differs (a clip replaced, a checkpoint overwritten), or
that cannot be read, is made again: a rerun never reports an FVD of stale inputs.

**Processes.** Under ``torchrun`` process r does shards r, r + N, r + 2N, …; shard k's noise and class
labels come from (seed, k) alone, so 1 and N processes make the same videos. After a barrier process 0
fits the Gaussians to all features and computes one FD — over the whole sets, never per process (the
official tool's per-process statistics are why its maintainers compute FVD on one GPU, issue #135).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import torch

from .config import DiffusionSection, at_least
from .convert import load_official_latte
from .distributed import barrier, cleanup, setup_distributed
from .files import read_json_object, write_atomic, write_text_atomic
from .fvd_protocol import PROTOCOLS, SOURCES, find_real_videos, get_protocol, read_real_clip
from .metrics import frechet_distance, i3d_features, load_i3d, to_uint8_videos
from .metrics.fvd import MIN_FRAMES
from .run_folder import check_writable_dir
from .sample import sample_videos
from .vae import LatentCodec, vae_folder

REAL_SHARD_SIZE = 64          # real clips per feature shard: small enough to lose little on an interruption


@dataclass(frozen=True)
class Settings:
    """Everything the result depends on; a rerun into the same folder must agree on all of it."""
    dataset: str
    checkpoint: str
    vae: str
    data: str
    num_videos: int
    batch_size: int           # videos per shard: the shard is the unit of sampling, so it fixes the noise
    seed: int
    sampler: str
    sampling_steps: int
    cfg_scale: float
    num_frames: int
    resolution: int
    real_subsample_factor: int
    precision: str


def _seed_of(*parts: int) -> int:
    """One 63-bit seed from (seed, shard, ...): independent streams per shard, whatever the process count."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def save_npz_atomic(path: Path, **arrays) -> None:
    """Write ``path`` whole or not at all (:func:`minilatte.files.write_atomic`)."""
    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    write_atomic(path, save)


def load_shard(path: Path, key: str, size: int) -> dict | None:
    """A finished shard's arrays, or None when it is absent, unreadable, made from other inputs (its
    ``key`` differs) or not of ``size`` clips — then it is made again."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception:         # truncated or foreign: zipfile, numpy and OS errors alike
        return None
    if "key" not in arrays or str(arrays["key"]) != key or len(arrays.get("features", ())) != size:
        return None
    return arrays


def _file_stamps(path: str | Path) -> list:
    """(name, size, modification time) of a file, or of every file under a folder: what changes when it is replaced."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [(str(f), *(lambda st: (st.st_size, st.st_mtime_ns))(f.stat())) for f in files]


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def fake_shard_key(settings: Settings, shard: int, size: int) -> str:
    """What generated shard ``shard`` is made from: the settings and the checkpoint's and VAE's files."""
    return _key(vars(settings), shard, size, _file_stamps(settings.checkpoint), _file_stamps(settings.vae))


def real_shard_key(real_clips, clips: range, settings: Settings) -> str:
    """What real shard of ``clips`` is made from: those clips' files and how they are read."""
    return _key([(i, real_clips[i], _file_stamps(real_clips[i][0])) for i in clips], settings.num_frames,
                settings.real_subsample_factor, settings.resolution, settings.seed)


def shard_ranges(total: int, size: int) -> list[range]:
    return [range(start, min(start + size, total)) for start in range(0, total, size)]


# --------------------------------------------------------------------------- checks before any work


def check_inputs(dataset: str, checkpoint, vae, data, num_videos: int, batch_size: int) -> None:
    """One clear error for each input that cannot work, before anything is loaded or sampled."""
    get_protocol(dataset)
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {str(checkpoint)!r} is not a file (an official Latte .pt, e.g. ffs.pt)")
    if not (vae_folder(vae) / "config.json").is_file():
        raise FileNotFoundError(f"--vae {str(vae)!r} has no config.json (a local diffusers AutoencoderKL folder, "
                                "e.g. a copy of stabilityai/sd-vae-ft-ema)")
    if not Path(data).is_dir():
        raise FileNotFoundError(f"--data {str(data)!r} is not a folder")
    if isinstance(num_videos, bool) or not isinstance(num_videos, int) or num_videos < 2:
        raise ValueError(f"--num-videos {num_videos!r} must be at least 2 (a Fréchet distance fits a distribution)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"--batch-size {batch_size!r} must be a positive integer")


def check_model(model, protocol, codec) -> tuple[int, int]:
    """(frames, resolution) of the videos the checkpoint makes, after checking it fits the dataset."""
    cfg = model.config
    if cfg.num_classes != protocol.num_classes:
        kind = (f"a class-conditional checkpoint with {protocol.num_classes} classes" if protocol.num_classes
                else "an unconditional checkpoint")
        raise ValueError(f"--dataset {protocol.dataset} needs {kind}; this one has "
                         f"num_classes={cfg.num_classes}")
    if cfg.in_channels != codec.latent_channels:
        raise ValueError(f"the checkpoint works on {cfg.in_channels}-channel latents but the VAE makes "
                         f"{codec.latent_channels}")
    if cfg.num_frames < MIN_FRAMES:
        raise ValueError(f"the checkpoint makes {cfg.num_frames}-frame videos; the I3D needs at least {MIN_FRAMES}")
    return cfg.num_frames, cfg.input_size * codec.downsample


def check_settings_file(out: Path, settings: Settings) -> None:
    """A folder holding another run's shards is refused: mixing them would give a meaningless FVD."""
    path = out / "settings.json"
    if not path.is_file():
        return
    saved = read_json_object(path, "reproduce settings")
    changed = [f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in vars(settings).items() if saved.get(k) != v]
    if changed:
        raise ValueError(f"--out {str(out)!r} holds shards made with other settings ({'; '.join(changed)}); "
                         "use another --out or delete it")


# --------------------------------------------------------------------------- the two sets


def sample_fake_shard(model, codec, settings: Settings, num_classes: int, shard: int, size: int, device):
    """Shard ``shard``: ``size`` uint8 videos (n, F, H, W, 3) and their labels (empty if unconditional)."""
    generator = torch.Generator(device).manual_seed(_seed_of(settings.seed, shard))
    labels = torch.randint(0, num_classes, (size,), generator=generator, device=device) if num_classes else None
    diffusion = DiffusionSection(sampler=settings.sampler, sampling_steps=settings.sampling_steps,
                                 cfg_scale=settings.cfg_scale)
    # fp16 on CUDA as the official sampling config (use_fp16); a CPU samples in fp32.
    with torch.autocast("cuda", dtype=torch.float16, enabled=settings.precision == "fp16"):
        latents = sample_videos(model, diffusion, size, labels=labels, generator=generator, progress=False,
                                clip_denoised=False)        # latents are not in [-1, 1]: no clamping (as Latte)
        videos = codec.decode(latents.float())
    labels = np.zeros(0, np.int64) if labels is None else labels.cpu().numpy()
    return to_uint8_videos(videos).numpy(), labels


def make_fake_shards(model, codec, i3d, settings, num_classes, ctx, out: Path, max_new_shards=None, log=print) -> int:
    """This process's generated shards; returns how many it made (finished ones are skipped)."""
    made = 0
    for shard, videos in list(enumerate(shard_ranges(settings.num_videos, settings.batch_size)))[ctx.rank::ctx.world_size]:
        path, key = out / "fake" / f"shard_{shard:05d}.npz", fake_shard_key(settings, shard, len(videos))
        if load_shard(path, key, len(videos)) is not None:
            continue
        if max_new_shards is not None and made >= max_new_shards:
            break
        start = time.time()
        pixels, labels = sample_fake_shard(model, codec, settings, num_classes, shard, len(videos), ctx.device)
        features = i3d_features(pixels, model=i3d, device=ctx.device)
        save_npz_atomic(path, videos=pixels, labels=labels, features=features, key=np.array(key))
        made += 1
        log(f"[rank {ctx.rank}] generated shard {shard} ({len(videos)} videos) in {time.time() - start:.1f} s")
    return made


def make_real_shards(real_clips, i3d, settings, ctx, out: Path, log=print) -> None:
    """This process's shards of real-clip I3D features."""
    for shard, clips in list(enumerate(shard_ranges(len(real_clips), REAL_SHARD_SIZE)))[ctx.rank::ctx.world_size]:
        path, key = out / "real" / f"shard_{shard:05d}.npz", real_shard_key(real_clips, clips, settings)
        if load_shard(path, key, len(clips)) is not None:
            continue
        videos = torch.stack([read_real_clip(*real_clips[i], i, settings.num_frames, settings.real_subsample_factor,
                                             settings.resolution, settings.seed) for i in clips])
        features = i3d_features(videos, model=i3d, device=ctx.device)
        save_npz_atomic(path, features=features, paths=np.array([real_clips[i][0] for i in clips]), key=np.array(key))
        log(f"[rank {ctx.rank}] real shard {shard}: {len(clips)} clips")


def gather_features(out: Path, kind: str, keys: list[tuple[str, int]]) -> np.ndarray:
    """The features of shards 0, 1, … of ``kind``, each checked against its (key, size): never a stale
    shard or one left over from a larger set."""
    features = []
    for shard, (key, size) in enumerate(keys):
        arrays = load_shard(out / kind / f"shard_{shard:05d}.npz", key, size)
        if arrays is None:
            raise RuntimeError(f"{out / kind / f'shard_{shard:05d}.npz'} is missing or was made from other inputs")
        features.append(arrays["features"])
    return np.concatenate(features)


# --------------------------------------------------------------------------- results


def departures(settings: Settings, protocol) -> list[str]:
    """Where this run differs from the paper's protocol: printed next to the number, never hidden."""
    wanted = {"num_videos": protocol.num_videos, "sampler": protocol.sampler,
              "sampling_steps": protocol.sampling_steps, "cfg_scale": protocol.cfg_scale,
              "num_frames": protocol.num_frames, "resolution": protocol.resolution,
              "real_subsample_factor": protocol.real_subsample_factor}
    out = [f"{key} {getattr(settings, key)} (protocol {value})" for key, value in wanted.items()
           if getattr(settings, key) != value]
    if settings.precision != "fp16":
        out.append(f"precision {settings.precision} (official sampling: fp16 on a GPU)")
    return out


def write_results(out: Path, settings: Settings, protocol, fvd: float, num_real: int, real_left_out: int,
                  runtime: dict) -> dict:
    result = {
        "dataset": protocol.dataset, "title": protocol.title, "fvd": fvd, "paper_fvd": protocol.paper_fvd,
        "num_videos": settings.num_videos, "num_real_videos": num_real, "real_videos_too_short": real_left_out,
        "departures_from_protocol": departures(settings, protocol),
        "settings": vars(settings), "protocol": protocol.as_dict(),
        "sources": {key: SOURCES[key] for key in sorted(set(dict(protocol.sources).values()) | {"guess"})},
        "runtime_s": runtime, "date": date.today().isoformat(),
    }
    write_text_atomic(out / "fvd.json", json.dumps(result, indent=2) + "\n")
    notes = "; ".join(result["departures_from_protocol"]) or "none"
    write_text_atomic(out / "fvd.md", (
        "| dataset | FVD (minilatte) | FVD (paper) | generated videos | real videos | sampler | departures from the protocol |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {protocol.title} | {fvd:.2f} | {protocol.paper_fvd:.2f} | {settings.num_videos} | {num_real} | "
        f"{settings.sampler.upper()}-{settings.sampling_steps}, CFG {settings.cfg_scale:g} | {notes} |\n"))
    return result


# --------------------------------------------------------------------------- the command


def reproduce(dataset: str, checkpoint, vae, data, out=None, num_videos: int | None = None, batch_size: int = 8,
              seed: int = 0, sampling_steps: int | None = None, max_new_shards: int | None = None,
              log=print) -> dict | None:
    """Run the protocol; the result dict (as ``fvd.json``) on process 0, None elsewhere or when stopped early.

    ``max_new_shards`` stops each process after making that many generated shards (an interruption,
    for tests). ``sampling_steps`` other than the protocol's is allowed and reported as a departure.
    """
    started = time.time()
    protocol = get_protocol(dataset)
    num_videos = protocol.num_videos if num_videos is None else num_videos
    check_inputs(dataset, checkpoint, vae, data, num_videos, batch_size)
    out = check_writable_dir(out or Path("runs") / f"fvd-{dataset}", "--out")
    ctx = setup_distributed()
    try:
        codec = LatentCodec.from_pretrained(vae).to(ctx.device)
        model = load_official_latte(checkpoint).to(ctx.device).eval()
        num_frames, resolution = check_model(model, protocol, codec)
        settings = Settings(dataset, str(Path(checkpoint).resolve()), str(Path(vae).resolve()),
                            str(Path(data).resolve()), num_videos, batch_size, seed, protocol.sampler,
                            sampling_steps or protocol.sampling_steps, protocol.cfg_scale, num_frames, resolution,
                            protocol.real_subsample_factor, "fp16" if ctx.device.type == "cuda" else "fp32")
        check_settings_file(out, settings)
        real = find_real_videos(data, protocol, num_frames, protocol.real_subsample_factor, seed)
        if len(real.clips) < 2:
            raise ValueError(f"--data {str(data)!r} has {len(real.clips)} usable {protocol.title} videos of at least "
                             f"{num_frames} × {protocol.real_subsample_factor} frames ({real.too_short} too short, "
                             f"{len(real.skipped)} unreadable); the real set needs at least 2")
        barrier(ctx)
        if ctx.is_main:
            for kind in ("fake", "real"):
                (out / kind).mkdir(exist_ok=True)
            write_text_atomic(out / "settings.json", json.dumps(vars(settings), indent=2) + "\n")
        barrier(ctx)
        i3d = load_i3d().to(ctx.device)
        setup_s = time.time() - started
        made = make_fake_shards(model, codec, i3d, settings, protocol.num_classes, ctx, out, max_new_shards, log)
        sampled_s = time.time() - started - setup_s
        stopped = torch.tensor([int(max_new_shards is not None and made >= max_new_shards)], device=ctx.device)
        if ctx.distributed:
            torch.distributed.all_reduce(stopped)
        if stopped.item():
            return None
        make_real_shards(real.clips, i3d, settings, ctx, out, log)
        barrier(ctx)
        if not ctx.is_main:
            return None
        fake = gather_features(out, "fake", [(fake_shard_key(settings, k, len(r)), len(r))
                                             for k, r in enumerate(shard_ranges(num_videos, batch_size))])
        real_features = gather_features(out, "real", [(real_shard_key(real.clips, r, settings), len(r))
                                                      for r in shard_ranges(len(real.clips), REAL_SHARD_SIZE)])
        fvd = frechet_distance(real_features, fake)
        runtime = {"total": round(time.time() - started, 1), "setup": round(setup_s, 1),
                   "sampling_and_fake_features": round(sampled_s, 1),
                   "real_features_and_fvd": round(time.time() - started - setup_s - sampled_s, 1),
                   "processes": ctx.world_size, "device": str(ctx.device), "generated_shards_made_now": made}
        result = write_results(out, settings, protocol, fvd, len(real.clips), real.too_short, runtime)
        log(f"{protocol.title}: FVD {fvd:.2f} (paper {protocol.paper_fvd:.2f}) -> {out / 'fvd.json'}")
        return result
    finally:
        cleanup(ctx)


def add_reproduce_arguments(p) -> None:
    p.add_argument("--dataset", required=True, choices=tuple(PROTOCOLS), help="which row of the paper's FVD table")
    p.add_argument("--checkpoint", required=True, help="official Latte checkpoint (.pt or .safetensors)")
    p.add_argument("--vae", required=True, help="local diffusers VAE folder (e.g. a copy of sd-vae-ft-ema)")
    p.add_argument("--data", required=True, help="the training videos (see the README's protocol section)")
    p.add_argument("--num-videos", type=at_least(2), help="generated videos (default: the protocol's 2048)")
    p.add_argument("--out", help="output folder (default: runs/fvd-<dataset>); rerun into it to resume")
    p.add_argument("--batch-size", type=at_least(1), default=8, help="videos per shard (fixes the noise: keep it "
                                                                       "when resuming)")
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--sampling-steps", type=at_least(1), help="departs from the protocol's 250; reported in fvd.md")
    p.set_defaults(func=_run)


def _run(args) -> None:
    reproduce(args.dataset, args.checkpoint, args.vae, args.data, out=args.out, num_videos=args.num_videos,
              batch_size=args.batch_size, seed=args.seed, sampling_steps=args.sampling_steps)
