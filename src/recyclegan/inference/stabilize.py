"""Test-time temporal stabilisation of a translated stream (`retarget --stabilize flow`).

The previous stabilised output is carried onto frame t along the optical flow of the
*input* (OpenCV DIS, t -> t-1) and blended in wherever that flow passes the forward-backward
check, so occluded and newly visible pixels keep the fresh translation:

    out_t = (1 - s * m) * gen(x_t) + s * m * warp(out_t-1),   m = 1 where the flow is trusted

It is a recursive filter over one clip (`reset` starts a new clip) and runs one frame at a
time after the generator's batch. `benchmarks/stabilize.py` measured it, and a variant that
blends with the run's temporal predictor instead, on the synthetic benchmark: only this one
lowered flicker without lowering accuracy (benchmarks/BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from recyclegan.errors import RecycleganError
from recyclegan.metrics.temporal import consistency_mask, flow_estimator

METHODS = ("none", "flow")


class Stabilizer(Protocol):
    def reset(self) -> None: ...
    def __call__(self, prepared: np.ndarray, translated: np.ndarray) -> np.ndarray: ...


def check_strength(strength: float) -> None:
    if not 0.0 <= strength < 1.0:
        raise RecycleganError(f"--stabilize-strength must be in [0, 1), got {strength}")


class FlowStabilizer:
    """Blend each translation with the previous output carried along the input's flow."""

    def __init__(self, strength: float = 0.5) -> None:
        check_strength(strength)
        self.strength = strength
        self._flow = flow_estimator("dis")
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # gray input, output

    def reset(self) -> None:
        self._previous = None

    def __call__(self, prepared: np.ndarray, translated: np.ndarray) -> np.ndarray:
        """`prepared`: input frame t as the generator saw it; `translated`: its translation."""
        gray = cv2.cvtColor(prepared, cv2.COLOR_RGB2GRAY)
        out = translated.astype(np.float32)
        if self._previous is not None and self._previous[0].shape == gray.shape:
            previous_gray, previous_out = self._previous
            flow_back = self._flow(gray, previous_gray)  # t -> t-1
            flow_fore = self._flow(previous_gray, gray)
            height, width = gray.shape
            grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32),
                                         np.arange(height, dtype=np.float32))
            warped = cv2.remap(previous_out, grid_x + flow_back[..., 0],
                               grid_y + flow_back[..., 1], cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            trusted = consistency_mask(flow_back, flow_fore).astype(np.float32)[..., None]
            weight = self.strength * trusted
            out = (1.0 - weight) * out + weight * warped
        self._previous = (gray, out)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def build_stabilizer(method: str, strength: float = 0.5) -> Stabilizer | None:
    """The stabiliser for `method`: None for "none"."""
    if method not in METHODS:
        raise RecycleganError(f"--stabilize must be one of {', '.join(METHODS)}, got {method!r}")
    check_strength(strength)
    return FlowStabilizer(strength) if method == "flow" else None
