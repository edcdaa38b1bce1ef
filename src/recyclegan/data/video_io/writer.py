"""Writing frames to a video file that keeps the input's timing and audio."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from recyclegan.data.video_io.audio import AudioCarrier
from recyclegan.data.video_io.common import (
    ENCODERS,
    FALLBACK_FPS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    CommitOnExit,
    StreamInfo,
    rate_fraction,
    reason,
    refuse_input_as_output,
)
from recyclegan.data.video_io.frame_folder import FrameFolderWriter, check_frame
from recyclegan.errors import RecycleganError
from recyclegan.fileio import temporary_beside

# libx264's speed presets, fastest first: at the same quality (crf), a faster one encodes
# several times faster and writes a larger file. NVENC gets the nearest of its p1-p7.
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
           "slower", "veryslow")
DEFAULT_ENCODER_PRESET = "medium"
_NVENC_PRESETS = dict(zip(ENCODER_PRESETS, ("p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7"),
                          strict=True))


class VideoWriter(CommitOnExit):
    """Encode RGB uint8 HxWx3 frames to mp4, mkv, mov (H.264), webm (VP9) or avi (MPEG-4).

    Timing follows `info`: pass each frame's `pts` in units of `info.time_base` (as
    `VideoReader` yields them) and variable frame rates survive; without pts, frames are
    spaced evenly at the nominal rate. AVI is constant-rate, so there pts are rounded to frame
    periods. `size` is (width, height) of the frames to be written when it differs from
    `info`'s; odd sides are padded by one replicated pixel, as yuv420p needs even ones.
    `audio_from` is a file whose audio streams are carried over (see AudioCarrier).
    `hardware` encodes H.264 with NVIDIA's NVENC (constant quality `crf`) when FFmpeg can
    open it here, and with libx264 otherwise; `codec` is the encoder used. `preset` trades
    H.264 encoding speed for file size (see ENCODER_PRESETS); VP9 and MPEG-4 ignore it.
    `tags` become the container's metadata (mp4 and mov keep any key; AVI keeps only a few,
    `comment` among them).

    The file is written under a hidden temporary name beside `path` and renamed by `close`;
    leaving a `with` block by an exception (Ctrl-C included) deletes it, so `path` never holds
    a partial video.
    """

    def __init__(
        self,
        path: str | Path,
        info: StreamInfo,
        audio_from: str | Path | None = None,
        crf: int = 18,
        size: tuple[int, int] | None = None,
        codec: str | None = None,
        hardware: bool = False,
        tags: dict[str, str] | None = None,
        preset: str = DEFAULT_ENCODER_PRESET,
    ) -> None:
        self.path = Path(path)
        self.frames = 0
        suffix = _video_suffix(self.path)
        if not 0 <= crf <= 51:
            raise RecycleganError(f"crf must lie in 0..51 (lower is better quality), got {crf}")
        if preset not in ENCODER_PRESETS:
            raise RecycleganError(f"unknown encoder preset {preset!r}; use one of "
                                  f"{', '.join(ENCODER_PRESETS)}")
        audio_path = Path(audio_from) if audio_from is not None else None
        refuse_input_as_output(self.path, info.source, audio_path)
        width, height = size or (info.width, info.height)
        self._shape = (height, width)
        codec = codec or ENCODERS[suffix]
        if (hardware and codec == "libx264" and crf > 0
                and _nvenc_opens(width, height, crf, preset)):
            codec = "h264_nvenc"  # crf 0 asks for lossless, which NVENC's quality scale lacks
        self.codec = codec
        rate = info.average_rate or rate_fraction(info.fps or FALLBACK_FPS)
        self._source_base = info.time_base or 1 / rate
        self._time_base = self._source_base
        if codec == "mpeg4":  # AVI is constant-rate and MPEG-4 wants a small time base
            rate = rate_fraction(float(rate))
            self._time_base = 1 / rate
        self._step = max(1, round(1 / (rate * self._time_base)))
        self._last_pts: int | None = None
        self._audio: AudioCarrier | None = None
        self._container: av.container.OutputContainer | None = None
        self._temporary: Path | None = None
        try:
            self._temporary = temporary_beside(self.path, f".{self.path.stem}.")
            # mp4 and mov drop tags they have no atom for unless asked to keep them.
            options = {"movflags": "use_metadata_tags"} if suffix in (".mp4", ".mov") else {}
            self._container = av.open(str(self._temporary), mode="w", options=options)
            self._container.metadata.update(tags or {})
            stream = self._container.add_stream(codec, rate=rate,
                                                options=_options(codec, crf, preset))
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = stream.time_base = self._time_base
            if codec == "mpeg4":
                stream.bit_rate = max(1_000_000, int(width * height * float(rate) * 0.5))
            self._stream = stream
            if audio_path is not None:
                self._audio = AudioCarrier(self._container, audio_path, suffix)
        except (av.FFmpegError, OSError) as error:
            self.abort()
            raise RecycleganError(f"{self.path}: cannot write video ({reason(error)})") from None
        except BaseException:
            self.abort()
            raise

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        """Encode one frame; `pts` in units of the input's time base, or None to space evenly."""
        height, width = check_frame(self.path, image, self._shape)
        if height % 2 or width % 2:
            image = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        self._encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"),
                     pts)

    def write_yuv420p(self, planes: np.ndarray, pts: int | None = None) -> None:
        """Encode one frame already in FFmpeg's yuv420p layout: a uint8 array of 3*H/2 rows
        of W (Y, then Cb, then Cr), H and W the frame size rounded up to even, BT.601
        limited range. The encoder then skips its own conversion from RGB."""
        height, width = self._shape
        expected = ((height + height % 2) * 3 // 2, width + width % 2)
        if planes.dtype != np.uint8 or planes.shape != expected:
            raise RecycleganError(f"{self.path}: yuv420p frames must be uint8 {expected}, got "
                                  f"{planes.dtype} {planes.shape}")
        self._encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format="yuv420p"),
                     pts)

    def _encode(self, frame: av.VideoFrame, pts: int | None) -> None:
        frame.pts, frame.time_base = self._next_pts(pts), self._time_base
        try:
            if self._audio is not None:
                self._audio.feed(float(frame.pts * self._time_base))
            self._container.mux(self._stream.encode(frame))
        except av.FFmpegError as error:
            raise RecycleganError(f"{self.path}: cannot write video ({reason(error)})") from None
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder, mux the rest of the audio, and move the file to its name."""
        if self._container is None:
            return
        try:
            if not self.frames:
                raise RecycleganError(f"{self.path}: no frames to write")
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.finish()
            self._container.close()
            with open(self._temporary, "rb+") as handle:  # on disk before it takes the name
                os.fsync(handle.fileno())
            os.replace(self._temporary, self.path)
            self._container = self._temporary = None
        except (av.FFmpegError, OSError) as error:
            self.abort()
            raise RecycleganError(f"{self.path}: cannot write video ({reason(error)})") from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop writing and delete the temporary file."""
        if self._audio is not None:
            self._audio.close()
        if self._container is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                self._container.close()
            self._container = None
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)

    def _next_pts(self, pts: int | None) -> int:
        if pts is None:
            value = 0 if self._last_pts is None else self._last_pts + self._step
        elif self._time_base == self._source_base:
            value = pts
        else:
            value = round(pts * self._source_base / self._time_base)
        if self._last_pts is not None and value <= self._last_pts:
            value = self._last_pts + 1  # encoders and muxers need rising timestamps
        self._last_pts = value
        return value


def open_writer(
    path: str | Path,
    info: StreamInfo,
    audio_from: str | Path | None = None,
    crf: int = 18,
    size: tuple[int, int] | None = None,
    hardware: bool = False,
    tags: dict[str, str] | None = None,
    preset: str = DEFAULT_ENCODER_PRESET,
) -> VideoWriter | FrameFolderWriter:
    """A VideoWriter for a path with a video extension; otherwise a FrameFolderWriter, which
    writes PNG frames and keeps no audio and no tags."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in ENCODERS:
        return VideoWriter(path, info, audio_from, crf, size, hardware=hardware, tags=tags,
                           preset=preset)
    if suffix in VIDEO_EXTENSIONS or suffix in IMAGE_EXTENSIONS:
        known = " ".join(sorted(ENCODERS))
        raise RecycleganError(
            f"{path}: cannot write this extension; use one of {known}, "
            "or a name without one for a folder of PNG frames"
        )
    return FrameFolderWriter(path, info, size)


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    codec: str | None = None,
    crf: int = 18,
) -> None:
    """Encode RGB uint8 HxWx3 frames of even sides at a constant `fps` (see VideoWriter).

    The encoder follows the extension unless `codec` names one; `crf` sets the quality of
    x264 and VP9 (lower is better).
    """
    path = Path(path)
    _video_suffix(path)
    if not fps > 0:
        raise RecycleganError(f"{path}: frame rate must be positive, got {fps}")
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise RecycleganError(f"{path}: no frames to write")
    height, width = check_frame(path, first, None)
    if height % 2 or width % 2:
        raise RecycleganError(
            f"{path}: frame size {width}x{height} must be even in both sides for yuv420p video"
        )
    with VideoWriter(path, StreamInfo.constant_rate(width, height, fps), crf=crf,
                     codec=codec) as writer:
        writer.write(first)
        for frame in iterator:
            writer.write(frame)


def _video_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in ENCODERS:
        known = " ".join(sorted(ENCODERS))
        raise RecycleganError(f"{path}: cannot write this extension; use one of {known}")
    return suffix


@functools.cache
def _nvenc_opens(width: int, height: int, crf: int, preset: str) -> bool:
    """Whether FFmpeg's NVENC H.264 encoder opens here with these settings (it needs an NVIDIA
    GPU and driver, and has a minimum frame size)."""
    if "h264_nvenc" not in av.codecs_available:
        return False
    context = av.CodecContext.create("h264_nvenc", "w")
    context.width, context.height = width + width % 2, height + height % 2
    context.pix_fmt, context.time_base = "yuv420p", Fraction(1, 25)
    context.options = _options("h264_nvenc", crf, preset)
    try:
        context.open()
    except (av.FFmpegError, OSError, ValueError):
        return False
    return True


def _options(codec: str, crf: int, preset: str) -> dict[str, str]:
    if codec == "libx264":
        return {"crf": str(crf), "preset": preset}
    if codec == "h264_nvenc":  # variable bit rate held to a constant quality, as crf does
        return {"rc": "vbr", "cq": str(crf), "b": "0", "preset": _NVENC_PRESETS[preset]}
    if codec == "libvpx-vp9":
        return {"crf": str(crf), "b:v": "0", "row-mt": "1"}
    return {}
