"""Finding faces in one frame, behind an interface another detector can implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from recyclegan.errors import RecycleganError
from recyclegan.faces.geometry import Square

FRONTAL_CASCADE = Path(cv2.data.haarcascades) / "haarcascade_frontalface_alt2.xml"
PROFILE_CASCADE = Path(cv2.data.haarcascades) / "haarcascade_profileface.xml"


@dataclass(frozen=True)
class Detection:
    """A face box in pixels of the full frame (top-left corner and size), with the detector's
    confidence where it gives one (larger is surer; the scale is the detector's own)."""

    x: float
    y: float
    width: float
    height: float
    score: float | None = None

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2

    @property
    def size(self) -> float:
        """The side of the smallest square, centred on the box, that holds it."""
        return max(self.width, self.height)

    def square(self, margin: float = 0.0) -> Square:
        """The crop window: centred on the box, side max(width, height) * (1 + margin)."""
        return Square(self.cx, self.cy, self.size * (1 + margin))


class FaceDetector(Protocol):
    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Every face in an HxWx3 uint8 RGB frame, in pixels of that frame."""
        ...


def load_cascade(path: str | Path) -> cv2.CascadeClassifier:
    """An OpenCV cascade classifier, or a RecycleganError saying why it could not be loaded."""
    path = Path(path)
    if not path.is_file():
        raise RecycleganError(f"face detector cascade {path} does not exist")
    cascade = cv2.CascadeClassifier()
    try:
        loaded = cascade.load(str(path))
    except cv2.error:
        loaded = False
    if not loaded or cascade.empty():
        raise RecycleganError(f"face detector cascade {path} is not an OpenCV cascade file")
    return cascade


class HaarFaceDetector:
    """OpenCV's Haar cascades: no downloaded weights, tens of milliseconds a frame on a CPU.

    Runs on a grayscale, histogram-equalised copy of the frame shrunk to at most `work_width`
    pixels wide. Frontal cascades miss tilted heads, so when the upright pass finds nothing the
    frame is searched again rotated by each of `tilts` degrees and then, with `profile`, with the
    profile cascade (as it is and mirrored, since it only knows faces turned one way). The first
    pass that finds a face wins. A face found on a rotated frame is reported as the upright box
    of the same size at the same centre. Faces smaller than `min_face` times the shorter side of
    the frame are ignored.
    """

    def __init__(
        self,
        *,
        cascade: str | Path = FRONTAL_CASCADE,
        profile: bool = False,
        tilts: Sequence[float] = (20.0, -20.0),
        min_face: float = 0.1,
        work_width: int = 320,
        min_neighbors: int = 4,
        scale_step: float = 1.1,
    ) -> None:
        if not 0 < min_face <= 1:
            raise RecycleganError(f"minimum face size must be in (0, 1] of the frame, "
                                  f"got {min_face}")
        if work_width < 32:
            raise RecycleganError(f"face detection width must be at least 32 pixels, "
                                  f"got {work_width}")
        self.frontal = load_cascade(cascade)
        self.profile = load_cascade(PROFILE_CASCADE) if profile else None
        self.tilts = tuple(tilts)
        self.min_face = min_face
        self.work_width = work_width
        self.min_neighbors = min_neighbors
        self.scale_step = scale_step

    def detect(self, frame: np.ndarray) -> list[Detection]:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB frame, got {frame.dtype} {frame.shape}")
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if gray.shape[1] > self.work_width:
            height = max(1, round(gray.shape[0] * self.work_width / gray.shape[1]))
            gray = cv2.resize(gray, (self.work_width, height), interpolation=cv2.INTER_AREA)
        scale = gray.shape[1] / frame.shape[1]
        gray = cv2.equalizeHist(gray)
        min_side = max(1, round(self.min_face * min(gray.shape)))
        found = self._search(self.frontal, gray, min_side, 0.0)
        for angle in self.tilts:
            if found:
                break
            found = self._search(self.frontal, gray, min_side, angle)
        if not found and self.profile is not None:
            found = self._search(self.profile, gray, min_side, 0.0)
            if not found:
                width = gray.shape[1]
                mirrored = self._search(self.profile, gray[:, ::-1], min_side, 0.0)
                found = [(width - cx, cy, side, score) for cx, cy, side, score in mirrored]
        return [
            Detection((cx - side / 2) / scale, (cy - side / 2) / scale, side / scale,
                      side / scale, score)
            for cx, cy, side, score in found
        ]

    def _search(
        self, cascade: cv2.CascadeClassifier, gray: np.ndarray, min_side: int, angle: float
    ) -> list[tuple[float, float, float, float]]:
        """(cx, cy, side, score) of each face in `gray` turned by `angle` degrees about its
        centre, with the centres mapped back to `gray`."""
        height, width = gray.shape
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        if angle:
            gray = cv2.warpAffine(gray, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
        boxes, _, weights = cascade.detectMultiScale3(
            np.ascontiguousarray(gray), scaleFactor=self.scale_step,
            minNeighbors=self.min_neighbors, minSize=(min_side, min_side),
            outputRejectLevels=True)
        back = cv2.invertAffineTransform(turn)
        found = []
        for (x, y, w, h), weight in zip(boxes, np.ravel(weights), strict=True):
            cx, cy = back @ np.array([x + w / 2, y + h / 2, 1.0])
            found.append((float(cx), float(cy), float(max(w, h)), float(weight)))
        return found
