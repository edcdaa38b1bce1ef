"""Segmentation metrics: palette decoding, confusion matrix and scores on hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recyclegan.metrics import VideoSegmentation, confusion_matrix, decode_palette, scores

PALETTE = np.array(
    [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]], dtype=np.uint8
)

# Worked example, 2x3 pixels, classes 0..2 (plus an unused class 3 when num_classes=4).
TRUTH = np.array([[0, 0, 0], [0, 1, 1]])
PRED = np.array([[0, 0, 0], [2, 1, 0]])
# Pairs (truth, pred): (0,0) x3, (0,2), (1,1), (1,0).
# H = [[3, 0, 1],      row sums (truth): 4, 2, 0
#      [1, 1, 0],      col sums (pred):  4, 1, 1
#      [0, 0, 0]]
# pixel accuracy = (3 + 1) / 6                         = 66.666...%
# class accuracy = mean(3/4, 1/2) over classes 0 and 1 = 62.5%  (class 2 absent from truth)
# IoU_0 = 3 / (4 + 4 - 3) = 0.6;  IoU_1 = 1 / (2 + 1 - 1) = 0.5;  IoU_2 = 0 / (0 + 1 - 0) = 0
# mean IoU = (0.6 + 0.5 + 0) / 3                       = 36.666...%
EXPECTED_H = np.array([[3, 0, 1], [1, 1, 0], [0, 0, 0]])


def test_decode_palette_snaps_noisy_colours_to_nearest_entry() -> None:
    image = np.array(
        [
            [[10, 5, 3], [240, 20, 10], [30, 200, 40]],
            [[5, 10, 250], [120, 135, 125], [100, 100, 100]],
        ],
        dtype=np.uint8,
    )
    ids = decode_palette(image, PALETTE)
    assert ids.shape == (2, 3)
    np.testing.assert_array_equal(ids, [[0, 1, 2], [3, 4, 4]])


def test_decode_palette_tie_goes_to_lower_index() -> None:
    palette = np.array([[0, 0, 0], [2, 0, 0]], dtype=np.uint8)
    image = np.array([[[1, 0, 0], [2, 0, 0]]], dtype=np.uint8)
    np.testing.assert_array_equal(decode_palette(image, palette), [[0, 1]])


def test_decode_palette_matches_brute_force_across_chunks() -> None:
    rng = np.random.default_rng(0)
    palette = rng.choice(256, size=(30, 3), replace=False).astype(np.uint8)
    image = rng.integers(0, 256, size=(128, 640, 3), dtype=np.uint8)  # > one 65536-pixel chunk
    distances = ((image[:, :, None, :].astype(np.int32) - palette.astype(np.int32)) ** 2).sum(-1)
    np.testing.assert_array_equal(decode_palette(image, palette), distances.argmin(-1))


def test_decode_palette_rejects_repeated_colours() -> None:
    with pytest.raises(ValueError, match="repeated"):
        decode_palette(np.zeros((2, 2, 3), np.uint8), np.array([[1, 2, 3], [1, 2, 3]]))


def test_confusion_matrix_by_hand() -> None:
    confusion = confusion_matrix(TRUTH, PRED, num_classes=3)
    assert confusion.dtype == np.int64
    np.testing.assert_array_equal(confusion, EXPECTED_H)


def test_scores_by_hand() -> None:
    result = scores(confusion_matrix(TRUTH, PRED, num_classes=4))
    assert result["pixel_accuracy"] == pytest.approx(400 / 6)
    assert result["class_accuracy"] == pytest.approx(62.5)
    assert result["iou"][:3] == pytest.approx([60.0, 50.0, 0.0])
    assert math.isnan(result["iou"][3])  # class 3: absent from truth and prediction
    assert result["mean_iou"] == pytest.approx(110 / 3)


def test_ignore_index_drops_pixels() -> None:
    truth = np.array([[0, 0, 0, 255], [0, 1, 1, 255]])
    pred = np.array([[0, 0, 0, 1], [2, 1, 0, 2]])
    confusion = confusion_matrix(truth, pred, num_classes=3, ignore_index=255)
    np.testing.assert_array_equal(confusion, EXPECTED_H)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(truth, pred, num_classes=3)


def test_out_of_range_and_shape_errors() -> None:
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(TRUTH, PRED + 1, num_classes=3)
    with pytest.raises(ValueError, match="shapes differ"):
        confusion_matrix(TRUTH, PRED[:, :2], num_classes=3)
    with pytest.raises(ValueError, match="empty"):
        scores(np.zeros((3, 3), np.int64))


def test_accumulating_frames_equals_one_concatenated_frame() -> None:
    rng = np.random.default_rng(1)
    truths = rng.integers(0, 4, size=(2, 5, 7))
    preds = rng.integers(0, 4, size=(2, 5, 7))
    summed = sum(confusion_matrix(t, p, 4) for t, p in zip(truths, preds, strict=True))
    joined = confusion_matrix(np.concatenate(truths, axis=1), np.concatenate(preds, axis=1), 4)
    np.testing.assert_array_equal(summed, joined)
    assert scores(summed) == scores(joined)


def test_video_segmentation_decodes_and_accumulates() -> None:
    # Two 2x3 frames: the worked example, then a perfect frame; outputs are noisy colours.
    rng = np.random.default_rng(2)
    meter = VideoSegmentation(PALETTE[:3])
    for truth, pred in ((TRUTH, PRED), (TRUTH, TRUTH)):
        noise = rng.integers(-20, 21, size=(2, 3, 3))
        output = np.clip(PALETTE[pred].astype(int) + noise, 0, 255).astype(np.uint8)
        meter.update(truth, output)
    # H = EXPECTED_H + diag(4, 2, 0): hits 7 + 3 = 10 of 12 pixels.
    np.testing.assert_array_equal(meter.confusion, EXPECTED_H + np.diag([4, 2, 0]))
    result = meter.result()
    assert result["frames"] == 2
    assert result["pixel_accuracy"] == pytest.approx(1000 / 12)
