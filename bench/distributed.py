"""Process groups under ``torchrun``: which rank am I, and the few collectives the harness
needs (objects only; tensors stay with the training engine).

``torchrun --nproc_per_node N -m bench eval ...`` sets ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT``; :func:`current` initialises the default
process group from them once (NCCL when the ranks run on CUDA devices, gloo otherwise) and
returns ``None`` in a plain single process, so callers need no launcher of their own.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int
    world: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: torch.device) -> torch.device:
        """Each rank on its own GPU (``cuda:LOCAL_RANK``); CPU ranks share the CPU."""
        if requested.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return requested

    def broadcast(self, obj: Any) -> Any:
        """``obj`` of rank 0, on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out


def current(device_type: str = "cpu") -> Ranks | None:
    """The ranks of this ``torchrun`` job (process group initialised on first use), or None
    outside one. ``device_type`` picks the backend: nccl for cuda, gloo otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" and dist.is_nccl_available() else "gloo"
        if backend == "nccl":  # object collectives run on the rank's current CUDA device
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
        # tear the group down before the interpreter exits: gloo's threads otherwise abort
        # the process ("terminate called without an active exception") now and then
        atexit.register(_shutdown)
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
