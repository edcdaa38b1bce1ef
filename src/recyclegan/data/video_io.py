"""Reading and writing video files. This is the only module that imports PyAV."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

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

# Frame rate assumed when a stream neither states one nor carries timestamps.
_FALLBACK_FPS = 25.0


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


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _open_input(path: str | Path) -> av.container.InputContainer:
    """Open `path` for decoding and check it has a video stream, or raise RecycleganError."""
    if not os.path.exists(path):
        raise RecycleganError(f"{path}: no such file or folder")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise RecycleganError(f"{path}: empty file (0 bytes), not a video")
    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as error:
        raise RecycleganError(f"{path}: not a video PyAV can decode ({_reason(error)})") from None
    if _main_video_stream(container) is None:
        container.close()
        raise RecycleganError(f"{path}: holds no video stream")
    return container


def _main_video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    """The first video stream that is not cover art (an attached picture or thumbnail)."""
    still = av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails
    moving = [s for s in container.streams.video if not s.disposition & still]
    return moving[0] if moving else None


def _stream_fps(stream: av.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def _upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """Apply the stream's display rotation (phones record portrait video as rotated landscape)."""
    quarter_turns = round(rotation / 90) % 4  # counter-clockwise, as PyAV reports it
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def probe_video(path: str | Path) -> VideoInfo:
    """Read the header of the first video stream without decoding frames."""
    with _open_input(path) as container:
        stream = _main_video_stream(container)
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        return VideoInfo(
            width=stream.width,
            height=stream.height,
            fps=_stream_fps(stream),
            frames=stream.frames or None,
            duration=duration,
        )


def iter_video_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (seconds since the first frame, RGB uint8 HxWx3 frame) for the first video stream.

    Raises RecycleganError if the file cannot be opened or decoding fails part way.
    """
    with _open_input(path) as container:
        stream = _main_video_stream(container)
        stream.thread_type = "AUTO"
        fps = _stream_fps(stream) or _FALLBACK_FPS
        start: float | None = None
        count = 0
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
                image = _upright(frame.to_ndarray(format="rgb24"), frame.rotation)
            except StopIteration:
                return
            except av.FFmpegError as error:
                raise RecycleganError(
                    f"{path}: decoding failed after {count} frames ({_reason(error)}); "
                    "re-encode or trim the file"
                ) from None
            if frame.pts is not None and frame.time_base is not None:
                time = float(frame.pts * frame.time_base)
            else:
                time = count / fps
            if start is None:
                start = time
            count += 1
            yield time - start, image


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    codec: str | None = None,
    crf: int = 18,
) -> None:
    """Encode RGB uint8 HxWx3 frames to mp4, mkv, mov, webm or avi.

    The encoder follows the extension unless `codec` names one; `crf` sets the quality of
    x264 and VP9 (lower is better). The file is written under a
    temporary name in the same folder and renamed at the end, so a failed or interrupted
    write never leaves a file that looks complete.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ENCODERS:
        known = " ".join(sorted(ENCODERS))
        raise RecycleganError(f"{path}: cannot write this extension; use one of {known}")
    if not fps > 0:
        raise RecycleganError(f"{path}: frame rate must be positive, got {fps}")
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise RecycleganError(f"{path}: no frames to write")
    height, width = _check_frame(path, first, None)
    if height % 2 or width % 2:
        raise RecycleganError(
            f"{path}: frame size {width}x{height} must be even in both sides for yuv420p video"
        )
    codec = codec or ENCODERS[suffix]
    rate = Fraction(fps).limit_denominator(100_000)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        with av.open(str(temporary), mode="w") as container:
            stream = container.add_stream(codec, rate=rate, options=_encoder_options(codec, crf))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            if codec == "mpeg4":
                stream.bit_rate = max(1_000_000, int(width * height * float(rate) * 0.5))
            frame = first
            index = 0
            while frame is not None:
                _check_frame(path, frame, (height, width))
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), "rgb24")
                video_frame.pts, video_frame.time_base = index, 1 / rate
                container.mux(stream.encode(video_frame))
                index += 1
                frame = next(iterator, None)
            container.mux(stream.encode(None))
        os.replace(temporary, path)
    except av.FFmpegError as error:
        raise RecycleganError(f"{path}: cannot write video ({_reason(error)})") from None
    finally:
        temporary.unlink(missing_ok=True)


def _encoder_options(codec: str, crf: int) -> dict[str, str]:
    if codec == "libx264":
        return {"crf": str(crf), "preset": "medium"}
    if codec == "libvpx-vp9":
        return {"crf": str(crf), "b:v": "0", "row-mt": "1"}
    return {}


def _check_frame(path: Path, frame: np.ndarray, shape: tuple[int, int] | None) -> tuple[int, int]:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise RecycleganError(
            f"{path}: frames must be uint8 HxWx3 RGB, got {frame.dtype} {frame.shape}"
        )
    if shape is not None and frame.shape[:2] != shape:
        raise RecycleganError(
            f"{path}: frame size changed from {shape[1]}x{shape[0]} "
            f"to {frame.shape[1]}x{frame.shape[0]}; all frames of a video must match"
        )
    return frame.shape[0], frame.shape[1]
