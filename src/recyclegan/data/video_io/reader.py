"""Streaming frames out of a video file or a folder of images, surviving damaged input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from recyclegan.data.video_io.common import (
    FALLBACK_FPS,
    StreamInfo,
    main_video_stream,
    open_input,
    reason,
    stream_duration,
    stream_fps,
    to_rgb,
)
from recyclegan.data.video_io.damage import DecodeError, LossTracker
from recyclegan.errors import RecycleganError


@dataclass(frozen=True)
class Frame:
    """One decoded frame: RGB uint8 HxWx3, its pts in the stream's time base (None if the
    container has none), seconds since the start of the stream, and its position in the reader."""

    image: np.ndarray
    pts: int | None
    time: float
    index: int


# Bytes between one packet and the next beyond which the demuxer must have skipped something.
_SKIP_BYTES = 1024


class VideoReader:
    """Iterate the frames of a video file, or of a folder of images in natural order.

    Memory does not grow with the length of the input. Damaged video is read as far as it
    goes: frames that decode are yielded, lost ones are listed in `decode_errors` as reading
    proceeds (see `describe_decode_errors`); with `strict` the first loss raises instead.
    Image folders are timed at `image_fps` with pts 0, 1, 2, ...
    """

    def __init__(self, path: str | Path, strict: bool = False, image_fps: float = 25.0) -> None:
        self.path = Path(path)
        self._container: av.container.InputContainer | None = None
        self._losses: LossTracker | None = None
        if not image_fps > 0:
            raise RecycleganError(f"image frame rate must be positive, got {image_fps}")
        if self.path.is_dir():
            frames, header = self._open_images(image_fps, strict)
        else:
            frames, header = self._open_video(strict)
        try:
            self._first = next(frames, None)  # the first frame tells the upright size
        except BaseException:
            self.close()
            raise
        self._frames = frames
        if self._first is not None:
            height, width = self._first.image.shape[:2]
            header = replace(header, width=width, height=height)
        self.info: StreamInfo = header

    @property
    def decode_errors(self) -> list[DecodeError]:
        """Frames lost so far; complete once iteration has ended."""
        return self._losses.errors if self._losses else []

    def __iter__(self) -> Iterator[Frame]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._frames

    def close(self) -> None:
        if self._container is not None:
            self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _open_images(self, fps: float, strict: bool) -> tuple[Iterator[Frame], StreamInfo]:
        # sources imports this package, so it is imported here rather than at the top
        from recyclegan.data.sources import read_image, resolve_source

        sources = resolve_source(self.path)
        if sources[0].kind != "images":
            raise RecycleganError(
                f"{self.path}: holds videos, not image frames; pass one video file instead"
            )
        images = sources[0].images
        info = StreamInfo.constant_rate(0, 0, fps, len(images), self.path)
        losses = self._losses = LossTracker(self.path, 1 / fps, True, 0.0, None, strict)

        def frames() -> Iterator[Frame]:
            index = 0
            for position, image_path in enumerate(images):
                try:
                    image = read_image(image_path)
                except RecycleganError as error:  # an unreadable image: count it, go on
                    losses.failed(position / fps, str(error))
                    continue
                losses.accept(position / fps, None, False)
                yield Frame(image, position, position / fps, index)
                index += 1
            losses.finish()

        return frames(), info

    def _open_video(self, strict: bool) -> tuple[Iterator[Frame], StreamInfo]:
        self._container = container = open_input(self.path)
        stream = main_video_stream(container)
        stream.thread_type = "AUTO"
        duration = stream_duration(stream)
        nominal = stream.base_rate or stream.guessed_rate
        average = stream.average_rate or nominal
        period = 1 / float(nominal) if nominal else None
        constant_rate = bool(
            stream.frames and average and nominal and abs(average / nominal - 1) < 1e-3
        )
        origin = stream.start_time  # pts of the stream's start, for times and lost heads
        self._losses = LossTracker(
            self.path, period, constant_rate, 0.0 if origin is not None else None,
            duration, strict,
        )
        info = StreamInfo(
            width=stream.width,
            height=stream.height,
            fps=stream_fps(stream),
            frames=stream.frames or None,
            duration=duration,
            time_base=stream.time_base,
            average_rate=average,
            has_audio=bool(container.streams.audio),
            source=self.path,
        )
        return self._decode(stream, origin, period or 1 / FALLBACK_FPS), info

    def _decode(
        self, stream: av.VideoStream, origin: int | None, period: float
    ) -> Iterator[Frame]:
        losses = self._losses
        time_base = stream.time_base

        def seconds(pts: int | None, base: Fraction = time_base) -> float | None:
            """Seconds since the stream's start of a timestamp counted in `base`."""
            if pts is None or origin is None:
                return None
            return float(pts * base - origin * time_base)

        # All streams are read so that file positions run on: in Matroska, which stores packets
        # whole and in order, a jump means the demuxer skipped damaged bytes, often silently.
        packets = self._container.demux()
        contiguous = "matroska" in self._container.format.name
        position = None
        index = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as error:  # the demuxer gave up: keep what was read
                losses.failed(None, f"cannot read further: {reason(error)}")
                break
            if contiguous and packet.pos is not None and packet.pos >= 0:
                if position is not None and packet.pos > position + _SKIP_BYTES:
                    losses.suspect(seconds(packet.pts, packet.time_base))
                position = packet.pos + packet.size
            if packet.stream.index != stream.index:
                continue
            try:
                decoded = packet.decode()
            except av.FFmpegError as error:
                losses.failed(seconds(packet.pts), reason(error))
                continue
            for frame in decoded:
                if frame.pts is None:
                    pts, time = None, index * period
                else:
                    if origin is None:
                        origin = frame.pts
                    pts, time = frame.pts, seconds(frame.pts)
                duration = float(frame.duration * time_base) if frame.duration else None
                if not losses.accept(time, duration, frame.is_corrupt):
                    continue
                image = to_rgb(frame)
                yield Frame(image, pts, time, index)
                index += 1
        losses.finish()

def iter_video_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (seconds since the first frame, RGB uint8 HxWx3 frame) for the first video stream.

    Raises RecycleganError if the file cannot be opened or decoding fails part way.
    """
    with open_input(path) as container:
        stream = main_video_stream(container)
        stream.thread_type = "AUTO"
        fps = stream_fps(stream) or FALLBACK_FPS
        start: float | None = None
        count = 0
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
                image = to_rgb(frame)
            except StopIteration:
                return
            except av.FFmpegError as error:
                raise RecycleganError(
                    f"{path}: decoding failed after {count} frames ({reason(error)}); "
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
