"""Data-parallel training under `torchrun`: process group, agreement between ranks, gathers.

`torchrun --nproc-per-node N -m recyclegan train ...` starts N copies; each learns its rank
from the environment (RANK, WORLD_SIZE, LOCAL_RANK) and trains on its slice of every global
batch, with DistributedDataParallel averaging gradients. Without those variables training is
a single process and every helper here is a no-op.

Control decisions (a refused run folder, a Ctrl-C) go through a separate gloo group on the
CPU, so agreeing on them never synchronises a GPU stream.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from recyclegan.devices import rank_device, torchrun_rank
from recyclegan.errors import RecycleganError

T = TypeVar("T")


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    control: object | None = None
    """The CPU (gloo) process group for control messages; None for a single process."""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run folder, logs and shows progress."""
        return self.rank == 0

    def device(self, setting: str) -> str:
        """The device this rank trains on: its own GPU (cuda:LOCAL_RANK) under torchrun."""
        return rank_device(setting, self.local_rank) if self.enabled else setting

    def agree(self, action: Callable[[], T]) -> T:
        """Run `action` on every rank; if it fails on any, fail on all (nobody is left
        waiting in a collective). A rank that did not fail raises a short note."""
        if not self.enabled:
            return action()
        error: BaseException | None = None
        result = None
        try:
            result = action()
        except (RecycleganError, OSError, ValueError) as exc:
            error = exc
        failed = torch.tensor([0 if error is None else 1])
        dist.all_reduce(failed, op=dist.ReduceOp.MAX, group=self.control)
        if error is not None:
            raise error
        if failed.item():
            raise RecycleganError(f"rank {self.rank}: stopping because another rank failed")
        return result  # type: ignore[return-value]

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any (a stop request, say)."""
        if not self.enabled:
            return flag
        value = torch.tensor([int(flag)])
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.control)
        return bool(value.item())

    def mean(self, values: dict[str, Tensor]) -> dict[str, float]:
        """Scalars averaged over ranks, as floats (a host sync: call it at logging steps)."""
        names = list(values)
        stacked = torch.stack([values[name].float() for name in names])
        if self.enabled:
            dist.all_reduce(stacked)
            stacked /= self.world_size
        return dict(zip(names, stacked.tolist(), strict=True))

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier(group=self.control)

    def gather_frames(self, frames: Tensor, frames_per_window: int) -> Tensor:
        """All ranks' (frames_per_window * local_batch, ...) stacks as the one stack a single
        process would have made of the global batch: frame-major, then ranks in order."""
        if not self.enabled:
            return frames
        local = frames.reshape(frames_per_window, -1, *frames.shape[1:]).contiguous()
        parts = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(parts, local)
        return torch.cat(parts, dim=1).flatten(0, 1)

    def local_frames(self, frames: Tensor, frames_per_window: int) -> Tensor:
        """This rank's share of a stack laid out by `gather_frames`."""
        if not self.enabled:
            return frames
        grouped = frames.reshape(frames_per_window, self.world_size, -1, *frames.shape[1:])
        return grouped[:, self.rank].flatten(0, 1)

    def close(self) -> None:
        """Leave the process group, and free now, while the interpreter is whole, whatever
        still holds it: this object's group and the cycles DistributedDataParallel's modules
        sit in. Freed at interpreter exit instead, gloo aborted a rank now and then
        ('terminate called without an active exception'; about 1 two-node run in 15), and
        torchrun's agent on the other node then waited out its exit barrier."""
        if not self.enabled:
            return
        if dist.is_initialized():
            dist.destroy_process_group()
        self.control = None
        gc.collect()


def from_environment(device_setting: str) -> Distributed:
    """Join the process group that torchrun describes, or a single process without one."""
    rank, world_size, local_rank = torchrun_rank()
    if world_size <= 1:
        return Distributed()
    use_cuda = device_setting in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    control = dist.new_group(backend="gloo") if use_cuda else dist.group.WORLD
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, control=control)
