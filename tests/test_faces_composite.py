"""Face crops and paste-back: exact geometry, untouched surroundings, no seam."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from recyclegan.faces.composite import crop_square, feather_mask, paste_square, seam_added
from recyclegan.faces.geometry import Square


def smooth_frame(height: int = 120, width: int = 160, seed: int = 0, cell: int = 8
                 ) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 1, (height // cell, width // cell, 3)).astype(np.float32)
    image = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    image = (image - image.min()) / (image.max() - image.min())
    return (40 + 170 * image).astype(np.uint8)


def test_aligned_crop_is_the_pixels_themselves():
    frame = smooth_frame()
    crop = crop_square(frame, Square(cx=26, cy=36, side=32), 32)  # pixels 10..41, 20..51
    assert np.array_equal(crop, frame[20:52, 10:42])


def test_shrinking_crop_averages_and_border_repeats():
    frame = np.kron(np.arange(16, dtype=np.uint8).reshape(4, 4) * 10,
                    np.ones((8, 8), np.uint8))[..., None].repeat(3, axis=2)  # 32x32 blocks
    crop = crop_square(frame, Square(16, 16, 32), 4)
    assert np.array_equal(crop[..., 0], np.arange(16).reshape(4, 4) * 10)
    outside = crop_square(frame, Square(-8, 16, 16), 16)  # left half past the frame's edge
    assert np.array_equal(outside[:, :8, 0], np.repeat(frame[8:24, :1, 0], 8, axis=1))


def test_feather_mask_shape():
    mask = feather_mask(64, 0.25)
    assert mask.shape == (64, 64) and mask.dtype == np.float32
    assert mask[32, 32] == 1.0 and mask[0, 0] < 0.01 and mask[0, 32] < 0.05
    assert np.allclose(mask, mask.T) and np.allclose(mask, mask[::-1])
    assert np.all(feather_mask(8, 0.0) == 1.0)
    with pytest.raises(ValueError):
        feather_mask(8, 0.5)


@pytest.mark.parametrize("square", [Square(80, 60, 50), Square(70.3, 55.6, 47.2),
                                    Square(150, 10, 60)])  # the last one reaches past a corner
def test_round_trip_changes_nothing_outside_and_little_inside(square):
    frame = smooth_frame()
    out = paste_square(frame, crop_square(frame, square, 64), square)
    outside = np.ones(frame.shape[:2], bool)
    top, left = int(np.floor(square.top)) - 1, int(np.floor(square.left)) - 1
    bottom, right = int(np.ceil(square.top + square.side)) + 1, int(
        np.ceil(square.left + square.side)) + 1
    outside[max(top, 0):bottom, max(left, 0):right] = False
    assert np.array_equal(out[outside], frame[outside])
    assert np.abs(out.astype(int) - frame).mean() < 1.0
    assert np.abs(out.astype(int) - frame).max() < 30


def test_colour_matching_hides_the_seam():
    frame = smooth_frame(seed=1, cell=40)
    square = Square(80, 60, 64)
    shifted = np.clip(crop_square(frame, square, 64).astype(int) + [40, 25, -30], 0, 255)
    shifted = shifted.astype(np.uint8)
    assert seam_added(frame, frame, square) == 0.0
    matched = seam_added(paste_square(frame, shifted, square), frame, square)
    unmatched = seam_added(paste_square(frame, shifted, square, match_colour=False), frame,
                           square)
    assert unmatched > 20  # about the shift's mean size, 31.7
    assert matched < 3


def test_square_outside_the_frame_leaves_it_unchanged():
    frame = smooth_frame()
    out = paste_square(frame, np.zeros((16, 16, 3), np.uint8), Square(-100, -100, 20))
    assert np.array_equal(out, frame) and out is not frame
