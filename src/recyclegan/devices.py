"""Choosing the torch device from the user's --device."""

from __future__ import annotations

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
