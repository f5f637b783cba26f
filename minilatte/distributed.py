"""One entry point for every scale: plain ``python`` runs one process, ``torchrun`` runs many.

``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; without them this is a single process.
CUDA is used when present (NCCL backend), otherwise the CPU (gloo backend) — nothing asserts a GPU.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only the main process writes files (checkpoints, logs, samples)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str | None = None) -> DistContext:
    """Read torchrun's environment, start the process group, pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world_size)
    return DistContext(rank, world_size, local_rank, dev)


def elastic_restart(ctx: DistContext) -> int:
    """How often torchrun has restarted this run's workers (``TORCHELASTIC_RESTART_COUNT``; 0 without torchrun).

    The highest count among the processes: an agent counts only the failures of its own node's
    workers, so after one node's failure the workers of the others can start with a count of 0.
    """
    count = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if ctx.distributed:
        value = torch.tensor([count], device=ctx.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        count = int(value.item())
    return count


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def all_reduce_mean(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.distributed:
        value = value.clone()
        dist.all_reduce(value)
        value /= ctx.world_size
    return value


def cleanup(ctx: DistContext) -> None:
    """End the process group. Call it once the models wrapped by DDP/FSDP are out of scope: the
    collections free whatever still holds the group while the interpreter is alive (left to interpreter
    exit, a gloo process was seen to abort now and then with "terminate called without an active exception")."""
    if ctx.distributed and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
        gc.collect()
