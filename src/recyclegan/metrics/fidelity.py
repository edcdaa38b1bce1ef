"""PSNR and SSIM against a ground truth, for synthetic benchmarks where one exists.

SSIM follows Wang, Bovik, Sheikh and Simoncelli (IEEE TIP 2004): an 11x11 Gaussian window
with sigma 1.5, K1 = 0.01, K2 = 0.03, population (not sample) variances, and the mean of
the SSIM map over the pixels whose window lies fully inside the image (the 'valid' region,
5 pixels in from each border). It is computed on each RGB channel and the three means are
averaged, which matches scikit-image's `structural_similarity(..., gaussian_weights=True,
use_sample_covariance=False, channel_axis=-1)`. Unlike the authors' MATLAB script, frames
are not downsampled first.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_WINDOW = 11
_SIGMA = 1.5
_K1 = 0.01
_K2 = 0.03


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE); inf when a == b."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def _blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (_WINDOW, _WINDOW), _SIGMA, borderType=cv2.BORDER_REFLECT)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255) -> float:
    """Mean SSIM of two HxWx3 frames (per RGB channel, then averaged; see module docstring).

    1.0 for identical frames. Frames must be at least 11x11.
    """
    _check_pair(a, b)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"frames must be HxWx3, got {a.shape}")
    if min(a.shape[:2]) < _WINDOW:
        raise ValueError(f"SSIM needs frames of at least {_WINDOW}x{_WINDOW}, got {a.shape[:2]}")
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    mu_x, mu_y = _blur(x), _blur(y)
    var_x = _blur(x * x) - mu_x**2
    var_y = _blur(y * y) - mu_y**2
    cov_xy = _blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    pad = _WINDOW // 2
    valid = ssim_map[pad:-pad, pad:-pad]
    return float(valid.mean(axis=(0, 1)).mean())


class VideoFidelity:
    """Mean PSNR and SSIM over the frames of an output video and its ground truth.

    PSNR is averaged per frame, so a single identical frame makes the mean inf.
    """

    def __init__(self, data_range: float = 255) -> None:
        self.data_range = data_range
        self._psnr_sum = 0.0
        self._ssim_sum = 0.0
        self.frames = 0

    def update(self, output: np.ndarray, truth: np.ndarray) -> None:
        """Add one frame pair (HxWx3, same shape)."""
        self._psnr_sum += psnr(output, truth, self.data_range)
        self._ssim_sum += ssim(output, truth, self.data_range)
        self.frames += 1

    def result(self) -> dict[str, float]:
        """{"psnr": mean dB, "ssim": mean SSIM, "frames": count}."""
        if self.frames == 0:
            raise ValueError("no frame was added")
        return {
            "psnr": self._psnr_sum / self.frames,
            "ssim": self._ssim_sum / self.frames,
            "frames": self.frames,
        }
