"""Offline video metrics, pure functions of numpy frames (no files, no downloaded weights).

- segmentation: palette decoding, confusion matrix, pixel/class accuracy and IoU (percent).
- temporal: warping error of an output along its input's optical flow, and the ratio to
  the input's own error (1.0 = no flicker added).
- fidelity: PSNR and SSIM against a ground truth.

Each family has a per-video accumulator with `update(...)` and `result() -> dict`:
`VideoSegmentation`, `VideoWarpingError`, `VideoFidelity`.
"""

from recyclegan.metrics.fidelity import VideoFidelity, psnr, ssim
from recyclegan.metrics.segmentation import (
    VideoSegmentation,
    confusion_matrix,
    decode_palette,
    scores,
)
from recyclegan.metrics.temporal import (
    VideoWarpingError,
    consistency_mask,
    warping_error,
    warping_error_ratio,
)

__all__ = [
    "VideoFidelity",
    "VideoSegmentation",
    "VideoWarpingError",
    "confusion_matrix",
    "consistency_mask",
    "decode_palette",
    "psnr",
    "scores",
    "ssim",
    "warping_error",
    "warping_error_ratio",
]
