"""One trainer for every scale: a laptop CPU, one GPU, or many GPUs under ``torchrun``.

The recipe is the paper's (DiT/IDDPM): uniform t, ε-prediction with learned σ, loss = MSE + VB,
AdamW, an EMA of the weights for sampling. Around it: bf16 autocast where the hardware runs it faster
(CUDA, CPUs with native bf16; measured at start, see runtime.py), TF32 on CUDA, CPU threads chosen
from the machine's load, optional
per-block activation checkpointing and ``torch.compile``, DDP (or FSDP) under torchrun, a CSV log,
a loss-curve PNG, sample GIFs, and atomic checkpoints that resume with the same loss trajectory (by
themselves when torchrun restarts the workers after a failure).

Determinism: the batch of step s, its timesteps and its noise depend only on (seed, s), so a resumed
run and a run on N processes see exactly what an uninterrupted single-process run sees.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from .progress import progress_bar
from . import checkpoint as ckpt
from . import runtime
from .config import ConfigError, RunConfig
from .data import JointImageVideo, VideoFolder, synthetic_dataset
from .data.captioned_folder import CaptionedVideoFolder
from .data.captions import CaptionedSynthetic, WithCaptions
from .distributed import DistContext, all_reduce_mean, barrier, cleanup, elastic_restart, setup_distributed
from .latent_cache import LatentClips, build_latent_cache
from .models import Latte
from .run_folder import prepare_run_folder
from .sample import generate_clips, load_text_encoder
from .vae import LatentCodec
from .viz import plot_loss_curve, save_gif

LOG_FIELDS = ["step", "loss", "mse", "vb", "grad_norm", "lr", "steps_per_sec"]


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C, a Jupyter interrupt) or SIGTERM stopped the run after a whole step, checkpointed."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None):
        super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}; checkpoint: {checkpoint}; "
                         "continue with --resume")
        self.signum, self.step, self.checkpoint = signum, step, checkpoint


class _StopRequests:
    """While training: SIGINT/SIGTERM only ask to stop; the loop finishes its step, checkpoints, stops.

    A signal landing mid-step would leave a step half-done (its noise drawn, its update not applied),
    so a checkpoint written there could not resume exactly. A second Ctrl-C stops at once, without a
    checkpoint (the previous one is intact). Handlers can only be set in the main thread; elsewhere
    signals keep their usual effect.
    """

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> "_StopRequests":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGINT/SIGTERM to the training process (they exit with it)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


class StepBatchSampler(Sampler):
    """Global batches that depend only on (seed, step); each process takes its slice of them.

    Epoch e visits the dataset in the order ``randperm(len, seed + e)``; step s takes the next
    ``batch_size`` indices of that stream. Starting at ``start_step`` replays nothing. Items are
    ``(epoch, index)`` pairs, read through :class:`EpochIndexed`, so random crops and latent samples
    change per epoch even inside DataLoader workers.
    """

    def __init__(self, length: int, batch_size: int, steps: int, seed: int, start_step: int = 0,
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ConfigError(f"train.batch_size={batch_size} must be divisible by the {world_size} processes")
        if length < batch_size:
            raise ConfigError(f"the dataset has {length} clips, fewer than train.batch_size={batch_size}")
        self.length, self.batch_size, self.steps, self.seed = length, batch_size, steps, seed
        self.start_step, self.rank, self.local = start_step, rank, batch_size // world_size
        self.per_epoch = length // batch_size

    def __len__(self) -> int:
        return self.steps - self.start_step

    def __iter__(self):
        order, epoch = None, -1
        for step in range(self.start_step, self.steps):
            e, i = divmod(step, self.per_epoch)
            if e != epoch:
                order = torch.randperm(self.length, generator=torch.Generator().manual_seed(self.seed + e))
                epoch = e
            batch = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield [(e, i) for i in batch[self.rank * self.local:(self.rank + 1) * self.local].tolist()]


class EpochIndexed(torch.utils.data.Dataset):
    """``dataset[(epoch, index)]``: sets the epoch (if the dataset has ``set_epoch``), then reads item ``index``."""

    def __init__(self, dataset: torch.utils.data.Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


def clip_dataset(cfg: RunConfig, *, seed: int | None = None, length: int | None = None) -> torch.utils.data.Dataset:
    """The config's clips in pixels: a synthetic dataset or a folder of videos.

    ``seed`` (default ``train.seed``) drives synthetic clips and random crops; ``length`` (default
    ``data.length``) is the number of synthetic clips.
    """
    data_cfg, num_frames = cfg.data, cfg.latte_config().num_frames
    seed = cfg.train.seed if seed is None else seed
    if data_cfg.dataset == "folder" and cfg.is_text:
        return CaptionedVideoFolder(data_cfg.root, num_frames=num_frames, frame_interval=data_cfg.frame_interval,
                                    image_size=data_cfg.image_size, seed=seed)
    if data_cfg.dataset == "folder":
        return VideoFolder(data_cfg.root, num_frames=num_frames, frame_interval=data_cfg.frame_interval,
                           image_size=data_cfg.image_size, layout=data_cfg.layout, seed=seed)
    return synthetic_dataset(data_cfg.dataset, num_frames=num_frames, image_size=data_cfg.image_size, seed=seed,
                             length=data_cfg.length if length is None else length,
                             frame_interval=data_cfg.frame_interval)


def caption_source(clips: torch.utils.data.Dataset):
    """``caption_of(index)`` for the clips of a text run: written from a synthetic clip's labels
    (seed, index), or read from a captioned folder's index."""
    if isinstance(clips, CaptionedVideoFolder):
        return lambda index: clips.captions[str(clips.clips[index][0])]
    return CaptionedSynthetic(clips).caption


def build_dataset(cfg: RunConfig) -> torch.utils.data.Dataset:
    """What training reads: pixel clips or cached latents, plus appended images for joint training,
    plus the caption of every clip for a text run (items then carry ``"caption"``)."""
    data_cfg = cfg.data
    clips = clip_dataset(cfg) if cfg.is_text or not data_cfg.latent_cache else None
    ds = LatentClips(data_cfg.latent_cache, seed=cfg.train.seed) if data_cfg.latent_cache else clips
    if cfg.is_text:
        ds = WithCaptions(ds, caption_source(clips))
    return JointImageVideo(ds, num_images=data_cfg.num_images, seed=cfg.train.seed) if data_cfg.num_images else ds


def _autocast(precision: str, device: torch.device):
    """bf16 autocast where :func:`minilatte.runtime.choose_precision` chose it, else nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _full(t: torch.Tensor) -> torch.Tensor:
    """A whole tensor from an FSDP-sharded one (an all-gather); plain tensors pass through."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def learning_rate(tc, step: int) -> float:
    """The learning rate of update ``step`` (0-based): linear warm-up over ``warmup_steps``, then
    constant (``lr_decay="none"``, the paper) or a cosine from ``lr`` down to 0 at ``steps``."""
    lr = tc.lr * min(1.0, (step + 1) / tc.warmup_steps) if tc.warmup_steps else tc.lr
    if tc.lr_decay == "cosine" and step >= tc.warmup_steps:
        progress = (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps)
        lr *= 0.5 * (1 + math.cos(math.pi * progress))
    return lr


def ema_decay(step: int, decay: float, warmup: bool) -> float:
    """The EMA decay of update ``step`` (0-based): ``decay``, or with warm-up (``train.ema_warmup``)
    min(decay, (1 + step)/(10 + step)), so that the EMA of a short run soon forgets the untrained start."""
    return min(decay, (1 + step) / (10 + step)) if warmup else decay


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay · ema + (1 − decay) · model, parameter by parameter.

    The EMA is a plain full copy on every process; under FSDP each step gathers the shards for it.
    """
    ema_params = list(ema.parameters())
    model_params = [_full(p.detach()) for p in model.parameters()]
    torch._foreach_lerp_(ema_params, model_params, 1 - decay)


def _rng_state(gen: torch.Generator) -> dict:
    """The random state a resumed run needs: torch's global RNG (label dropout) and the noise generator.

    Data order needs none: batches depend only on (seed, step) and synthetic clips on (seed, index).
    """
    state = {"torch": torch.get_rng_state(), "noise": gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict, gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["noise"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@dataclass
class TrainResult:
    out_dir: Path
    step: int
    final_loss: float
    checkpoint: Path | None
    samples: Path | None


class Trainer:
    """Holds model, EMA, optimizer, diffusion and data of one run; ``run()`` trains to ``train.steps``."""

    def __init__(self, cfg: RunConfig, out_dir: str | Path, ctx: DistContext | None = None,
                 progress: bool = True):
        self.cfg, self.out_dir, self.progress = cfg, Path(out_dir), progress
        self.ctx = ctx or setup_distributed()
        tc = cfg.validate().train
        self.latte_cfg = cfg.latte_config()
        torch.manual_seed(tc.seed)                      # same initial weights on every process
        self.model = Latte(self.latte_cfg).to(self.ctx.device)
        self.text_encoder = load_text_encoder(cfg, self.ctx.device)     # frozen; None unless a text run
        # Measured, not assumed: CPU threads that the machine's other work leaves free, and bf16 only
        # where it is native and this model's training step runs faster with it (minilatte/runtime.py).
        previous = self.out_dir / "runtime.json"        # present only when this run is being resumed
        try:
            self.runtime = runtime.apply(tc.mixed_precision, self.ctx.device, self._bf16_speedup, tc.threads,
                                         json.loads(previous.read_text()) if previous.is_file() else None)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.ctx.distributed:      # every process computes in rank 0's precision, whatever it measured
            bf16 = torch.tensor([int(self.runtime.precision == "bf16")], device=self.ctx.device)
            torch.distributed.broadcast(bf16, src=0)
            if bool(bf16.item()) != (self.runtime.precision == "bf16"):
                self.runtime.precision = "bf16" if bf16.item() else "fp32"
                self.runtime.precision_reason = "rank 0's choice"
        self.model.gradient_checkpointing = tc.gradient_checkpointing
        self.ema = copy.deepcopy(self.model).requires_grad_(False).eval()
        self.diffusion = cfg.diffusion.build()            # all training timesteps
        self.codec = None
        if cfg.data.vae:   # latent diffusion: a frozen VAE encodes frames (on the fly, or once into a cache)
            self.codec = LatentCodec.from_pretrained(cfg.data.vae).to(self.ctx.device)
        if cfg.data.latent_cache and self.ctx.is_main:
            build_latent_cache(clip_dataset(cfg), self.codec, cfg.data.vae, cfg.data.latent_cache,
                               progress=progress)
        barrier(self.ctx)
        self.dataset = build_dataset(cfg)
        self.encode_batches = self.codec is not None and not cfg.data.latent_cache
        # Timesteps and noise come from one generator seeded alike on every process: each process
        # draws the whole global batch and keeps its slice, so N processes equal one.
        self.noise_gen = torch.Generator(self.ctx.device).manual_seed(tc.seed + 1)
        torch.manual_seed(tc.seed + 2 + self.ctx.rank)  # label dropout etc. differ per process
        self.step = 0
        if self.ctx.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.net = self._wrap(self.model)
        # After wrapping: FSDP replaces the parameters by sharded ones, which the optimizer must hold.
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)

    # ------------------------------------------------------------------ setup
    # torch.distributed's FSDP, DDP and state-dict helpers (and tensorboard, optional) are imported where
    # they are used: together they take over a second to import, which sampling, evaluation and
    # ``python -m minilatte --help`` (all of them import this module) need not pay.
    def _wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        net = model
        if self.ctx.distributed:
            if self.cfg.train.distributed == "fsdp":
                from torch.distributed.fsdp import fully_shard
                for block in model.blocks:
                    fully_shard(block)
                net = fully_shard(model)
            else:
                from torch.nn.parallel import DistributedDataParallel
                net = DistributedDataParallel(model, device_ids=[self.ctx.local_rank]
                                              if self.ctx.device.type == "cuda" else None)
        if self.cfg.train.compile:
            net = torch.compile(net)
        return net

    @property
    def ckpt_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    def resume(self) -> bool:
        """Load the newest complete and readable checkpoint of ``out_dir``; False when there is none.

        An unreadable checkpoint (truncated file, foreign format) is renamed ``unreadable-step_…``
        and the next older one is tried, saying so.
        """
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        saved, unreadable = None, []
        for path in reversed(ckpt.list_checkpoints(self.ckpt_dir)):
            try:
                saved = ckpt.load_checkpoint(path)
                break
            except ckpt.CheckpointError as err:
                barrier(self.ctx)              # every process has tried this one before it is moved
                if self.ctx.is_main:
                    aside = ckpt.set_aside_unreadable(path)
                    print(f"{err}; renamed it {aside.name} and trying the previous checkpoint")
                unreadable.append(path.name)
                barrier(self.ctx)
        self._check_same_checkpoint_everywhere(int(saved["state"]["step"]) if saved is not None else None)
        if saved is None and unreadable:
            raise ckpt.CheckpointError(f"no readable checkpoint left in {self.ckpt_dir} ({', '.join(unreadable)} "
                                       f"set aside as {ckpt.UNREADABLE_PREFIX}*); nothing to resume")
        if saved is None:
            if self.ctx.is_main:
                self._truncate_log(0)          # rows of a run that died before its first checkpoint
            return False
        ckpt.check_weights_fit(self.ema, saved["model"], path / "model.safetensors")   # the EMA: an unwrapped copy
        # Full (unsharded) state dicts in, whatever the wrapping: the same call serves 1 process, DDP and FSDP.
        set_state_dict(self.model, self.opt, model_state_dict=saved["model"],
                       optim_state_dict=saved["state"]["optimizer"], options=StateDictOptions(full_state_dict=True))
        self.ema.load_state_dict(saved["ema"])
        self.step = int(saved["state"]["step"])
        _set_rng_state(saved["state"]["rng"], self.noise_gen)
        if self.ctx.is_main:
            self._truncate_log(self.step)
        return True

    def _check_same_checkpoint_everywhere(self, step: int | None) -> None:
        """Every process must resume from the same step; they differ when the nodes do not share ``out_dir``."""
        if not self.ctx.distributed:
            return
        own = -1 if step is None else step
        found = torch.tensor([own, -own], device=self.ctx.device)
        torch.distributed.all_reduce(found, op=torch.distributed.ReduceOp.MAX)
        newest, oldest = int(found[0]), -int(found[1])
        if newest != oldest:
            def name(s: int) -> str:
                return f"step {s}" if s >= 0 else "none"
            raise ckpt.CheckpointError(f"the processes see different newest checkpoints in {self.ckpt_dir} "
                                       f"({name(newest)} on one, {name(oldest)} on another): --out must be one "
                                       "folder that every node reads and writes (a shared filesystem)")

    def save(self) -> Path | None:
        """Checkpoint the current step (main process writes; every process waits for it)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        # Every process takes part (FSDP gathers its shards); the main process receives and writes.
        model_state, optim_state = get_state_dict(self.model, self.opt,
                                                  options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        path = None
        if self.ctx.is_main:
            state = {"optimizer": optim_state, "step": self.step, "rng": _rng_state(self.noise_gen)}
            path = ckpt.save_checkpoint(self.ckpt_dir, self.step, model_state, self.ema.state_dict(),
                                        state, self.cfg.to_dict())
        barrier(self.ctx)
        return path

    # ------------------------------------------------------------------ logging
    @property
    def log_path(self) -> Path:
        return self.out_dir / "log.csv"

    def _truncate_log(self, step: int) -> None:
        """Drop log rows past ``step`` (written by an interrupted run after its last checkpoint)."""
        if not self.log_path.exists():
            return
        with open(self.log_path) as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self._write_log(rows, mode="w")

    def last_logged_loss(self) -> float:
        """The loss of the last row of log.csv (NaN before the first): what a finished run reports when resumed."""
        if not self.log_path.exists():
            return float("nan")
        with open(self.log_path) as f:
            rows = list(csv.DictReader(f))
        return float(rows[-1]["loss"]) if rows else float("nan")

    def _write_log(self, rows: list[dict], mode: str = "a") -> None:
        new = mode == "w" or not self.log_path.exists()
        with open(self.log_path, mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerows(rows)

    def _tensorboard(self, means: dict[str, float]) -> None:
        """Scalars to ``out_dir/tensorboard`` when the tensorboard package is installed (optional)."""
        if not hasattr(self, "_tb"):
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.out_dir / "tensorboard"))
            except ImportError:
                self._tb = None
        if self._tb is not None:
            for key, value in means.items():
                self._tb.add_scalar(f"train/{key}", value, self.step)
            self._tb.flush()

    # ------------------------------------------------------------------ one step
    def _bf16_speedup(self) -> float:
        """bf16 autocast over fp32 for this model's forward + backward on a random batch of the run's shape."""
        c, k = self.latte_cfg, self.cfg.data.num_images
        b = self.cfg.train.batch_size // self.ctx.world_size
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(b, c.num_frames + k, c.in_channels, c.input_size, c.input_size, generator=gen)
        batch = {"label": torch.randint(max(c.num_classes, 1), (b,), generator=gen),
                 "image_labels": torch.randint(max(c.num_classes, 1), (b, k), generator=gen),
                 "caption": ["a red square moving up"] * b}
        t = torch.randint(self.cfg.diffusion.diffusion_steps, (b,), generator=gen)
        return runtime.step_speedup_bf16(self.model, (x.to(self.ctx.device), t.to(self.ctx.device)),
                                         self._model_kwargs(batch))

    def _model_kwargs(self, batch: dict) -> dict:
        kwargs = {}
        if self.cfg.is_text:      # caption dropout happens in the model (class_dropout_prob), from torch's RNG
            with torch.no_grad():
                text, mask = self.text_encoder(list(batch["caption"]))     # the word encoder answers on the CPU
            kwargs["text"], kwargs["text_mask"] = text.to(self.ctx.device), mask.to(self.ctx.device)
        if self.latte_cfg.num_classes:
            kwargs["y"] = batch["label"].to(self.ctx.device, non_blocking=True)
        if self.cfg.data.num_images:
            kwargs["num_images"] = self.cfg.data.num_images
            if self.latte_cfg.num_classes:
                kwargs["y_images"] = batch["image_labels"].to(self.ctx.device, non_blocking=True)
        return kwargs

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimisation step on this process's slice of the global batch; returns detached losses."""
        x = batch["video"].to(self.ctx.device, non_blocking=True)        # (b, F, C, H, W)
        if self.encode_batches:
            x = self.codec.encode(x)                                      # (b, F, C, H/d, W/d)
        global_b, local_b = self.cfg.train.batch_size, x.shape[0]
        lo = self.ctx.rank * local_b
        t = torch.randint(0, self.diffusion.num_timesteps, (global_b,), generator=self.noise_gen,
                          device=self.ctx.device)[lo:lo + local_b]
        noise = torch.randn((global_b, *x.shape[1:]), generator=self.noise_gen,
                            device=self.ctx.device)[lo:lo + local_b]
        with _autocast(self.runtime.precision, self.ctx.device):
            losses = self.diffusion.training_losses(self.net, x, t, self._model_kwargs(batch), noise=noise)
        loss = losses["loss"].mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        tc = self.cfg.train
        clip = tc.grad_clip if tc.grad_clip is not None and self.step >= tc.clip_start_step else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        if tc.warmup_steps or tc.lr_decay != "none":
            for group in self.opt.param_groups:
                group["lr"] = learning_rate(tc, self.step)
        self.opt.step()
        update_ema(self.ema, self.model, ema_decay(self.step, tc.ema_decay, tc.ema_warmup))
        self.step += 1
        return {"loss": loss.detach(), "mse": losses["mse"].mean().detach(), "vb": losses["vb"].mean().detach(),
                "grad_norm": _full(grad_norm.detach())}

    # ------------------------------------------------------------------ the loop
    def loader(self) -> DataLoader:
        tc, data_cfg = self.cfg.train, self.cfg.data
        sampler = StepBatchSampler(len(self.dataset), tc.batch_size, tc.steps, tc.seed, self.step,
                                   self.ctx.rank, self.ctx.world_size)
        # Its own generator: starting a loader must not draw from the global RNG that a resumed run restores.
        return DataLoader(EpochIndexed(self.dataset), batch_sampler=sampler, num_workers=data_cfg.num_workers,
                          pin_memory=self.ctx.device.type == "cuda", persistent_workers=data_cfg.num_workers > 0,
                          worker_init_fn=_ignore_stop_signals if data_cfg.num_workers else None,
                          generator=torch.Generator().manual_seed(tc.seed))

    def run(self) -> TrainResult:
        tc = self.cfg.train
        if self.ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "runtime.json").write_text(json.dumps(self.runtime.to_dict(), indent=2) + "\n")
        self.model.train()
        sums, count, last_log, good_ckpt = None, 0, time.perf_counter(), ckpt.latest_checkpoint(self.ckpt_dir)
        final_loss, samples = float("nan"), None
        bar = self._progress_bar()
        with _StopRequests() as stop:
            try:
                for batch in self.loader():
                    out = self.train_step(batch)
                    sums = out if sums is None else {k: sums[k] + v for k, v in out.items()}
                    count += 1
                    at_log = self.step % tc.log_every == 0 or self.step == tc.steps
                    at_ckpt = self.step % tc.ckpt_every == 0 or self.step == tc.steps
                    if at_log or at_ckpt:   # the only host-device syncs of the loop
                        means = {k: all_reduce_mean(v / count, self.ctx).item() for k, v in sums.items()}
                        if not all(math.isfinite(v) for v in means.values()):
                            raise TrainingError(f"loss became {means['loss']} by step {self.step}; stopped. Last "
                                                f"good checkpoint: {good_ckpt or 'none'}. Try a lower train.lr, or "
                                                "set train.grad_clip (e.g. 1.0)")
                        now = time.perf_counter()
                        row = {"step": self.step, **{k: f"{v:.6g}" for k, v in means.items()},
                               "lr": f"{self.opt.param_groups[0]['lr']:.3g}",
                               "steps_per_sec": f"{count / (now - last_log):.3f}"}
                        final_loss, sums, count, last_log = means["loss"], None, 0, now
                        if self.ctx.is_main:
                            self._write_log([row])
                            self._tensorboard(means)
                        if bar is not None:
                            bar.set_postfix(loss=f"{final_loss:.4f}")
                    if at_ckpt:
                        good_ckpt = self.save()
                        if self.ctx.is_main:
                            plot_loss_curve(self.log_path, self.out_dir / "loss.png")
                    if bar is not None:
                        bar.update(1)
                    if self._stop_requested(stop, at_log):
                        path = good_ckpt if at_ckpt else self.save()
                        raise TrainingInterrupted(stop.signum or signal.SIGINT, self.step, path)
                    if tc.sample_every and self.step % tc.sample_every == 0 and self.step != tc.steps:
                        self.write_samples()
            except TrainingInterrupted:
                raise
            except KeyboardInterrupt:
                if self.ctx.is_main:
                    print(f"\nstopped at once during step {self.step + 1}: not checkpointed; the newest "
                          f"checkpoint is {ckpt.latest_checkpoint(self.ckpt_dir)}")
                raise
            finally:
                if bar is not None:
                    bar.close()
        samples = self.write_samples()
        return TrainResult(self.out_dir, self.step, final_loss, ckpt.latest_checkpoint(self.ckpt_dir), samples)

    def _stop_requested(self, stop: _StopRequests, at_log: bool) -> bool:
        """Has a stop signal arrived? Processes of a distributed run agree at log steps (a sync they make anyway)."""
        if not self.ctx.distributed:
            return stop.signum is not None
        if not at_log:
            return False
        flag = torch.tensor(float(stop.signum is not None), device=self.ctx.device)
        return all_reduce_mean(flag, self.ctx).item() > 0

    def _progress_bar(self):
        if not (self.progress and self.ctx.is_main):
            return None
        return progress_bar(   # text, in a terminal and in Jupyter alike
            total=self.cfg.train.steps, initial=self.step, desc=self.cfg.name, unit="step", dynamic_ncols=True)

    def write_samples(self) -> Path | None:
        """Sample ``train.num_sample_videos`` videos with the EMA model into samples/step_XXXXXXX.gif."""
        n = self.cfg.train.num_sample_videos
        if not n or not self.ctx.is_main:
            return None
        videos, _ = generate_clips(self.ema, self.cfg, n, seed=self.cfg.train.seed, progress=False, codec=self.codec,
                                   text_encoder=self.text_encoder)
        return save_gif(videos, self.out_dir / "samples" / f"step_{self.step:07d}.gif")


def train(cfg: RunConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
          overwrite: bool = False, init_weights=None) -> TrainResult:
    """Train ``cfg`` into ``out_dir``.

    A folder that already holds a run needs ``resume=True`` (continue from its newest checkpoint; the
    model and data settings must match) or ``overwrite=True`` (move the old run aside); see
    :mod:`minilatte.run_folder`. ``init_weights(model)``, if given, sets the weights of a run that
    starts from step 0 (e.g. ``functools.partial(convert.init_from_dit, dit_checkpoint=path)``); the EMA
    starts as their copy. A resumed run takes its weights from the checkpoint instead.

    When torchrun has restarted the workers (``--max-restarts``, after a process or node failed), the
    run continues by itself: ``resume=True`` and ``overwrite=False`` whatever was asked, so every
    process loads the newest complete checkpoint of ``out_dir``, or starts afresh if there is none yet.
    """
    ctx = setup_distributed()
    try:
        return _train(ctx, cfg, out_dir, resume, progress, overwrite, init_weights)
    finally:   # the Trainer (and the DDP/FSDP wrapper holding the process group) is gone by now
        cleanup(ctx)


def _train(ctx: DistContext, cfg: RunConfig, out_dir, resume, progress, overwrite, init_weights) -> TrainResult:
    """:func:`train` inside one process of the run (its process group, if any, already started)."""
    restart = elastic_restart(ctx)
    if restart:      # the first attempt's run is in out_dir: continue it, never move it aside
        resume, overwrite = True, False
    for note in prepare_run_folder(out_dir, cfg.validate(), resume, overwrite, ctx.is_main):
        if ctx.is_main:
            print(note)
    barrier(ctx)
    trainer = Trainer(cfg, out_dir, ctx, progress=progress)
    resumed = resume and trainer.resume()
    if restart and ctx.is_main:
        what = (f"resuming from step {trainer.step} ({ckpt.latest_checkpoint(trainer.ckpt_dir)})" if resumed
                else f"no checkpoint in {trainer.ckpt_dir} yet; starting afresh")
        print(f"torchrun restart {restart}: {what}", flush=True)
    elif resumed and ctx.is_main and progress:
        print(f"resuming from step {trainer.step} ({trainer.ckpt_dir})")
    if init_weights is not None and not resumed:
        init_weights(trainer.model)
        trainer.ema.load_state_dict(trainer.model.state_dict())
    if trainer.step >= cfg.train.steps:
        return TrainResult(trainer.out_dir, trainer.step, trainer.last_logged_loss(),
                           ckpt.latest_checkpoint(trainer.ckpt_dir), None)
    return trainer.run()
