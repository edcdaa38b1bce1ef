"""recyclegan: unsupervised video retargeting with Recycle-GAN (Bansal et al., ECCV 2018)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Retargeter", "__version__"]

if TYPE_CHECKING:
    from recyclegan.inference.translate import Retargeter


def __getattr__(name: str) -> Any:
    # `import recyclegan` stays light (no torch) until the API is actually used.
    if name == "Retargeter":
        from recyclegan.inference.translate import Retargeter

        return Retargeter
    raise AttributeError(f"module 'recyclegan' has no attribute {name!r}")
