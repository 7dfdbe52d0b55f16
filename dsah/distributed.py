"""Data-parallel training on PyTorch's engine (torchrun + DistributedDataParallel).

`train.nproc: N` makes the train stage launch N processes with `torchrun` (one per GPU, or N CPU
processes with the gloo backend); `DSAH_TORCHRUN_ARGS` adds torchrun's multi-node options, e.g.
`--nnodes 2 --node-rank 0 --rdzv-backend c10d --rdzv-endpoint host0:29500`.

How a global batch is split: the sampler draws the same class-balanced batch of P classes x K images
on every rank (same seed) and each rank takes a contiguous 1/W of it, i.e. P/W whole classes (P must
be a multiple of the world size W), so a rank's batch composition is fixed for a fixed W. The
networks are wrapped in DDP, which averages parameter gradients; the pairwise losses need every pair
of the global batch, so every rank all-gathers the batch's outputs (`gather`, gradients flowing back to
each rank's own rows) and computes the same global loss: DPSH, DSH, HashNet, the saliency losses and
DTQ's triplets see the global batch exactly as one process would, and so do the per-image losses (CSQ,
GreedyHash, OrthoHash). Parameters outside the wrapped network (a classifier, centres) get the same
gradient on every rank from the same global loss and need no all-reduce. DSaH's step 2 runs the frozen
hashing network unwrapped, so it all-reduces nothing.

BatchNorm: on CUDA the wrapped networks use SyncBatchNorm (statistics of the global batch); on the
CPU (gloo) BatchNorm uses each rank's own rows, so a 1-process run equals a W-process run exactly
only with `model.norm: group` or `none` (the equivalence test uses group).
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside a distributed run."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init(device: torch.device) -> torch.device:
    """Join the process group torchrun describes (WORLD_SIZE > 1); returns this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        cuda = device.type == "cuda"
        if cuda:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo")
    return device


def gather(t: torch.Tensor) -> torch.Tensor:
    """Every rank's `t`, concatenated in rank order; with autograd, gradients reach each rank's own rows."""
    rank, size = world()
    if size == 1:
        return t
    if t.requires_grad:
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(t), dim=0)
    parts = [torch.empty_like(t) for _ in range(size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=0)


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`module` in DistributedDataParallel (SyncBatchNorm on CUDA); itself outside a distributed run."""
    if world()[1] == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def shard(items: list, rank: int, size: int) -> list:
    """This rank's contiguous 1/size of a global batch (class-major: whole classes per rank)."""
    n = len(items) // size
    return items[rank * n : (rank + 1) * n]
