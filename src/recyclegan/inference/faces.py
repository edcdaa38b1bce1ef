"""`retarget --face`: translate only the subject's face and paste it back into each frame.

Two passes over the input. The first finds and follows the face (recyclegan.faces.track,
zero-lag smoothing: the whole clip is at hand), keeping only one square per frame. The second
crops each frame through its square at the run's size, translates the crops, and pastes the
translations back with a feathered, colour-matched seam; frames without a face pass through
untouched. Each run of frames with a face is translated as one clip, so a stabiliser starts
afresh after every gap.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recyclegan.data.video_io import VideoReader
from recyclegan.errors import RecycleganError
from recyclegan.faces.composite import crop_square, paste_square
from recyclegan.faces.detect import HaarFaceDetector
from recyclegan.faces.geometry import Square
from recyclegan.faces.track import require_face, track_faces
from recyclegan.inference.translate import Retargeter


@dataclass(frozen=True)
class FaceOptions:
    margin: float = 0.6
    """Crop side = face box side * (1 + margin): room for hair, chin and some background."""
    feather: float = 0.12
    """Width of the blend at each edge of the pasted square, as a fraction of its side."""
    face_only: bool = False
    """Write the translated face crops (frames with a face only) instead of whole frames."""

    def __post_init__(self) -> None:
        if not 0 <= self.margin <= 3:
            raise RecycleganError(f"--margin must be between 0 and 3, got {self.margin}")
        if not 0 <= self.feather < 0.5:
            raise RecycleganError(f"face feather must be in [0, 0.5), got {self.feather}")


def find_face_squares(src: Path, options: FaceOptions, strict: bool = False,
                      advance: Callable[[], None] | None = None) -> list[Square | None]:
    """First pass: the crop square of every frame of `src` (None where there is no face)."""

    def images() -> Iterator[np.ndarray]:
        with VideoReader(src, strict=strict) as reader:
            for frame in reader:
                if advance is not None:
                    advance()
                yield frame.image

    track = track_faces(images(), HaarFaceDetector(), margin=options.margin)
    return require_face(track, src).squares


def translate_faces(retargeter: Retargeter, frames: Iterable[tuple[int | None, np.ndarray]],
                    squares: list[Square | None], options: FaceOptions
                    ) -> Iterator[tuple[int | None, np.ndarray, np.ndarray]]:
    """Second pass: (pts, frame) in, (pts, left, right) out, where `right` is the output
    frame and `left` what a side-by-side view shows beside it (the input, or its crop)."""
    if retargeter.keep_resolution:
        raise RecycleganError("--face translates a crop at the run's size; drop "
                              "--keep-resolution")
    size = retargeter.image_size
    counted = _same_length(frames, squares)
    for has_face, run in itertools.groupby(counted, key=lambda pair: pair[1] is not None):
        if not has_face:
            if not options.face_only:
                yield from ((pts, image, image) for (pts, image), _ in run)
            continue
        items = (((pts, image, square), crop_square(image, square, size))
                 for (pts, image), square in run)
        for (pts, image, square), crop, translated in retargeter.translate_items(items):
            if options.face_only:
                yield pts, crop, translated
            else:
                yield pts, image, paste_square(image, translated, square,
                                               feather=options.feather)


def _same_length(frames: Iterable[tuple[int | None, np.ndarray]],
                 squares: list[Square | None]
                 ) -> Iterator[tuple[tuple[int | None, np.ndarray], Square | None]]:
    try:
        yield from zip(frames, squares, strict=True)
    except ValueError:
        raise RecycleganError(f"the video decoded to a different number of frames on the second "
                              f"pass than the {len(squares)} of the first") from None
