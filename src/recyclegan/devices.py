"""Choosing the torch device from the user's --device, and the precision and layout on it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

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


# glibc mallopt parameters (malloc.h) and the values `keep_freed_memory` gives them.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
MALLOC_SETTINGS = (
    ("MALLOC_MMAP_MAX_", M_MMAP_MAX, 0),  # no block of its own from mmap, however large
    ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, 1 << 30),  # keep up to 1 GiB freed
    ("MALLOC_TOP_PAD_", M_TOP_PAD, 256 << 20),  # and grow the heap in 256 MiB steps
)


def tune_process(device: torch.device) -> None:
    """What `train` and `retarget` set for their device: on the CPU, tune_cpu_process; on
    CUDA, cuDNN's benchmark mode, which times the candidate algorithms for each new
    convolution shape once and keeps the fastest (the shapes of training steps and of
    batches of frames repeat, so the search pays off within seconds)."""
    if device.type == "cpu":
        tune_cpu_process()
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def tune_cpu_process() -> bool:
    """Settings for fast CPU training and inference in this process: denormals flushed
    (the authors' code slows several-fold over a long run without it), and glibc's malloc
    told to keep freed memory (`keep_freed_memory`). Returns whether malloc took them."""
    torch.set_flush_denormal(True)
    return keep_freed_memory()


def keep_freed_memory(libc: ctypes.CDLL | None = None) -> bool:
    """Keep tensors' memory in the heap once freed instead of giving it back to the kernel.

    By default glibc serves each block of more than a few MiB with its own mmap and unmaps
    it when it is freed, so every training step or batch of frames page-faults its
    activations in again: about 250,000 minor faults per 128 px training step of the
    paper's networks, and 15 million for 48 frames through the generator at 256 px, on a
    2-core VM where they cost a third of the time. With mmap off and a high trim threshold,
    freed blocks are reused (benchmarks/BENCHMARKS.md has the figures), for a somewhat
    higher peak of resident memory. A setting the user made with glibc's MALLOC_*_
    variables is left as it is. Does nothing, and returns False, where the C library is
    not glibc.
    """
    if libc is None:
        if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
            return False
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    done = True
    for variable, parameter, value in MALLOC_SETTINGS:
        if variable not in os.environ:
            done = libc.mallopt(parameter, value) == 1 and done
    return done
