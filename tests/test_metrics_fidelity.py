"""PSNR and SSIM: known values, behaviour under noise, and an independent SSIM reference."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from recyclegan.metrics import VideoFidelity, psnr, ssim


def textured(seed: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A smooth random RGB image in [30, 210], so shifts and noise stay in range."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.uniform(0, 1, (*shape, 3)).astype(np.float32), (0, 0), 2.0)
    image = (image - image.min()) / (image.max() - image.min())
    return (30 + 180 * image).astype(np.uint8)


def reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. (2004) SSIM written directly with scipy's Gaussian filter, per channel."""
    from scipy import ndimage  # installed with scikit-video, a dev dependency

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    means = []
    for channel in range(3):
        x = a[..., channel].astype(np.float64)
        y = b[..., channel].astype(np.float64)

        def blur(image: np.ndarray) -> np.ndarray:
            return ndimage.gaussian_filter(image, sigma=1.5, truncate=3.5)  # radius 5: 11 taps

        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        full = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        means.append(full[5:-5, 5:-5].mean())
    return float(np.mean(means))


def test_psnr_of_a_constant_difference() -> None:
    a = textured(0)
    # MSE = 5^2 = 25 everywhere.
    assert psnr(a, a + 5) == pytest.approx(10 * math.log10(255**2 / 25))
    assert psnr(a + 5, a) == pytest.approx(34.1514, abs=1e-4)


def test_psnr_identical_is_inf_and_data_range_scales() -> None:
    a = textured(1)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 5, data_range=1.0) == pytest.approx(10 * math.log10(1 / 25))
    with pytest.raises(ValueError, match="shape"):
        psnr(a, a[:-1])


def test_ssim_identical_is_one() -> None:
    a = textured(2)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_constant_images_by_hand() -> None:
    # No variance anywhere, so only the luminance term is left:
    # (2 * 100 * 110 + C1) / (100^2 + 110^2 + C1) with C1 = (0.01 * 255)^2 = 6.5025.
    a = np.full((16, 16, 3), 100, np.uint8)
    expected = (22000 + 6.5025) / (22100 + 6.5025)
    assert ssim(a, a + 10) == pytest.approx(expected, abs=1e-12)


def test_ssim_constant_shift_is_close_to_but_below_one() -> None:
    a = textured(3)
    value = ssim(a, a + 8)
    assert 0.99 < value < 1.0


def test_ssim_decreases_with_noise() -> None:
    a = textured(4)
    rng = np.random.default_rng(5)
    values = []
    for sigma in (2, 10, 40):
        noisy = np.clip(a + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8)
        values.append(ssim(a, noisy))
    assert 1.0 > values[0] > values[1] > values[2]


def test_ssim_matches_an_independent_implementation() -> None:
    a = textured(6, (40, 52))
    rng = np.random.default_rng(7)
    b = np.clip(a + rng.normal(0, 15, a.shape), 0, 255).astype(np.uint8)
    expected = reference_ssim(a, b)
    assert 0.2 < expected < 0.95  # a discriminating case, not near either end
    assert ssim(a, b) == pytest.approx(expected, abs=1e-4)
    unrelated = textured(8, (40, 52))
    assert ssim(a, unrelated) == pytest.approx(reference_ssim(a, unrelated), abs=1e-4)


def test_ssim_rejects_bad_frames() -> None:
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((10, 20, 3), np.uint8), np.zeros((10, 20, 3), np.uint8))
    with pytest.raises(ValueError, match="HxWx3"):
        ssim(np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8))


def test_video_fidelity_averages_frames() -> None:
    truth = [textured(9), textured(10)]
    outputs = [truth[0] + 5, np.clip(truth[1].astype(int) - 3, 0, 255).astype(np.uint8)]
    meter = VideoFidelity()
    for output, frame in zip(outputs, truth, strict=True):
        meter.update(output, frame)
    result = meter.result()
    assert result["frames"] == 2
    # MSE 25 and 9.
    expected_psnr = (10 * math.log10(255**2 / 25) + 10 * math.log10(255**2 / 9)) / 2
    assert result["psnr"] == pytest.approx(expected_psnr)
    expected_ssim = (ssim(outputs[0], truth[0]) + ssim(outputs[1], truth[1])) / 2
    assert result["ssim"] == pytest.approx(expected_ssim)
    with pytest.raises(ValueError, match="no frame"):
        VideoFidelity().result()
