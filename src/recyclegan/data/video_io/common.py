"""Opening video files and reading their headers; helpers shared by the reader and the writer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import numpy as np

from recyclegan.errors import RecycleganError

# Encoder per output extension; all of them are fed yuv420p.
ENCODERS = {
    ".mp4": "libx264",
    ".mkv": "libx264",
    ".mov": "libx264",
    ".webm": "libvpx-vp9",
    ".avi": "mpeg4",
}

# Extensions read as video (written: only those in ENCODERS) and as image frames.
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

# Frame rate assumed when a stream neither states one nor carries timestamps.
FALLBACK_FPS = 25.0


@dataclass(frozen=True)
class VideoInfo:
    """What a container header says about its first video stream.

    `frames` is the header's count and is None where the container does not store one
    (webm, mkv); `fps` and `duration` are None when unknown.
    """

    width: int
    height: int
    fps: float | None
    frames: int | None
    duration: float | None


@dataclass(frozen=True)
class StreamInfo(VideoInfo):
    """What a writer needs to reproduce the input's timing.

    Frame `pts` values count in units of `time_base`; `average_rate` is the nominal rate.
    `width` and `height` are those of the frames the reader yields (after display rotation).
    `source` is the file or folder described, so that a writer can refuse to overwrite it.
    """

    time_base: Fraction | None
    average_rate: Fraction | None
    has_audio: bool
    source: Path | None = None

    @classmethod
    def constant_rate(
        cls, width: int, height: int, fps: float, frames: int | None = None,
        source: Path | None = None,
    ) -> StreamInfo:
        """Frames at `fps` with pts 0, 1, 2, ... (image sequences, generated clips)."""
        rate = rate_fraction(fps)
        duration = frames / fps if frames is not None else None
        return cls(width, height, fps, frames, duration, 1 / rate, rate, False, source)


def reason(error: BaseException) -> str:
    """The short cause of an FFmpeg or OS error, for one-line messages."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def rate_fraction(fps: float) -> Fraction:
    """`fps` as an exact rate; denominators up to 1001 cover 30000/1001 and keep MPEG-4 happy."""
    return Fraction(fps).limit_denominator(1001)


def check_input_file(path: str | Path) -> None:
    """Raise RecycleganError unless `path` is a regular file with some bytes in it.

    Pipes and devices are refused before anything opens them: reading one would wait for a
    writer, or read forever.
    """
    if not os.path.exists(path):
        raise RecycleganError(f"{path}: no such file or folder")
    if os.path.isdir(path):
        raise RecycleganError(f"{path}: a folder, not a video file")
    if not os.path.isfile(path):
        raise RecycleganError(f"{path}: not a regular file (a pipe or a device?); pass a video "
                              "file")
    if os.path.getsize(path) == 0:
        raise RecycleganError(f"{path}: empty file (0 bytes), not a video")


def open_input(path: str | Path) -> av.container.InputContainer:
    """Open `path` for decoding and check it has a video stream, or raise RecycleganError."""
    check_input_file(path)
    try:
        # Damaged or foreign metadata must not stop decoding: undecodable tag bytes are
        # replaced (a fuzz test found one flipped byte in an mp4 header raising otherwise).
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except PermissionError as error:  # PyAV's own subclasses it
        raise RecycleganError(f"{path}: cannot read it ({reason(error)}); check its "
                              "permissions") from None
    except av.FFmpegError as error:
        raise RecycleganError(f"{path}: not a video PyAV can decode ({reason(error)})") from None
    stream = main_video_stream(container)
    if stream is None:
        container.close()
        raise RecycleganError(f"{path}: holds no video stream")
    if stream.codec_context is None:  # an unknown or damaged codec tag: nothing to decode with
        container.close()
        raise RecycleganError(f"{path}: its video stream's codec is unknown to PyAV (the file "
                              "may be damaged)")
    return container


def main_video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    """The first video stream that is not cover art (an attached picture or thumbnail)."""
    still = av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails
    moving = [s for s in container.streams.video if not s.disposition & still]
    return moving[0] if moving else None


def stream_fps(stream: av.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def stream_duration(stream: av.VideoStream) -> float | None:
    """Seconds the stream itself lasts by its header, not the container (audio may run longer).

    Matroska keeps it in a DURATION tag rather than in the stream header.
    """
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION", "")
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


_ONE_THREAD_PIXELS = 1280 * 720


def conversion_threads(width: int, height: int) -> int:
    """Threads for FFmpeg's conversion of one decoded frame to RGB: 1 up to 720p, else 0
    (FFmpeg's default, one per CPU). Starting threads per frame costs more than it saves on
    small frames: at 256x256 one thread converts 2.4x as many frames per second as the
    default on 2 cores; at 720p the two are level."""
    return 1 if width * height <= _ONE_THREAD_PIXELS else 0


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as an upright RGB uint8 HxWx3 array."""
    image = frame.to_ndarray(format="rgb24", threads=conversion_threads(frame.width,
                                                                         frame.height))
    return upright(image, frame.rotation)


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """Apply the stream's display rotation (phones record portrait video as rotated landscape)."""
    quarter_turns = round(rotation / 90) % 4  # counter-clockwise, as PyAV reports it
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def probe_video(path: str | Path) -> VideoInfo:
    """Read the header of the first video stream without decoding frames."""
    with open_input(path) as container:
        stream = main_video_stream(container)
        duration = stream_duration(stream)
        if duration is None and container.duration:
            duration = container.duration / av.time_base
        return VideoInfo(
            width=stream.width,
            height=stream.height,
            fps=stream_fps(stream),
            frames=stream.frames or None,
            duration=duration,
        )


def refuse_input_as_output(output: Path, *inputs: Path | None) -> None:
    """Raise RecycleganError if `output` names one of `inputs` (writing it would destroy it)."""
    for source in inputs:
        if source is None:
            continue
        try:
            same = os.path.samefile(output, source)
        except OSError:  # one of them does not exist yet
            same = output.resolve() == Path(source).resolve()
        if same:
            raise RecycleganError(f"{output}: this is the input itself; choose another output")


class CommitOnExit:
    """A writer used in a `with` block: `close()` (the output appears under its final name)
    when the block ends normally, `abort()` (nothing is left behind) when it raises."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if error is None:
            self.close()  # type: ignore[attr-defined]
        else:
            self.abort()  # type: ignore[attr-defined]
