"""Following one subject's face through a clip: choose it, clean it, fill it in, steady it.

Boxes travel as an (n, 3) float array of (cx, cy, size) per frame, in pixels of the full frame,
with a row of NaN where the subject has no face. Runs of frames with a face are the segments.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from recyclegan.errors import RecycleganError
from recyclegan.faces.detect import Detection, FaceDetector
from recyclegan.faces.geometry import Square

Smoothing = Literal["zero-lag", "causal"]
SMOOTHINGS: tuple[Smoothing, ...] = ("zero-lag", "causal")


@dataclass(frozen=True)
class FaceTrack:
    """Where to crop each frame of a clip (None: no face there), and how often the detector
    found any face at all."""

    squares: list[Square | None]
    detections: list[int]  # faces found in each frame, before any tracking

    @property
    def detection_rate(self) -> float:
        """Fraction of frames in which the detector found at least one face."""
        return sum(count > 0 for count in self.detections) / max(1, len(self.detections))

    @property
    def segments(self) -> list[tuple[int, int]]:
        """(start, stop) frame ranges, stop excluded, in which every frame has a square."""
        return face_segments(np.array([square is None for square in self.squares], bool))


def face_segments(missing: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) ranges of consecutive frames that are not `missing` (a bool per frame)."""
    present = np.concatenate([[False], ~np.asarray(missing, bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(present))
    return [(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2], strict=True)]


def box_jitter(boxes: np.ndarray) -> np.ndarray:
    """Standard deviation of the frame-to-frame change of (cx, cy, size), in pixels, over
    pairs of consecutive frames that both have a box; NaN without any such pair."""
    steps = np.diff(boxes, axis=0)
    steps = steps[~np.isnan(steps).any(axis=1)]
    return steps.std(axis=0) if len(steps) else np.full(3, np.nan)


def detect_frames(frames: Iterable[np.ndarray], detector: FaceDetector) -> list[list[Detection]]:
    """Every face in every frame; frames are not kept."""
    return [detector.detect(frame) for frame in frames]


@dataclass
class _Chain:
    """Detections linked over time, believed to be one person's face."""

    frames: list[int] = field(default_factory=list)
    boxes: list[Detection] = field(default_factory=list)

    @property
    def weight(self) -> float:
        """Face area summed over the frames the face is seen in: large and persistent wins."""
        return sum(box.width * box.height for box in self.boxes)


def _distance(last: Detection, box: Detection) -> float:
    """How far `box` is from `last`, in face sizes, plus how much the size changed (log)."""
    shift = math.hypot(box.cx - last.cx, box.cy - last.cy) / last.size
    return shift + abs(math.log(box.size / last.size))


def _link(
    detections: Sequence[Sequence[Detection]], *, memory: int, link_distance: float = 1.0
) -> list[_Chain]:
    """Link each frame's faces to the chains of earlier frames, nearest pairs first.

    A face joins a chain whose last face is within `link_distance` (see `_distance`) and was
    seen at most `memory` frames before; a face that joins none starts a chain.
    """
    chains: list[_Chain] = []
    live: list[_Chain] = []
    for frame, found in enumerate(detections):
        live = [chain for chain in live if frame - chain.frames[-1] <= memory + 1]
        pairs = sorted(
            (distance, c, d)
            for c, chain in enumerate(live)
            for d, box in enumerate(found)
            if (distance := _distance(chain.boxes[-1], box)) <= link_distance
        )
        taken_chains, taken_boxes = set(), set()
        for _, c, d in pairs:
            if c in taken_chains or d in taken_boxes:
                continue
            taken_chains.add(c)
            taken_boxes.add(d)
            live[c].frames.append(frame)
            live[c].boxes.append(found[d])
        for d, box in enumerate(found):
            if d not in taken_boxes:
                chains.append(_Chain([frame], [box]))
                live.append(chains[-1])
    return chains


def _reject_outliers(frames: np.ndarray, boxes: np.ndarray, window: int,
                     tolerance: float) -> np.ndarray:
    """Which boxes to keep: those whose centre is within `tolerance` face sizes of the median
    of the chain's boxes within `window` frames, and whose size is within that fraction of
    theirs. Boxes with fewer than two neighbours cannot be judged and are kept."""
    keep = np.ones(len(frames), bool)
    starts = np.searchsorted(frames, frames - window, "left")
    stops = np.searchsorted(frames, frames + window, "right")
    for index, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        if stop - start < 3:
            continue
        cx, cy, size = np.median(boxes[start:stop], axis=0)
        shift = math.hypot(boxes[index, 0] - cx, boxes[index, 1] - cy) / size
        keep[index] = shift <= tolerance and abs(boxes[index, 2] / size - 1) <= tolerance
    return keep


def subject_boxes(
    detections: Sequence[Sequence[Detection]],
    *,
    max_gap: int = 8,
    memory: int = 25,
    min_segment: int = 5,
    outlier_window: int = 5,
    outlier_tolerance: float = 0.3,
) -> np.ndarray:
    """The subject's raw face box in each frame, (n, 3) of (cx, cy, size), NaN where none.

    The subject is the chain (see `_link`) with the largest face area summed over
    frames. Its outliers are dropped (see `_reject_outliers`), gaps of up to `max_gap` frames
    are filled by linear interpolation, longer gaps end a segment, and segments shorter than
    `min_segment` frames (a stray false detection, typically) are dropped.
    """
    boxes = np.full((len(detections), 3), np.nan)
    chains = _link(detections, memory=memory)
    if not chains:
        return boxes
    subject = max(chains, key=lambda chain: chain.weight)
    frames = np.array(subject.frames)
    seen = np.array([(box.cx, box.cy, box.size) for box in subject.boxes])
    keep = _reject_outliers(frames, seen, outlier_window, outlier_tolerance)
    frames, seen = frames[keep], seen[keep]
    span = np.arange(frames[0], frames[-1] + 1)
    for axis in range(3):
        boxes[span, axis] = np.interp(span, frames, seen[:, axis])
    for before, after in zip(frames[:-1], frames[1:], strict=True):
        if after - before - 1 > max_gap:
            boxes[before + 1:after] = np.nan
    for start, stop in face_segments(np.isnan(boxes[:, 0])):
        if stop - start < min_segment:
            boxes[start:stop] = np.nan
    return boxes


def _local_linear(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-weighted local linear regression, evaluated at each sample.

    Zero-lag and exact on motion at constant speed, also at the ends of the run, where a
    plain Gaussian blur would pull the box towards the inside of the run.
    """
    radius = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1, dtype=float)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    window = sliding_window_view(np.pad(values, radius), 2 * radius + 1)
    inside = sliding_window_view(np.pad(np.ones_like(values), radius), 2 * radius + 1) * weights
    s0, s1, s2 = ((inside * offsets**power).sum(axis=1) for power in (0, 1, 2))
    t0, t1 = (inside * window).sum(axis=1), (inside * offsets * window).sum(axis=1)
    return (s2 * t0 - s1 * t1) / (s0 * s2 - s1 * s1)


def smooth_zero_lag(boxes: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Smooth each segment of a whole clip's boxes without delay (needs the future frames).

    `sigma` is the width, in frames, of the Gaussian weighting of a local straight-line fit.
    """
    smoothed = boxes.copy()
    for start, stop in face_segments(np.isnan(boxes[:, 0])):
        if stop - start > 1:
            for axis in range(3):
                smoothed[start:stop, axis] = _local_linear(boxes[start:stop, axis], sigma)
    return smoothed


def _gain(cutoff: np.ndarray | float) -> np.ndarray | float:
    """Exponential-filter gain for a cutoff in cycles per frame, one sample a frame."""
    return 1 / (1 + 1 / (2 * math.pi * cutoff))


class OneEuroFilter:
    """Causal smoothing of one face box a frame, for streaming (Casiez, Roussel and Vogel's
    One Euro filter, CHI 2012).

    An exponential filter whose cutoff rises with the box's speed: a still face is held
    steady, a moving one is followed with a lag that stays below about 1 / (2 pi beta) face
    sizes. Cutoffs are in cycles per frame and speeds in face sizes per frame, so the settings
    do not depend on the frame size.
    """

    def __init__(self, min_cutoff: float = 0.02, beta: float = 2.0,
                 speed_cutoff: float = 0.05) -> None:
        self.min_cutoff, self.beta, self.speed_cutoff = min_cutoff, beta, speed_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next box is taken as it is (a new segment starts)."""
        self._box: np.ndarray | None = None
        self._speed = np.zeros(3)

    def __call__(self, box: Square) -> Square:
        raw = np.array([box.cx, box.cy, box.side])
        if self._box is None:
            self._box = raw
        else:
            speed = (raw - self._box) / self._box[2]
            self._speed += _gain(self.speed_cutoff) * (speed - self._speed)
            cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
            self._box = self._box + _gain(cutoff) * (raw - self._box)
        return Square(*(float(value) for value in self._box))


def smooth_causal(boxes: np.ndarray, smoother: OneEuroFilter | None = None) -> np.ndarray:
    """Smooth each segment frame by frame, seeing only the past (`OneEuroFilter`)."""
    smoother = smoother or OneEuroFilter()
    smoothed = boxes.copy()
    for start, stop in face_segments(np.isnan(boxes[:, 0])):
        smoother.reset()
        for frame in range(start, stop):
            steady = smoother(Square(*boxes[frame]))
            smoothed[frame] = steady.cx, steady.cy, steady.side
    return smoothed


def track_faces(
    frames: Iterable[np.ndarray],
    detector: FaceDetector,
    *,
    margin: float,
    smoothing: Smoothing = "zero-lag",
    max_gap: int = 8,
    min_segment: int = 5,
) -> FaceTrack:
    """Find, follow and steady one subject's face through a clip, keeping only boxes.

    Each face box becomes a square of side size * (1 + margin) centred on it. "zero-lag"
    smoothing needs the whole clip (it is there anyway: the subject is chosen over all of it);
    "causal" smooths as a live stream would, seeing only the past.
    """
    if margin < 0:
        raise RecycleganError(f"face margin must be at least 0, got {margin}")
    if smoothing not in SMOOTHINGS:
        raise RecycleganError(f"face smoothing must be one of {', '.join(SMOOTHINGS)}, "
                              f"got {smoothing!r}")
    detections = detect_frames(frames, detector)
    boxes = subject_boxes(detections, max_gap=max_gap, min_segment=min_segment)
    boxes = smooth_zero_lag(boxes) if smoothing == "zero-lag" else smooth_causal(boxes)
    squares = [None if math.isnan(cx) else Square(cx, cy, size * (1 + margin))
               for cx, cy, size in boxes.tolist()]
    return FaceTrack(squares, [len(found) for found in detections])


def require_face(track: FaceTrack, source: str | Path) -> FaceTrack:
    """`track` itself if it has a face somewhere, else a RecycleganError naming `source`."""
    if track.segments:
        return track
    frames, found = len(track.detections), sum(count > 0 for count in track.detections)
    seen = (f"{frames} frames searched" if not found
            else f"a face detected in only {found} of {frames} frames, too few in a row")
    raise RecycleganError(f"no face found in {source} ({seen}): use a clip in which one face "
                          "is seen from the front")
