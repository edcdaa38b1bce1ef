"""Turning SRC arguments (video files, folders of images, folders of videos) into sources."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from recyclegan.data.video_io import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoInfo,
    iter_video_frames,
    probe_video,
)
from recyclegan.errors import RecycleganError


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders embedded numbers by value, so frame2 comes before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 HxWx3 array.

    Every kind becomes that: grayscale is repeated into the three channels, an alpha channel
    is dropped (as FFmpeg drops it when encoding RGBA to yuv420p), 16-bit samples are divided
    by 256, palette images are expanded to their colours.
    """
    try:
        with _opencv_quiet():
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        raise RecycleganError(f"{path}: cannot read this image; check that the file is intact")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@contextmanager
def _opencv_quiet() -> Iterator[None]:
    """Silence OpenCV's own log while reading: a damaged image is reported once, by us,
    rather than also by lines such as "[ERROR:0@0.1] global grfmt_tiff.cpp ..." on stderr."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


@dataclass(frozen=True)
class Source:
    """One clip to prepare: a video file, or a folder of images in natural order."""

    path: Path
    kind: Literal["video", "images"]
    images: tuple[Path, ...] = ()

    def info(self, image_fps: float = 25.0) -> VideoInfo:
        """Header facts; image sequences are timed at `image_fps` and sized by their first image."""
        if self.kind == "video":
            return probe_video(self.path)
        height, width = read_image(self.images[0]).shape[:2]
        count = len(self.images)
        return VideoInfo(width, height, image_fps, count, count / image_fps)

    def frames(self, image_fps: float = 25.0) -> Iterator[tuple[float, np.ndarray]]:
        """Yield (seconds since the first frame, RGB uint8 frame)."""
        if self.kind == "video":
            yield from iter_video_frames(self.path)
            return
        for index, image_path in enumerate(self.images):
            yield index / image_fps, read_image(image_path)


def resolve_sources(paths: Sequence[str | Path]) -> list[Source]:
    """Resolve every SRC argument, failing on the first bad one before anything is decoded."""
    sources: list[Source] = []
    for path in paths:
        sources.extend(resolve_source(path))
    return sources


def resolve_source(path: str | Path) -> list[Source]:
    """Resolve one SRC argument into the sources it stands for."""
    path = Path(path)
    if not path.exists():
        raise RecycleganError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            raise RecycleganError(
                f"{path}: a single image is not a clip; pass the folder that holds the frames"
            )
        return [Source(path, "video")]
    if not path.is_dir():
        raise RecycleganError(
            f"{path}: neither a file nor a folder (a pipe or a device?); pass a video file or "
            "a folder"
        )
    sources = _resolve_folder(path)
    if not sources:
        raise RecycleganError(f"no videos or images found in {path}")
    return sources


def _list_folder(folder: Path) -> list[Path]:
    """The folder's visible entries in natural order."""
    try:
        entries = [entry for entry in folder.iterdir() if not entry.name.startswith(".")]
    except OSError as error:
        raise RecycleganError(
            f"{folder}: cannot list this folder ({error.strerror or error}); check its "
            "permissions"
        ) from None
    return sorted(entries, key=lambda entry: natural_key(entry.name))


def _resolve_folder(folder: Path) -> list[Source]:
    entries = _list_folder(folder)
    images = [e for e in entries if e.is_file() and e.suffix.lower() in IMAGE_EXTENSIONS]
    videos = [e for e in entries if e.is_file() and e.suffix.lower() in VIDEO_EXTENSIONS]
    if images and videos:
        raise RecycleganError(
            f"{folder} holds both images and videos; put the image frames in their own folder"
        )
    if images:
        image_set = set(images)
        others = [e.name for e in entries if e not in image_set]
        if others:
            _warn_ignored(folder, others)
        return [Source(folder, "images", tuple(images))]
    video_set = set(videos)
    sources: list[Source] = []
    ignored: list[str] = []
    for entry in entries:
        if entry.is_dir():
            sources.extend(_resolve_folder(entry))
        elif entry in video_set:
            sources.append(Source(entry, "video"))
        else:
            ignored.append(entry.name)
    if ignored:
        _warn_ignored(folder, ignored)
    return sources


def _warn_ignored(folder: Path, names: list[str]) -> None:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    warnings.warn(f"{folder}: ignoring {shown}", stacklevel=2)
