"""Damaged input: truncated and byte-flipped files are read as far as they go, losses counted."""

from __future__ import annotations

import faulthandler
import warnings
from pathlib import Path

import numpy as np
import pytest

from recyclegan.data.video_io import (
    DecodeError,
    Frame,
    VideoReader,
    VideoWriter,
    describe_decode_errors,
)
from recyclegan.data.video_io.damage import format_time
from recyclegan.errors import RecycleganError

FRAMES = 60  # 2.4 s at 25 fps, a keyframe every 10 frames, with AAC audio


@pytest.fixture(autouse=True)
def no_hang():
    """Damaged input must never hang: end the whole run with a traceback if it does."""
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _clip(av_clip, folder: Path, extension: str) -> Path:
    # mp4 with its index at the front, so that a truncated copy still opens
    options = {"movflags": "faststart"} if extension == ".mp4" else None
    return av_clip(folder / f"intact{extension}", frames=FRAMES, options=options)


def _read(path: Path, strict: bool = False) -> tuple[list[Frame], list[DecodeError]]:
    with VideoReader(path, strict=strict) as reader:
        return list(reader), reader.decode_errors


def _damaged(intact: Path, name: str, data: bytes) -> Path:
    path = intact.with_name(name + intact.suffix)
    path.write_bytes(data)
    return path


def _check_good_frames(frames: list[Frame], originals: dict[int, np.ndarray], first: int) -> None:
    """Frames come out in time order, at real timestamps, and the first `first` are intact."""
    pts = [frame.pts for frame in frames]
    assert pts == sorted(set(pts)) and set(pts) <= set(originals)
    assert [frame.index for frame in frames] == list(range(len(frames)))
    for frame in frames[:first]:
        np.testing.assert_array_equal(frame.image, originals[frame.pts])


@pytest.mark.parametrize("extension", [".mp4", ".mkv"])
def test_truncated_files_yield_what_is_there_and_count_the_rest(tmp_path, av_clip, extension):
    intact = _clip(av_clip, tmp_path, extension)
    originals = {frame.pts: frame.image for frame in _read(intact)[0]}
    assert len(originals) == FRAMES
    data = intact.read_bytes()
    for fraction in (0.25, 0.5, 0.8, 0.97):
        path = _damaged(intact, f"cut{fraction}", data[: int(len(data) * fraction)])
        frames, errors = _read(path)
        lost = sum(error.frames for error in errors)
        assert 5 <= len(frames) < FRAMES, fraction
        assert len(frames) + lost == FRAMES, (fraction, errors)
        assert errors[-1].index == len(frames), "the lost tail is reported last"
        assert errors[-1].time == pytest.approx(len(frames) / 25)
        _check_good_frames(frames, originals, first=len(frames) // 2)


@pytest.mark.parametrize("extension", [".mp4", ".mkv"])
def test_flipped_bytes_lose_frames_that_are_counted(tmp_path, av_clip, extension):
    intact = _clip(av_clip, tmp_path, extension)
    originals = {frame.pts: frame.image for frame in _read(intact)[0]}
    data = bytearray(intact.read_bytes())
    for fraction in (0.3, 0.5):
        damaged = bytearray(data)
        start = int(len(data) * fraction)
        damaged[start : start + 3000 : 7] = bytes(b ^ 0xFF for b in data[start : start + 3000 : 7])
        frames, errors = _read(_damaged(intact, f"flip{fraction}", bytes(damaged)))
        lost = sum(error.frames for error in errors)
        assert 1 <= lost and len(frames) + lost == FRAMES, (fraction, errors)
        damage_time = min(error.time for error in errors)
        assert 0.3 < damage_time < 2.0
        intact_before = sum(1 for frame in frames if frame.time < damage_time - 0.4)
        _check_good_frames(frames, originals, first=intact_before)
        assert describe_decode_errors(errors).startswith(f"{lost} frame")


@pytest.mark.parametrize("extension", [".mp4", ".mkv"])
def test_strict_raises_at_the_first_loss(tmp_path, av_clip, extension):
    intact = _clip(av_clip, tmp_path, extension)
    data = intact.read_bytes()
    path = _damaged(intact, "cut", data[: len(data) // 2])
    with pytest.raises(RecycleganError, match=r"cut\.\w+: decoding failed after \d+ frames, at"):
        _read(path, strict=True)
    frames, errors = _read(intact, strict=True)
    assert len(frames) == FRAMES and errors == []


def test_damaged_input_still_makes_a_complete_output(tmp_path, av_clip):
    intact = _clip(av_clip, tmp_path, ".mkv")
    data = intact.read_bytes()
    path = _damaged(intact, "cut", data[: len(data) * 2 // 3])
    out = tmp_path / "out.mp4"
    with VideoReader(path) as reader, VideoWriter(out, reader.info, audio_from=path) as writer:
        for frame in reader:
            writer.write(frame.image, frame.pts)
        written = writer.frames
    frames, errors = _read(out)
    assert len(frames) == written and errors == []


def test_no_frame_at_all(tmp_path, junk_video):
    for extension in (".mkv", ".mp4"):
        with VideoReader(junk_video(tmp_path / f"junk{extension}")) as reader:
            assert list(reader) == []
            assert (reader.info.width, reader.info.height) == (32, 32)
            assert sum(error.frames for error in reader.decode_errors) >= 1, extension


def test_decode_errors_read_as_one_line():
    errors = [DecodeError(30, 1.23, 2, "x"), DecodeError(40, 62.0, 1, "y"),
              DecodeError(90, 3725.5, 5, "the file ends early (truncated?)")]
    assert describe_decode_errors(errors) == (
        "8 frames could not be decoded (around 00:01.2, 01:02.0, 1:02:05.5)"
    )
    assert describe_decode_errors(errors, shown=1).endswith("(around 00:01.2, ...)")
    assert describe_decode_errors(errors[1:2]) == "1 frame could not be decoded (around 01:02.0)"
    assert format_time(59.96) == "01:00.0"


def test_no_warning_for_intact_files(tmp_path, av_clip):
    intact = _clip(av_clip, tmp_path, ".mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames, errors = _read(intact)
    assert len(frames) == FRAMES and errors == []


def test_bytes_that_are_not_utf8_in_the_metadata_still_decode(tmp_path, av_clip):
    # Found by the fuzz test in test_properties.py: one flipped byte in an mp4 header made
    # PyAV raise UnicodeDecodeError while reading the container's tags.
    intact = av_clip(tmp_path / "intact.mp4", frames=10, audio=False)
    data = intact.read_bytes()
    marker = b"Lavf"  # the muxer's name, in the encoder tag of every file PyAV writes
    assert marker in data
    damaged = _damaged(intact, "tag", data.replace(marker, b"\xe9\xff\xfe\xe9", 1))
    frames, _ = _read(damaged)
    assert len(frames) == 10


def test_an_unknown_codec_tag_is_one_clear_error(tmp_path, av_clip):
    # Also found by the fuzz test: a stream whose codec PyAV does not know has no decoder,
    # and reading its size raised AttributeError.
    intact = av_clip(tmp_path / "intact.mp4", frames=10, audio=False)
    data = intact.read_bytes()
    damaged = _damaged(intact, "codec", data.replace(b"avc1", b"zzz9"))
    with pytest.raises(RecycleganError, match="codec is unknown to PyAV"):
        _read(damaged)
