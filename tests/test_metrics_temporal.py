"""Temporal warping error on synthetic clips whose motion is known exactly."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from recyclegan.metrics import (
    VideoWarpingError,
    consistency_mask,
    warping_error,
    warping_error_ratio,
)

HEIGHT, WIDTH, SHIFT, FRAMES = 64, 96, 3, 6


def textured(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth random RGB texture in [30, 210]: trackable by optical flow, room to brighten."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.uniform(0, 1, (height, width, 3)).astype(np.float32), (0, 0), 2)
    image = (image - image.min()) / (image.max() - image.min())
    return (30 + 180 * image).astype(np.uint8)


def panning_clip(seed: int = 0) -> np.ndarray:
    """Frames cropped from a wider texture so content moves SHIFT pixels right per frame."""
    canvas = textured(HEIGHT, WIDTH + SHIFT * FRAMES, seed)
    start = SHIFT * FRAMES
    lefts = [start - SHIFT * t for t in range(FRAMES)]
    return np.stack([canvas[:, left : left + WIDTH] for left in lefts])


def dis_flows(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in (first, second)]
    return dis.calc(gray[0], gray[1], None), dis.calc(gray[1], gray[0], None)


def test_consistency_mask_on_hand_made_flows() -> None:
    # Everything moves 2 px right; on an 8-px-wide frame the targets of columns 6 and 7
    # fall outside (x + 2 > 7).
    flow_fw = np.zeros((6, 8, 2), np.float32)
    flow_fw[..., 0] = 2
    flow_bw = -flow_fw
    expected = np.ones((6, 8), bool)
    expected[:, 6:] = False
    np.testing.assert_array_equal(consistency_mask(flow_fw, flow_bw), expected)
    # Slight disagreement passes: |2 - 2.5|^2 = 0.25 <= 0.01 * (4 + 6.25) + 0.5 = 0.6025.
    np.testing.assert_array_equal(consistency_mask(flow_fw, flow_bw * 1.25), expected)
    # Backward flow of 0 from column 4 on (frame t+1): frame-t columns 2..5 land there and
    # fail, |2 + 0|^2 = 4 > 0.01 * (4 + 0) + 0.5 = 0.54.
    flow_bw[:, 4:] = 0
    expected[:, 2:] = False
    np.testing.assert_array_equal(consistency_mask(flow_fw, flow_bw), expected)


def test_mask_excludes_the_band_that_leaves_the_frame() -> None:
    # Content moves right: the last SHIFT columns of frame t have no counterpart in t+1
    # (t+1 shows a new band on its left instead), so they must be masked.
    clip = panning_clip()
    flow_fw, flow_bw = dis_flows(clip[0], clip[1])
    assert np.abs(np.median(flow_fw[..., 0]) - SHIFT) < 0.1
    valid = consistency_mask(flow_fw, flow_bw)
    assert not valid[:, WIDTH - SHIFT :].any()
    assert valid[8:-8, 8 : WIDTH - SHIFT - 8].mean() > 0.95
    result = warping_error_ratio(clip, clip)
    assert 0.85 < result["valid_fraction"] <= (WIDTH - SHIFT) / WIDTH


def test_mask_flags_background_covered_by_a_moving_square() -> None:
    background, square, step = textured(128, 128, 5), textured(40, 40, 105), 8
    frames = []
    for t in range(2):
        frame = background.copy()
        frame[44:84, 20 + step * t : 60 + step * t] = square
        frames.append(frame)
    valid = consistency_mask(*dis_flows(*frames))
    covered = valid[44:84, 60 : 60 + step]  # background in frame t, under the square in t+1
    assert (~covered).mean() > 0.5
    assert (~valid[:, 90:]).mean() < 0.1  # static background far from the square


def test_coherent_output_has_near_zero_error_and_ratio_one() -> None:
    clip = panning_clip()
    # Inverted colours with channels swapped: per pixel the same absolute differences.
    inverted = 255 - clip[..., ::-1]
    result = warping_error_ratio(clip, inverted)
    assert result["output"] < 0.005
    assert result["ratio"] == pytest.approx(1.0, abs=1e-9)
    # A nonlinear but per-pixel colour map moves with the content too.
    gamma = (255 * (np.arange(256) / 255) ** 0.5).astype(np.uint8)
    assert 0.5 < warping_error_ratio(clip, gamma[clip])["ratio"] < 2.0


def test_known_flicker_is_measured_in_unit_range() -> None:
    # Every other output frame 10 levels brighter: |out_t - warp(out_t+1)| = 10/255 per pixel,
    # up to the (much smaller) flow error.
    clip = panning_clip()
    output = clip.copy()
    output[1::2] += 10
    assert warping_error(clip, output) == pytest.approx(10 / 255, abs=2e-3)


def test_random_flicker_gives_a_large_ratio() -> None:
    clip = panning_clip()
    rng = np.random.default_rng(1)
    offsets = rng.integers(-20, 21, size=(FRAMES, 1, 1, 1))
    flicker = np.clip(clip.astype(int) + offsets, 0, 255).astype(np.uint8)
    assert warping_error_ratio(clip, flicker)["ratio"] > 10


def test_static_input_ratio_is_one_or_inf() -> None:
    still = np.repeat(textured(HEIGHT, WIDTH, 2)[None], 4, axis=0)
    steady = warping_error_ratio(still, still)
    assert steady["input"] == 0.0 and steady["ratio"] == 1.0
    flicker = still.copy()
    flicker[1::2] += 5
    assert math.isinf(warping_error_ratio(still, flicker)["ratio"])


def test_streaming_equals_batch() -> None:
    clip = panning_clip(seed=3)
    rng = np.random.default_rng(4)
    output = np.clip(clip + rng.normal(0, 6, clip.shape), 0, 255).astype(np.uint8)
    meter = VideoWarpingError()
    for input_frame, output_frame in zip(iter(clip), iter(output), strict=True):
        meter.update(input_frame, output_frame)
    streamed = meter.result()
    assert meter.pairs == FRAMES - 1
    assert streamed == warping_error_ratio(list(clip), list(output))
    assert streamed["output"] == warping_error(clip, output)


def test_rejects_mismatched_videos() -> None:
    clip = panning_clip()
    with pytest.raises(ValueError, match="frames"):
        warping_error(clip, clip[:-1])
    with pytest.raises(ValueError, match="equal sizes"):
        warping_error(clip, clip[:, :, :-1])
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        warping_error(clip, clip.astype(np.float32))
    with pytest.raises(ValueError, match="at least two frames"):
        warping_error(clip[:1], clip[:1])


def test_combine_pools_videos_without_pairing_across_them():
    rng = np.random.default_rng(3)
    videos = [[rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
              for _ in range(2)]
    meters = []
    for frames in videos:
        meter = VideoWarpingError()
        for frame in frames:
            meter.update(frame, frame)
        meters.append(meter)
    pooled = VideoWarpingError.combine(meters)
    assert meters[0].pairs + meters[1].pairs == 4  # 2 pairs per 3-frame video, none across
    expected = sum(m.result()["output"] * m.valid_pixels for m in meters) / sum(
        m.valid_pixels for m in meters)
    assert pooled["output"] == pytest.approx(expected)
    assert pooled["ratio"] == pytest.approx(1.0)


def test_farneback_flow_agrees_on_known_motion() -> None:
    clip = panning_clip()
    output = clip.copy()
    output[1::2] += 10
    assert warping_error(clip, output, flow="farneback") == pytest.approx(10 / 255, abs=3e-3)
    assert warping_error_ratio(clip, clip, flow="farneback")["ratio"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="farneback"):
        VideoWarpingError(flow="raft")
