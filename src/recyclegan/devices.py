"""Choosing the torch device from the user's --device, and the precision and layout on it."""

from __future__ import annotations

import os

import torch

from recyclegan.errors import RecycleganError


def resolve_device(name: str | torch.device) -> torch.device:
    """auto = CUDA when PyTorch sees a GPU, else CPU; a CUDA request without a GPU is an error."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RecycleganError(f"--device {name}: no CUDA device is available to PyTorch here; "
                              "use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise RecycleganError(f"--device {name}: not a device name; use auto, cpu or cuda") \
            from None


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bfloat16 for mixed precision, None for plain fp32; "auto" = bf16 on CUDA only.

    bf16 keeps fp32's exponent range, so no loss scaling is needed. On a CPU without bf16
    matrix units it is slower than fp32, hence not the CPU's default.
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise RecycleganError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return torch.bfloat16 if precision == "bf16" else None


def memory_format(channels_last: bool | None, device: torch.device) -> torch.memory_format:
    """NHWC (channels_last) when asked, or by default on CUDA, where cuDNN's tensor-core
    convolutions want it; contiguous NCHW otherwise."""
    if channels_last is None:
        channels_last = device.type == "cuda"
    return torch.channels_last if channels_last else torch.contiguous_format


def torchrun_rank() -> tuple[int, int, int]:
    """(rank, world size, local rank) that torchrun set for this process; (0, 1, 0) alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0"))


def rank_device(setting: str, local_rank: int) -> str:
    """Under torchrun each process takes its own GPU (cuda:LOCAL_RANK) for auto or cuda."""
    if setting in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{local_rank}"
    return setting
