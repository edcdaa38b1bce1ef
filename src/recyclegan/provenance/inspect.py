"""Everything a video file says about its making: the watermark, its tags and a C2PA
manifest, for `recyclegan detect`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recyclegan.data.video_io import VideoReader
from recyclegan.data.video_io.tags import read_tags
from recyclegan.provenance import c2pa
from recyclegan.provenance.detect import ResidualMean, WatermarkResult, decide, residual
from recyclegan.provenance.metadata import Disclosure, read_disclosure

DEFAULT_MAX_FRAMES = 300


@dataclass(frozen=True)
class Inspection:
    path: Path
    watermark: WatermarkResult
    disclosure: Disclosure | None
    c2pa: c2pa.C2paReport | None
    c2pa_checked: bool  # False when the c2pa extra is not installed

    @property
    def marked(self) -> bool:
        return self.watermark.found

    def to_dict(self) -> dict[str, Any]:
        mark = self.watermark
        return {
            "path": str(self.path),
            "watermark": {"found": mark.found, "score": round(mark.score, 2),
                          "run": mark.run_hash, "frames": mark.frames,
                          "frames_decoded": mark.frames_decoded,
                          "decoded_fraction": round(mark.decoded_fraction, 4),
                          "scale": None if mark.scale is None else round(mark.scale, 4)},
            "metadata": None if self.disclosure is None else self.disclosure.to_dict(),
            "c2pa": (None if self.c2pa is None else self.c2pa.to_dict()) if self.c2pa_checked
            else "not checked: pip install 'recyclegan[c2pa]'",
        }


def _frames(path: Path, max_frames: int) -> Iterator[np.ndarray]:
    """The first `max_frames` frames that have the first frame's size (a folder of images
    may mix sizes; the mark is looked for in the most common case, one size)."""
    shape = None
    with VideoReader(path) as reader:
        for frame in itertools.islice(reader, max_frames):
            shape = shape or frame.image.shape
            if frame.image.shape == shape:
                yield frame.image


def inspect_file(path: Path, max_frames: int = DEFAULT_MAX_FRAMES) -> Inspection:
    """Look for the watermark in the first `max_frames` frames (decoded twice: once to
    average them, once to read each alone, so memory stays one frame), read the tags and
    check a C2PA manifest where c2pa is installed."""
    path = Path(path)
    mean = ResidualMean()
    for image in _frames(path, max_frames):
        mean.add(image)
    watermark = decide(mean, (residual(image) for image in _frames(path, max_frames)))
    disclosure = read_disclosure(read_tags(path)) if path.is_file() else None
    try:
        report, checked = (c2pa.read_c2pa(path) if path.is_file() else None), True
    except c2pa.C2paUnavailable:
        report, checked = None, False
    return Inspection(path, watermark, disclosure, report, checked)
