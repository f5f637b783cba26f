"""How much GPU memory training a Latte needs, from the configuration alone — and how to check it.

Per GPU, a training step holds::

    weights (fp32)  +  gradients (fp32)  +  AdamW exp_avg, exp_avg_sq (fp32) and one step scalar per tensor
    +  EMA copy (fp32, full on every process: see train.update_ema)
    +  activations saved for backward (∝ batch)  +  communication buffers  +  CUDA context

* **Parameters and optimizer state are exact**: :func:`parameter_shapes` reads every trainable tensor
  from ``Latte(cfg)`` built on the *meta* device (shapes without memory), and the test builds the
  model's AdamW state there too and compares bytes.
* **Activations** are modelled tensor by tensor (what each op keeps for backward, see
  :func:`block_activation_bytes`) and checked against :func:`measure_saved_bytes`, which counts the
  bytes autograd really saves (``torch.autograd.graph.saved_tensors_hooks``; exact and device-free,
  so it runs on a CPU at small size, in fp32 and under bf16 autocast).
* **DDP vs FSDP**: DDP keeps everything on every GPU plus one gradient-sized bucket buffer; FSDP2
  (``fully_shard`` per block, as train.py does) shards weights, gradients and AdamW over N GPUs
  (dim 0 padded to a multiple of N) and gathers about two blocks at a time.

Modelled choices: attention through SDPA's flash / memory-efficient kernels (they keep q, k, v, the
output and a log-sum-exp, never the L×L matrix); variants 1 and 2 with S-AdaLN and absolute temporal
PE (the paper's model). The CUDA context, cuBLAS/NCCL workspaces and allocator slack are estimates.

Axes: B batch (videos per GPU), T tokens, D width, H MLP width, h heads.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from .config import load_config
from .models import Latte, LatteConfig
from .models.latte import block_axes

GiB = 1024 ** 3
FREQUENCY_SIZE = 256           # timestep sinusoid width (TimestepEmbedder)
CUDA_OVERHEAD = int(1.0 * GiB)  # context + cuBLAS workspace + NCCL buffers: an estimate, not measured
USABLE_FRACTION = 0.90         # leave 10 % of the card for allocator fragmentation
PRECISIONS = ("fp32", "bf16")
STRATEGIES = ("ddp", "fsdp")


# ---------------------------------------------------------------------------------------------- parameters
@functools.lru_cache(maxsize=64)
def parameter_parts(cfg: LatteConfig) -> dict[str, tuple[tuple[int, ...], ...]]:
    """Shapes of the trainable tensors of ``Latte(cfg)``: ``outside`` the blocks, ``blocks`` (all of
    them, in order) and ``block`` (the largest one), read from the model built on the meta device.

    A meta-device model has shapes but no storage, so this costs no memory at any size. (The frozen
    sin-cos tables are buffers, not parameters.)
    """
    with torch.device("meta"):
        model = Latte(cfg)
    outside = tuple(tuple(p.shape) for name, p in model.named_parameters()
                    if p.requires_grad and not name.startswith("blocks."))
    blocks = tuple(tuple(tuple(p.shape) for p in block.parameters() if p.requires_grad) for block in model.blocks)
    block = max(blocks, key=lambda shapes: sum(math.prod(s) for s in shapes))
    return {"outside": outside, "blocks": blocks, "block": block}


def parameter_shapes(cfg: LatteConfig) -> list[tuple[int, ...]]:
    """Shape of every trainable tensor of ``Latte(cfg)``."""
    parts = parameter_parts(cfg)
    return [*parts["outside"], *(shape for block in parts["blocks"] for shape in block)]


def parameter_count(cfg: LatteConfig) -> int:
    return sum(math.prod(s) for s in parameter_shapes(cfg))


def _sharded_numel(shape: tuple[int, ...], world: int) -> int:
    """Elements one rank holds when FSDP2 shards dim 0 over ``world`` ranks (padded to a multiple)."""
    return math.ceil(shape[0] / world) * math.prod(shape[1:])


def training_state_bytes(cfg: LatteConfig, world: int = 1, shard: bool = False) -> dict[str, int]:
    """Bytes of weights, gradients, AdamW state and EMA on one process (fp32 master weights).

    AdamW keeps ``exp_avg`` and ``exp_avg_sq`` like each parameter and a float32 ``step`` scalar per
    tensor. With ``shard=True`` (FSDP) everything but the EMA is split over ``world`` ranks.
    """
    shapes = parameter_shapes(cfg)
    numel = sum(_sharded_numel(s, world) if shard else math.prod(s) for s in shapes)
    return {"weights": 4 * numel, "gradients": 4 * numel,
            "optimizer": 2 * 4 * numel + 4 * len(shapes),
            "ema": 4 * parameter_count(cfg)}


def measure_training_state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                                 ema: torch.nn.Module | None = None) -> dict[str, int]:
    """The same four figures counted from real (or meta-device) tensors, for checking the model above."""
    def nbytes(tensors) -> int:
        return sum(t.numel() * t.element_size() for t in tensors)

    params = [p for p in model.parameters() if p.requires_grad]
    state = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    return {"weights": nbytes(params), "gradients": nbytes(p.grad for p in params if p.grad is not None),
            "optimizer": nbytes(state), "ema": nbytes(ema.parameters()) if ema is not None else 0}


# ---------------------------------------------------------------------------------------------- activations
def _check_modelled(cfg: LatteConfig) -> None:
    if cfg.variant not in (1, 2) or cfg.conditioning != "s-adaln" or cfg.temporal_pe != "absolute":
        raise ValueError(f"the activation model covers variant 1 or 2 with conditioning='s-adaln' and "
                         f"temporal_pe='absolute' (the paper's model); got variant={cfg.variant}, "
                         f"conditioning={cfg.conditioning!r}, temporal_pe={cfg.temporal_pe!r}")


def _matrix_numel(cfg: LatteConfig) -> tuple[int, int]:
    """(weight-matrix elements of one block, of everything outside the blocks): what autocast casts to bf16."""
    parts = parameter_parts(cfg)
    block = sum(math.prod(s) for s in parts["block"] if len(s) > 1)
    outside = sum(math.prod(s) for s in parts["outside"] if len(s) > 1)
    if cfg.num_classes:                      # an embedding lookup is not cast
        outside -= cfg.label_table_rows * cfg.hidden_size
    # The first timestep Linear's input needs no gradient, so its (cast) weight is not kept.
    outside -= cfg.hidden_size * FREQUENCY_SIZE
    return block, outside


def block_activation_bytes(cfg: LatteConfig, axis: str, batch_size: int, precision: str = "fp32",
                           num_images: int = 0) -> int:
    """Bytes one variant-1/2 block saves for backward.

    fp32 kept (``f`` = 4 bytes): the block input and the post-attention residual (LayerNorm inputs),
    both LayerNorm outputs (the modulation multiplies them), LayerNorm mean/rstd, the attention
    log-sum-exp. Matmul-side tensors (``b`` = 4 in fp32, 2 under bf16 autocast): both modulated
    LayerNorm outputs (Linear inputs), q/k/v (3), attention output, proj output (the gate multiplies
    it), fc1 output (GELU input, H wide), GELU output (fc2 input, H wide), fc2 output; a temporal block
    adds one D-wide copy (attention output back to the grid layout). Under autocast the bf16 copies of
    the block's weight matrices are kept too.
    """
    _check_modelled(cfg)
    b = _act_bytes(precision)
    D, H, heads = cfg.hidden_size, int(cfg.hidden_size * cfg.mlp_ratio), cfg.num_heads
    N = cfg.grid_size ** 2
    t_all = batch_size * N * (cfg.token_frames + num_images)
    t = t_all if axis == "spatial" else batch_size * N * cfg.token_frames      # tokens the block works on
    wide = 2 * 1 + 3 + 1 + 1 + 1 + (axis == "temporal")                        # D-wide matmul-side tensors
    saved = 4 * D * (t_all + 3 * t)                                             # input (its whole grid) + 3 fp32
    saved += b * t * (wide * D + 2 * H)
    saved += 4 * t * (2 * 2 + heads)                                           # 2 LayerNorms' mean/rstd + lse
    cond_rows = batch_size * ((cfg.token_frames + num_images) if num_images and cfg.num_classes else 1)
    if axis == "temporal" and cond_rows > batch_size:
        cond_rows = batch_size * cfg.token_frames
    saved += b * 9 * cond_rows * D                                             # adaLN input, output, (1 + scale) x2
    if precision == "bf16":
        saved += 2 * _matrix_numel(cfg)[0]
    return saved


def _act_bytes(precision: str) -> int:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    return 2 if precision == "bf16" else 4


def activation_bytes(cfg: LatteConfig, batch_size: int, precision: str = "fp32", num_images: int = 0,
                     checkpointing: bool = False) -> dict[str, int]:
    """Activation memory of one training step for ``batch_size`` videos (+ ``num_images`` frames each).

    Returns ``saved`` (bytes autograd keeps from the forward into the backward: measured exactly by
    :func:`measure_saved_bytes`) and ``peak`` (saved, plus what the backward recomputes at once — one
    block under checkpointing — plus an estimated backward workspace of gradients in flight).
    With ``model.gradient_checkpointing`` a block keeps only its input and recomputes the rest.
    """
    _check_modelled(cfg)
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be a positive integer")
    b = _act_bytes(precision)
    D, N, frames = cfg.hidden_size, cfg.grid_size ** 2, cfg.token_frames + num_images
    t_all = batch_size * N * frames
    axes = block_axes(cfg.variant, cfg.depth)
    blocks = [block_activation_bytes(cfg, axis, batch_size, precision, num_images) for axis in axes]
    pixels = batch_size * (cfg.num_frames + num_images) * cfg.in_channels * cfg.input_size ** 2
    outside = b * pixels                                                       # patch-embedding input
    outside += b * batch_size * (FREQUENCY_SIZE + 2 * D)                       # timestep MLP
    outside += 4 * D * 2 * t_all + b * D * t_all + 4 * 2 * t_all               # final norm in/out, Linear in, stats
    cond_rows = batch_size * (frames if num_images and cfg.num_classes else 1)   # per-frame labels: per-frame c
    outside += b * 4 * cond_rows * D                                           # final adaLN
    if precision == "bf16":
        outside += 2 * _matrix_numel(cfg)[1]
    # Backward workspace (an estimate): the residual-stream gradient and a temporary beside it (fp32),
    # and the two H-wide gradients of the MLP being back-propagated.
    workspace = 4 * 2 * D * t_all + b * 2 * int(D * cfg.mlp_ratio) * t_all
    if checkpointing:
        saved = outside + 4 * D * t_all * cfg.depth                            # each block keeps its input
        return {"saved": saved, "peak": saved + max(blocks) + workspace}
    saved = outside + sum(blocks)
    return {"saved": saved, "peak": saved + workspace}


def measure_saved_bytes(fn, *args, exclude: tuple[torch.nn.Module, ...] = (), **kwargs) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``fn(*args, **kwargs)`` runs.

    Parameters and buffers of the modules in ``exclude`` are not counted (they exist anyway); a
    storage saved by several ops (a view saved twice) is counted once. Exact on any device.
    """
    skip = {t.untyped_storage().data_ptr() for m in exclude for t in [*m.parameters(), *m.buffers()]}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*args, **kwargs)
    return sum(seen.values())


# ---------------------------------------------------------------------------------------------- per GPU
@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU of one training step; ``total`` is the larger of the step and EMA-update phases."""

    parts: dict
    total: int

    def gib(self) -> dict[str, float]:
        return {k: round(v / GiB, 2) for k, v in {**self.parts, "total": self.total}.items()}


def memory_per_gpu(cfg: LatteConfig, batch_per_gpu: int, num_gpus: int = 1, strategy: str = "ddp",
                   precision: str = "bf16", checkpointing: bool = False, num_images: int = 0) -> MemoryEstimate:
    """Estimated peak memory of one GPU training ``cfg`` with ``batch_per_gpu`` videos per step."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not one of {', '.join(STRATEGIES)}")
    if num_gpus < 1:
        raise ValueError(f"num_gpus={num_gpus} must be a positive integer")
    fsdp = strategy == "fsdp" and num_gpus > 1
    parts = training_state_bytes(cfg, num_gpus, shard=fsdp)
    act = activation_bytes(cfg, batch_per_gpu, precision, num_images, checkpointing)
    block_params = sum(math.prod(s) for s in parameter_parts(cfg)["block"])
    if fsdp:   # all-gathered weights of the current and the prefetched block + one reduce-scatter input
        parts["communication"] = 3 * 4 * block_params
    elif num_gpus > 1:   # DDP's gradient buckets are a second copy of the gradients
        parts["communication"] = parts["gradients"]
    else:
        parts["communication"] = 0
    parts["activations"] = act["peak"]
    parts["cuda_context"] = CUDA_OVERHEAD
    step_phase = sum(parts.values())
    # EMA update: activations are gone, but under FSDP every full weight is gathered at once.
    ema_phase = step_phase - act["peak"] + (4 * parameter_count(cfg) if fsdp else 0)
    return MemoryEstimate(parts, max(step_phase, ema_phase))


def max_batch_per_gpu(cfg: LatteConfig, gpu_gib: float, **kwargs) -> int:
    """Largest per-GPU batch whose estimate fits in ``USABLE_FRACTION`` of a ``gpu_gib`` card (0 if none)."""
    budget = USABLE_FRACTION * gpu_gib * GiB
    batch = 0
    while memory_per_gpu(cfg, batch + 1, **kwargs).total <= budget:
        batch += 1
        if batch > 4096:
            break
    return batch


PAPER_CONFIGS = ("paper-ucf101", "paper-ucf101-img", "paper-ffs", "paper-ffs-img", "paper-sky", "paper-sky-img",
                 "paper-taichi", "paper-taichi-img")


def paper_table(num_gpus: int = 8, cards: tuple[float, ...] = (40, 80)) -> str:
    """Markdown: recommended per-GPU batch of every paper config, DDP vs FSDP, with/without checkpointing.

    bf16 autocast (train.py's default on CUDA) except the first column: fp32 DDP as the official code runs.
    """
    head = ["config", "official batch/GPU", f"DDP fp32 {max(cards):g} GB (official setup)"]
    head += [f"{s.upper()}{' +ckpt' if c else ''} {g:g} GB" for s in STRATEGIES for c in (False, True) for g in cards]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in PAPER_CONFIGS:
        run = load_config(name)
        cfg, images = run.latte_config(), run.data.num_images
        cells = [name, str(run.train.batch_size // num_gpus),
                 str(max_batch_per_gpu(cfg, max(cards), num_gpus=num_gpus, precision="fp32", num_images=images))]
        for strategy in STRATEGIES:
            for ckpt in (False, True):
                for g in cards:
                    cells.append(str(max_batch_per_gpu(cfg, g, num_gpus=num_gpus, strategy=strategy,
                                                       precision="bf16", checkpointing=ckpt, num_images=images)))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def breakdown_table(cfg: LatteConfig, batch_per_gpu: int, num_gpus: int = 8, num_images: int = 0) -> str:
    """Markdown: GiB per part for DDP/FSDP × fp32/bf16 × checkpointing off/on."""
    cols = [(s, p, c) for s in STRATEGIES for p in PRECISIONS for c in (False, True)]
    ests = [memory_per_gpu(cfg, batch_per_gpu, num_gpus, s, p, c, num_images) for s, p, c in cols]
    head = ["part (GiB)"] + [f"{s.upper()} {p}{' ckpt' if c else ''}" for s, p, c in cols]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in [*ests[0].parts, "total"]:
        rows.append("| " + " | ".join([key] + [f"{e.gib()[key]:.2f}" for e in ests]) + " |")
    return "\n".join(rows)
