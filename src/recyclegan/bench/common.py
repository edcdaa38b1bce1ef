"""What the training and inference measurements share: variants, device name and sync."""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from recyclegan.config import TrainConfig
from recyclegan.devices import autocast_dtype, memory_format

_NAME = re.compile(r"(fp32|bf16)(-cl)?(-compile)?")


@dataclass(frozen=True)
class Variant:
    """How the networks run: bf16 autocast or fp32, NHWC or NCHW, compiled or eager."""

    precision: str
    channels_last: bool = False
    compile: bool = False

    @property
    def name(self) -> str:
        return (self.precision + ("-cl" if self.channels_last else "")
                + ("-compile" if self.compile else ""))

    @classmethod
    def parse(cls, name: str) -> Variant:
        """`fp32`, `bf16-cl`, `bf16-cl-compile`, ...; ValueError for anything else."""
        match = _NAME.fullmatch(name)
        if match is None:
            raise ValueError(f"unknown variant {name!r}: expected fp32 or bf16, optionally "
                             "followed by -cl and/or -compile (bf16-cl-compile), or fast")
        return cls(match[1], bool(match[2]), bool(match[3]))


def default_variant(path: str, device: torch.device) -> Variant:
    """What `recyclegan train` (path "training") or `retarget` ("inference") runs by default
    on `device`: bf16 on CUDA, fp32 on the CPU; channels_last for inference on CUDA only."""
    precision = "bf16" if autocast_dtype("auto", device) is not None else "fp32"
    layout = TrainConfig().channels_last if path == "training" else None
    return Variant(precision, memory_format(layout, device) == torch.channels_last)


def resolve_variants(names: list[str], path: str, device: torch.device,
                     add_compiled: bool = False) -> list[Variant]:
    """The variants named (`fast` = the default of `path` on `device`), plus a compiled copy
    of each with `add_compiled`, without repeats, in order."""
    variants = [default_variant(path, device) if name == "fast" else Variant.parse(name)
                for name in names]
    if add_compiled:
        variants += [Variant(v.precision, v.channels_last, True) for v in variants]
    return list(dict.fromkeys(variants))


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and the threads torch uses."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    threads = torch.get_num_threads()
    return f"{model}, {threads} thread{'s' if threads > 1 else ''}"
