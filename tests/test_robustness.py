"""The bad-input matrix (docs/robustness.md): the rows that no other test file covers.

Refusals are one line on stderr and a non-zero exit, never a traceback or a hang, and leave
nothing under the output's name. Odd but usable input (grey, alpha, 16-bit, palette, tiny,
huge and odd-sized frames) is converted to RGB 8-bit and accepted. We run as root, whom
permissions do not stop, so full and read-only disks are made by fault injection: writes go to
/dev/full (the kernel's own ENOSPC), or creating files raises EROFS.
"""

from __future__ import annotations

import errno
import faulthandler
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors import SafetensorError

from recyclegan.cli import main
from recyclegan.data import npy_writer
from recyclegan.data.frames import center_square
from recyclegan.data.manifest import load_manifest
from recyclegan.data.sources import read_image
from recyclegan.data.video_io import VideoReader, probe_video
from recyclegan.fileio import atomic_write_text, sha256_file
from recyclegan.training import checkpoint as checkpoint_module
from recyclegan.training.checkpoint import load_checkpoint
from tiny import one_step_run

TINY = ["--model-size", "tiny", "--device", "cpu", "-q"]
FULL = Path("/dev/full")


@pytest.fixture(autouse=True)
def no_hang():
    """A hang ends the whole run with a traceback of where it waited."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two 32 px datasets and a run trained on them for one step."""
    return one_step_run(tmp_path_factory.mktemp("robustness"))


@pytest.fixture
def run_dir(trained):
    return trained[2]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("recyclegan ") and ": error: " in lines[0], lines[0]
    assert fragment in lines[0], lines[0]


def leftovers(folder: Path) -> list[str]:
    """Hidden or temporary entries anywhere under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name.startswith(".") or "partial" in p.name)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def gradient(height: int, width: int, t: int = 0) -> np.ndarray:
    """An RGB frame that changes smoothly with `t` (no scene cut between frames)."""
    y, x = np.mgrid[0:height, 0:width]
    grey = ((x * 9 + y * 5 + 3 * t) % 256).astype(np.uint8)
    return np.dstack([grey, 255 - grey, (grey // 2 + 40).astype(np.uint8)])


# -- Image kinds: grey, alpha, 16-bit, palette, bilevel -------------------------------------

PALETTE = np.array([[230, 20, 20], [20, 200, 40], [30, 40, 220], [250, 250, 250]], np.uint8)


def write_kind(path: Path, kind: str, rgb: np.ndarray) -> np.ndarray:
    """Write a PNG of `kind` made from `rgb`; return the RGB 8-bit frame it should read as."""
    grey = rgb[..., 0]
    alpha = (np.arange(rgb.shape[1]) * 11 % 256).astype(np.uint8)[None].repeat(rgb.shape[0], 0)
    if kind in ("palette", "palette_transparent"):
        image = Image.fromarray(grey % 4, "P")
        image.putpalette(PALETTE.ravel().tolist())
        image.save(path, **({"transparency": 0} if kind == "palette_transparent" else {}))
        return PALETTE[grey % 4]
    if kind == "grey16":
        assert cv2.imwrite(str(path), grey.astype(np.uint16) * 257)
    elif kind == "rgb16":
        assert cv2.imwrite(str(path), rgb[..., ::-1].astype(np.uint16) * 257)
    elif kind == "bilevel":
        Image.fromarray(grey > 127).save(path)
        return np.where(grey > 127, 255, 0).astype(np.uint8)[..., None].repeat(3, 2)
    else:
        modes = {"grey": ("L", grey), "grey_alpha": ("LA", np.dstack([grey, alpha])),
                 "rgba": ("RGBA", np.dstack([rgb, alpha]))}
        mode, array = modes[kind]
        Image.fromarray(array, mode).save(path)
    # 16-bit samples v * 257 read back as v: divided by 256, rounded down
    return rgb if kind in ("rgba", "rgb16") else grey[..., None].repeat(3, 2)


KINDS = ["grey", "grey_alpha", "rgba", "grey16", "rgb16", "palette", "palette_transparent",
         "bilevel"]


def kind_folders(root: Path, frames: int = 3, height: int = 16, width: int = 24
                 ) -> dict[str, tuple[Path, list[np.ndarray]]]:
    """One folder of `frames` PNGs per kind, with the RGB frames each should read as."""
    folders = {}
    for kind in KINDS:
        folder = root / kind
        folder.mkdir(parents=True)
        expected = [write_kind(folder / f"f{t}.png", kind, gradient(height, width, t))
                    for t in range(frames)]
        folders[kind] = folder, expected
    return folders


@pytest.mark.parametrize("kind", KINDS)
def test_every_image_kind_reads_as_rgb_8_bit(tmp_path, kind):
    expected = write_kind(tmp_path / "frame.png", kind, gradient(12, 20))
    image = read_image(tmp_path / "frame.png")
    assert image.dtype == np.uint8 and image.shape == (12, 20, 3)
    np.testing.assert_array_equal(image, expected)


def test_prepare_accepts_folders_of_every_image_kind(tmp_path, capsys):
    folders = kind_folders(tmp_path / "kinds")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "prepare", *(folder for folder, _ in folders.values()),
                           "-o", out, "--size", "16", "--scene-threshold", "0", "-q")
    assert code == 0 and err == "", err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["frames_kept"] for s in manifest["sources"]] == [3] * len(KINDS)
    for clip, (_, expected) in zip(manifest["clips"], folders.values(), strict=True):
        frames = np.load(out / clip["file"])
        assert frames.shape == (3, 16, 16, 3) and frames.dtype == np.uint8
        for frame, rgb in zip(frames, expected, strict=True):
            np.testing.assert_array_equal(frame, center_square(rgb, 16))


def test_retarget_translates_every_image_kind_as_its_rgb_equivalent(run_dir, tmp_path, capsys):
    folders = kind_folders(tmp_path / "kinds")
    inputs = []
    for kind, (folder, expected) in folders.items():
        for t, rgb in enumerate(expected):
            write_png(tmp_path / "rgb" / f"{kind}_rgb" / f"f{t}.png", rgb)
        inputs += [folder, tmp_path / "rgb" / f"{kind}_rgb"]
    code, _, err = run_cli(capsys, "retarget", *inputs, "-r", run_dir, "-o", tmp_path / "out",
                           *TINY[2:])
    assert code == 0 and err == "", err
    for kind in KINDS:
        with (VideoReader(tmp_path / "out" / f"{kind}.mp4") as odd,
              VideoReader(tmp_path / "out" / f"{kind}_rgb.mp4") as plain):
            pairs = list(zip(odd, plain, strict=True))
        assert len(pairs) == 3 and pairs[0][0].image.shape == (32, 32, 3)
        for a, b in pairs:
            # Equal up to the odd flipped 8-bit level: the generator's output can move by
            # float rounding (about 5e-7) between calls, and H.264 carries a flipped pixel
            # into its block. A misread kind (alpha, grey scale, 16 bits) differs everywhere.
            diff = np.abs(a.image.astype(np.int16) - b.image)
            assert diff.mean() < 0.25 and diff.max() <= 12, (kind, diff.mean(), diff.max())


VIDEO_FORMATS = {  # PyAV input format, PNG codec pixel format
    "grey": ("gray", "gray"),
    "grey16": ("gray16le", "gray16be"),
    "rgba": ("rgba", "rgba"),
    "rgb48": ("rgb48le", "rgb48be"),
}


def write_odd_video(path: Path, kind: str, frames: list[np.ndarray]) -> list[np.ndarray]:
    """A lossless (PNG codec) .mov of grey, 16-bit or RGBA frames; returns their RGB 8-bit."""
    source, pix_fmt = VIDEO_FORMATS[kind]
    expected = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        for rgb in frames:
            grey = rgb[..., :1].repeat(3, 2)
            if kind == "grey":
                array, want = rgb[..., 0], grey
            elif kind == "grey16":
                array, want = rgb[..., 0].astype(np.uint16) * 257, grey
            elif kind == "rgba":
                array, want = np.dstack([rgb, np.full(rgb.shape[:2], 90, np.uint8)]), rgb
            else:
                array, want = rgb.astype(np.uint16) * 257, rgb
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format=source)))
            expected.append(want)
        container.mux(stream.encode(None))
    return expected


def test_grey_alpha_and_16_bit_videos_are_converted(tmp_path, capsys):
    frames = [gradient(16, 24, t) for t in range(4)]
    videos, expected = [], {}
    for kind in VIDEO_FORMATS:
        videos.append(tmp_path / f"{kind}.mov")
        expected[kind] = write_odd_video(videos[-1], kind, frames)
        with VideoReader(videos[-1]) as reader:
            decoded = [frame.image for frame in reader]
        assert len(decoded) == 4
        for image, want in zip(decoded, expected[kind], strict=True):
            assert image.dtype == np.uint8  # FFmpeg's grey to RGB conversion may round up
            assert np.abs(image.astype(int) - want).max() <= 1, kind
    code, _, err = run_cli(capsys, "prepare", *videos, "-o", tmp_path / "out", "--size", "16",
                           "--scene-threshold", "0", "-q")
    assert code == 0 and err == "", err
    for clip, kind in zip(json.loads((tmp_path / "out" / "manifest.json").read_text())["clips"],
                          VIDEO_FORMATS, strict=True):
        prepared = np.load(tmp_path / "out" / clip["file"])
        assert np.abs(prepared[0] - center_square(expected[kind][0], 16).astype(int)).max() <= 1


# -- Frame sizes: tiny, odd, huge -------------------------------------------------------------

def frame_folder(folder: Path, height: int, width: int, frames: int = 3) -> Path:
    for t in range(frames):
        write_png(folder / f"f{t}.png", gradient(height, width, t))
    return folder


def test_tiny_frames_are_enlarged_with_a_warning(run_dir, tmp_path, capsys):
    tiny = frame_folder(tmp_path / "tiny", 5, 7)
    code, _, err = run_cli(capsys, "prepare", tiny, "-o", tmp_path / "data", "--size", "16",
                           "-q")
    assert code == 0
    assert err.strip().splitlines() == [
        f"recyclegan prepare: warning: {tiny}: frames are 7x5 px; enlarged to 16x16 they will "
        "look blurred"]
    assert np.load(tmp_path / "data" / "clip_00000.npy").shape == (3, 16, 16, 3)

    code, _, err = run_cli(capsys, "retarget", tiny, "-r", run_dir, "-o", tmp_path / "out",
                           *TINY[2:])
    assert code == 0 and err == "", err
    code, _, err = run_cli(capsys, "retarget", tiny, "-r", run_dir, "-o", tmp_path / "kept",
                           "--keep-resolution", *TINY[2:])
    assert code == 0 and err == "", err
    with VideoReader(tmp_path / "out") as out, VideoReader(tmp_path / "kept") as kept:
        assert [f.image.shape for f in out] == [(32, 32, 3)] * 3  # the run's size
        assert [f.image.shape for f in kept] == [(5, 7, 3)] * 3


def test_one_pixel_frames_at_their_own_resolution(run_dir, tmp_path, capsys):
    dot = frame_folder(tmp_path / "dot", 1, 1)
    code, _, err = run_cli(capsys, "retarget", dot, "-r", run_dir, "-o", tmp_path / "kept",
                           "--keep-resolution", *TINY[2:])
    assert code == 0, err
    with VideoReader(tmp_path / "kept") as kept:
        assert [f.image.shape for f in kept] == [(1, 1, 3)] * 3


def test_one_pixel_frames_are_prepared_and_retargeted(run_dir, tmp_path, capsys):
    dot = frame_folder(tmp_path / "dot", 1, 1)
    code, _, err = run_cli(capsys, "prepare", dot, "-o", tmp_path / "data", "--size", "8", "-q")
    assert code == 0 and "frames are 1x1 px" in err
    code, _, err = run_cli(capsys, "retarget", dot, "-r", run_dir, "-o", tmp_path / "out.mp4",
                           *TINY[2:])
    assert code == 0 and err == "", err
    assert probe_video(tmp_path / "out.mp4").frames == 3


def test_odd_sizes_are_cropped_or_padded(run_dir, tmp_path, capsys):
    odd = frame_folder(tmp_path / "odd", 17, 33)
    code, _, err = run_cli(capsys, "prepare", odd, "-o", tmp_path / "data", "--size", "16", "-q")
    assert code == 0 and err == "", err
    prepared = np.load(tmp_path / "data" / "clip_00000.npy")
    np.testing.assert_array_equal(prepared[1], center_square(gradient(17, 33, 1), 16))
    for output, size in (("kept.mp4", (34, 18)), ("kept", (33, 17))):  # yuv420p needs even
        code, _, err = run_cli(capsys, "retarget", odd, "-r", run_dir, "-o", tmp_path / output,
                               "--keep-resolution", *TINY[2:])
        assert code == 0 and err == "", err
        with VideoReader(tmp_path / output) as reader:
            assert (reader.info.width, reader.info.height) == size
            assert len(list(reader)) == 3


EIGHT_K = (4320, 7680)


def test_8k_frames_take_bounded_time_and_memory(run_dir, tmp_path, capsys):
    folder = tmp_path / "8k"
    write_png(folder / "f0.png", gradient(*EIGHT_K))
    for t in (1, 2):
        shutil.copy(folder / "f0.png", folder / f"f{t}.png")
    frame_bytes = EIGHT_K[0] * EIGHT_K[1] * 3  # 95 MiB
    started = time.monotonic()
    tracemalloc.start()
    try:
        code, _, err = run_cli(capsys, "prepare", folder, "-o", tmp_path / "data", "--size",
                               "16", "-q")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0 and err == "", err
    assert np.load(tmp_path / "data" / "clip_00000.npy").shape == (3, 16, 16, 3)
    # A few frames at once, however long the clip: the one read, its RGB copy, and the one
    # before, which resampling holds until the next arrives.
    assert peak < 4 * frame_bytes, f"{peak / 2**20:.0f} MiB at once"
    one = tmp_path / "8k_one"  # retarget reads frames as prepare does: one is enough here
    one.mkdir()
    shutil.copy(folder / "f0.png", one / "f0.png")
    code, _, err = run_cli(capsys, "retarget", one, "-r", run_dir, "-o", tmp_path / "out.mp4",
                           *TINY[2:])
    assert code == 0 and err == "", err
    assert probe_video(tmp_path / "out.mp4").frames == 1
    assert time.monotonic() - started < 60


def write_8k_video(path: Path, frames: int = 3) -> Path:
    """An 8K H.264 file (libx264 ultrafast, under a second for 3 frames): each frame a
    horizontal ramp that moves, written as yuv420p directly (no RGB conversion)."""
    height, width = EIGHT_K
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(frames):
            planes = np.full((height * 3 // 2, width), 128, np.uint8)  # Y, then U and V
            planes[:height] = ((np.arange(width) // 30 + 8 * t) % 256).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_8k_video_takes_bounded_time_and_memory(run_dir, tmp_path, capsys):
    video = write_8k_video(tmp_path / "8k.mp4")
    started = time.monotonic()
    tracemalloc.start()
    try:
        code, _, err = run_cli(capsys, "prepare", video, "-o", tmp_path / "data", "--size", "16",
                               "--scene-threshold", "0", "-q")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0 and err == "", err
    prepared = np.load(tmp_path / "data" / "clip_00000.npy")
    assert prepared.shape == (3, 16, 16, 3)
    assert prepared[0].std() > 0 and not np.array_equal(prepared[0], prepared[2])  # decoded
    assert peak < 4 * EIGHT_K[0] * EIGHT_K[1] * 3, f"{peak / 2**20:.0f} MiB at once"
    code, _, err = run_cli(capsys, "retarget", video, "-r", run_dir, "-o", tmp_path / "out.mp4",
                           *TINY[2:])
    assert code == 0 and err == "", err
    with VideoReader(tmp_path / "out.mp4") as reader:
        assert [f.image.shape for f in reader] == [(32, 32, 3)] * 3  # the run's size
    assert time.monotonic() - started < 30


def write_palette_video(path: Path, indices: list[np.ndarray]) -> None:
    """A PNG-codec .mov in pal8, FFmpeg's palette pixel format: a byte per pixel indexing
    PALETTE (stored as 32-bit BGRA entries)."""
    height, width = indices[0].shape
    table = np.zeros((256, 4), np.uint8)
    table[: len(PALETTE), :3], table[: len(PALETTE), 3] = PALETTE[:, ::-1], 255
    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "pal8"
        for t, index in enumerate(indices):
            frame = av.VideoFrame(width, height, "pal8")
            stride = frame.planes[0].line_size
            frame.planes[0].update(np.pad(index, ((0, 0), (0, stride - width))).tobytes())
            frame.planes[1].update(table.tobytes())
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:  # what is tested: a palette stream
        assert container.streams.video[0].codec_context.pix_fmt == "pal8"


def test_palette_video_reads_as_rgb(run_dir, tmp_path, capsys):
    indices = [(gradient(16, 24, t)[..., 0] % 4).astype(np.uint8) for t in range(3)]
    expected = [PALETTE[index] for index in indices]
    write_palette_video(tmp_path / "palette.mov", indices)
    write_odd_video(tmp_path / "rgb.mov", "rgba", expected)  # lossless, its RGB equivalent
    with VideoReader(tmp_path / "palette.mov") as reader:
        decoded = [frame.image for frame in reader]
    assert len(decoded) == 3
    for image, want in zip(decoded, expected, strict=True):
        assert image.dtype == np.uint8
        np.testing.assert_array_equal(image, want)
    code, _, err = run_cli(capsys, "prepare", tmp_path / "palette.mov", "-o", tmp_path / "data",
                           "--size", "16", "--scene-threshold", "0", "-q")
    assert code == 0 and err == "", err
    prepared = np.load(tmp_path / "data" / "clip_00000.npy")
    np.testing.assert_array_equal(prepared, [center_square(rgb, 16) for rgb in expected])
    code, _, err = run_cli(capsys, "retarget", tmp_path / "palette.mov", tmp_path / "rgb.mov",
                           "-r", run_dir, "-o", tmp_path / "out", *TINY[2:])
    assert code == 0 and err == "", err
    with (VideoReader(tmp_path / "out" / "palette.mov") as odd,
          VideoReader(tmp_path / "out" / "rgb.mov") as plain):
        pairs = list(zip(odd, plain, strict=True))
    assert len(pairs) == 3
    assert all(np.array_equal(a.image, b.image) for a, b in pairs)


# -- Timing: variable frame rate --------------------------------------------------------------

def test_prepare_resamples_variable_frame_rate_by_timestamps(tmp_path, capsys, av_clip):
    pts = [0, 1, 2, 5, 6, 9, 10, 11, 14, 15]  # tenths of a second, with gaps (none even)
    video = av_clip(tmp_path / "vfr.mkv", frames=len(pts), size=32, pts=pts,
                    time_base=Fraction(1, 10), audio=False, noise=False)
    options = ["--size", "16", "--scene-threshold", "0", "-q"]
    assert run_cli(capsys, "prepare", video, "-o", tmp_path / "all", *options)[0] == 0
    assert run_cli(capsys, "prepare", video, "-o", tmp_path / "10fps", "--fps", "10",
                   *options)[0] == 0
    every = np.load(tmp_path / "all" / "clip_00000.npy")
    resampled = np.load(tmp_path / "10fps" / "clip_00000.npy")
    assert len(every) == 10
    # 0.0 to 1.5 s at 10 fps, each target taking the nearest frame
    nearest = [min(range(10), key=lambda i: abs(pts[i] - k)) for k in range(16)]
    assert len(resampled) == 16
    np.testing.assert_array_equal(resampled, every[nearest])


# -- Folders mixing images and junk -----------------------------------------------------------

def mixed_folder(folder: Path) -> Path:
    for t in range(4):
        write_png(folder / f"f{t}.png", gradient(32, 32, t))
    (folder / "notes.txt").write_text("shot list")
    (folder / "Thumbs.db").write_bytes(b"\x00" * 64)
    (folder / "sub").mkdir()
    (folder / ".DS_Store").write_bytes(b"\x00" * 8)  # hidden: left out silently
    return folder


def add_broken_images(folder: Path) -> None:
    tiff = folder.parent / "whole.tif"
    assert cv2.imwrite(str(tiff), gradient(32, 32))
    (folder / "f1_broken.tif").write_bytes(tiff.read_bytes()[:300])  # cut short
    (folder / "f2_empty.png").write_bytes(b"")
    (folder / "f3_text.png").write_text("not an image")


def ignoring(command: str, folder: Path) -> str:
    return f"recyclegan {command}: warning: {folder}: ignoring notes.txt, sub, Thumbs.db"


def test_a_folder_mixing_images_and_junk(run_dir, tmp_path, capfd):
    """capfd, not capsys: OpenCV's own log would go to the file descriptor. Each command gets
    its own folder, as a warning is shown once per process."""
    folder = mixed_folder(tmp_path / "mixed")
    assert main(["prepare", str(folder), "-o", str(tmp_path / "data"), "--size", "16",
                 "-q"]) == 0
    assert capfd.readouterr().err.strip().splitlines() == [ignoring("prepare", folder)]

    # Damaged images: the dataset is refused, naming the first; retarget skips them, counted.
    broken = mixed_folder(tmp_path / "broken")
    add_broken_images(broken)
    code = main(["prepare", str(broken), "-o", str(tmp_path / "data2"), "--size", "16", "-q"])
    err = capfd.readouterr().err
    assert code == 1 and "Traceback" not in err and "[ERROR" not in err, err
    assert err.strip().splitlines() == [
        ignoring("prepare", broken), f"recyclegan prepare: error: {broken / 'f1_broken.tif'}: "
        "cannot read this image; check that the file is intact"]
    assert not (tmp_path / "data2").exists()

    also_broken = mixed_folder(tmp_path / "also_broken")
    add_broken_images(also_broken)
    code = main(["retarget", str(also_broken), "-r", str(run_dir), "-o", str(tmp_path / "out"),
                 *TINY[2:]])
    lines = capfd.readouterr().err.strip().splitlines()
    assert code == 0 and len(lines) == 2, lines
    assert lines[0] == ignoring("retarget", also_broken)
    assert lines[1].startswith(f"recyclegan retarget: warning: {also_broken}: 3 frames could "
                               "not be decoded")
    with VideoReader(tmp_path / "out") as reader:
        assert len(list(reader)) == 4


# -- Paths that are not files: pipes, unreadable files and folders ----------------------------

@pytest.fixture
def pipe(tmp_path):
    path = tmp_path / "pipe.mp4"
    os.mkfifo(path)  # opening it to read would wait for a writer forever
    return path


def test_a_pipe_is_refused_at_once(run_dir, trained, tmp_path, capsys, pipe):
    data_a, data_b, _ = trained
    cases = [
        (["prepare", pipe, "-o", tmp_path / "data"], "neither a file nor a folder"),
        (["retarget", pipe, "-r", run_dir, "-o", tmp_path / "out.mp4"], "not a regular file"),
        (["evaluate", "--pred", tmp_path, "--input", pipe, "--labels", tmp_path, "--palette",
          tmp_path / "palette.json"], "neither a file nor a folder"),
        (["train", data_a, pipe, "-o", tmp_path / "run", *TINY], "not a folder"),
        (["train", data_a, data_b, "-o", tmp_path / "run", "--config", pipe, *TINY],
         "not a regular file"),
    ]
    (tmp_path / "palette.json").write_text(json.dumps(
        {"classes": [{"id": 0, "name": "road", "color": [1, 2, 3]}]}))
    for argv, fragment in cases:
        started = time.monotonic()
        code, _, err = run_cli(capsys, *argv)
        one_line_error(code, err, fragment)
        assert time.monotonic() - started < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["palette.json", "pipe.mp4"]


def test_evaluate_refuses_pipes_among_its_labels_at_once(labelled, tmp_path, capsys, pipe):
    """--palette, --labels, and a pipe where a clip's ground truth should be: each refused
    before it is opened (reading a pipe would wait for a writer forever)."""
    labels = tmp_path / "labels"
    shutil.copytree(labelled / "ids", labels)
    (labels / "clip.npy").unlink()
    os.mkfifo(labels / "clip.npy")
    base = ["evaluate", "--pred", labelled / "pred", "--input", labelled / "rgb"]
    cases = [
        ([*base, "--labels", labelled / "ids", "--palette", pipe],
         f"{pipe}: not a regular file (a pipe or a device?); pass a palette.json file"),
        ([*base, "--labels", pipe, "--palette", labels / "palette.json"],
         f"{pipe}: not a folder of ground-truth labels"),
        ([*base, "--labels", labels], f"{labels / 'clip.npy'}: not a regular file"),
    ]
    for argv, fragment in cases:
        started = time.monotonic()
        code, _, err = run_cli(capsys, *argv)
        one_line_error(code, err, fragment)
        assert time.monotonic() - started < 30


def test_a_pipe_inside_a_folder_of_videos_is_ignored(tmp_path, capsys, synthetic_video, pipe):
    synthetic_video(tmp_path / "clip.mp4", frames=6)
    code, _, err = run_cli(capsys, "prepare", tmp_path, "-o", tmp_path.parent / "data", "-q",
                           "--size", "16")
    assert code == 0
    assert err.strip().splitlines() == [f"recyclegan prepare: warning: {tmp_path}: ignoring "
                                        "pipe.mp4"]


def test_unreadable_files_and_folders(run_dir, labelled, tmp_path, capsys, monkeypatch,
                                      synthetic_video):
    """Simulated: as root, chmod 000 stops nothing. PyAV and the folder listing fail as the
    kernel makes them fail for another user."""
    video = synthetic_video(tmp_path / "locked.mp4", frames=6)
    folder = frame_folder(tmp_path / "locked", 16, 16)
    real_open, real_listdir = av.open, os.listdir

    def av_open(file, *args, **kwargs):
        if Path(str(file)) == video:
            av.error.err_check(-errno.EACCES, str(file))
        return real_open(file, *args, **kwargs)

    def listdir(path="."):
        if Path(os.fsdecode(path)) == folder:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
        return real_listdir(path)

    labels = tmp_path / "labels"  # ground truth for both: the input is what is wrong
    shutil.copytree(labelled / "ids", labels)
    shutil.copy(labels / "clip.npy", labels / "locked.npy")
    monkeypatch.setattr(av, "open", av_open)
    monkeypatch.setattr(os, "listdir", listdir)  # what Path.iterdir reads a folder with
    for source, fragment in ((video, "cannot read it (Permission denied); check its "
                              "permissions"),
                             (folder, "cannot list this folder (Permission denied); check "
                              "its permissions")):
        for argv in (["prepare", source, "-o", tmp_path / "data"],
                     ["retarget", source, "-r", run_dir, "-o", tmp_path / "out.mp4", "-q"],
                     ["evaluate", "--pred", labelled / "pred", "--input", source, "--labels",
                      labels]):
            code, _, err = run_cli(capsys, *argv)
            one_line_error(code, err, fragment)
    assert not (tmp_path / "data").exists() and not (tmp_path / "out.mp4").exists()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Four frames of one clip with ground truth and a prediction, for `evaluate`."""
    root = tmp_path_factory.mktemp("evaluate")
    ids = (np.arange(32)[None, None, :] // 11 % 3).repeat(32, 1).repeat(4, 0).astype(np.uint8)
    colours = PALETTE[:3]
    from recyclegan.data.video_io import write_video

    (root / "rgb").mkdir()
    write_video(root / "rgb" / "clip.mp4", colours[ids], fps=10)
    (root / "ids").mkdir()
    np.save(root / "ids" / "clip.npy", ids)
    (root / "ids" / "palette.json").write_text(json.dumps({"classes": [
        {"id": k, "name": name, "color": colours[k].tolist()}
        for k, name in enumerate(["road", "tree", "sky"])]}))
    for t in range(4):
        write_png(root / "pred" / "clip" / f"frame_{t + 1:06d}.png", colours[ids[t]])
    return root


@pytest.mark.parametrize("name, fragment", [
    ("missing.mp4", "no such file or folder"),
    ("empty.mp4", "empty file (0 bytes)"),
    ("notes.mp4", "not a video PyAV can decode"),
    ("junk_only", "no videos or images found"),
    ("empty_folder", "no videos or images found"),
])
def test_retarget_and_evaluate_refuse_bad_inputs(run_dir, labelled, tmp_path, capsys, name,
                                                 fragment):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("this is not a video\n")
    (tmp_path / "junk_only").mkdir()
    (tmp_path / "junk_only" / "readme.txt").write_text("nothing here")
    (tmp_path / "empty_folder").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    source = tmp_path / name
    code, _, err = run_cli(capsys, "retarget", source, "-r", run_dir, "-o",
                           tmp_path / "out.mp4", "-q")
    lines = err.strip().splitlines()
    one_line_error(code, lines[-1], fragment)  # after a warning about readme.txt, if any
    labels = tmp_path.parent / f"{tmp_path.name}_labels"  # ground truth for every name
    shutil.copytree(labelled / "ids", labels)
    for stem in ("missing", "empty", "notes", "junk_only", "empty_folder"):
        shutil.copy(labels / "clip.npy", labels / f"{stem}.npy")
    code, _, err = run_cli(capsys, "evaluate", "--pred", labelled / "pred", "--input", source,
                           "--labels", labels)
    one_line_error(code, err.strip().splitlines()[-1], fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_media_that_is_not_a_clip(run_dir, labelled, tmp_path, capsys, audio_only_file,
                                  junk_video):
    """Audio only, a video stream that never decodes, one image: refused, except that
    `retarget` translates a single image as a one-frame video."""
    cases = [(audio_only_file, "holds no video stream"),
             (junk_video(tmp_path / "junk.mkv"), "no decodable video frame"),
             (junk_video(tmp_path / "junk.mp4"), "no decodable video frame"),
             (write_png(tmp_path / "still.png", gradient(24, 40)), "a single image is not a "
              "clip; pass the folder that holds the frames")]
    labels = tmp_path / "labels"  # ground truth for every name: the input is what is wrong
    shutil.copytree(labelled / "ids", labels)
    for stem in ("speech", "junk", "still"):
        shutil.copy(labels / "clip.npy", labels / f"{stem}.npy")
    for source, fragment in cases:
        if source.suffix != ".png":
            code, _, err = run_cli(capsys, "retarget", source, "-r", run_dir, "-o",
                                   tmp_path / "out.mp4", "-q")
            one_line_error(code, err, f"{source}: {fragment}")
            assert not (tmp_path / "out.mp4").exists() and not leftovers(tmp_path)
        for model in (["--pred", labelled / "pred"], ["-r", run_dir, "--device", "cpu"]):
            code, _, err = run_cli(capsys, "evaluate", *model, "--input", source, "--labels",
                                   labels)
            one_line_error(code, err, f"{source}: {fragment}")
    code, _, err = run_cli(capsys, "retarget", tmp_path / "still.png", "-r", run_dir, "-o",
                           tmp_path / "still.mp4", *TINY[2:])
    assert code == 0 and err == "", err
    with VideoReader(tmp_path / "still.mp4") as reader:
        assert [f.image.shape for f in reader] == [(32, 32, 3)]


def test_evaluate_refuses_a_damaged_video(run_dir, labelled, tmp_path, capsys, av_clip):
    """Scores compare frames by position, so a lost frame would shift every later one:
    `evaluate` stops at the first, naming the file (the intact file scores)."""
    (tmp_path / "intact").mkdir()
    intact = av_clip(tmp_path / "intact" / "clip.mp4", frames=30, size=32, audio=False,
                     noise=False, options={"movflags": "faststart"}, gop=5)
    labels = tmp_path / "labels"
    labels.mkdir()
    shutil.copy(labelled / "ids" / "palette.json", labels)
    np.save(labels / "clip.npy", np.zeros((30, 32, 32), np.uint8))
    (tmp_path / "pred").mkdir()
    shutil.copy(intact, tmp_path / "pred")  # the translation: here the input itself
    argv = ["evaluate", "--pred", tmp_path / "pred", "--labels", labels, "--input"]
    code, out, err = run_cli(capsys, *argv, intact)
    assert code == 0 and err == "" and "clip" in out, err
    damaged = tmp_path / "damaged" / "clip.mp4"
    damaged.parent.mkdir()
    data = bytearray(intact.read_bytes())
    cut = tmp_path / "cut" / "clip.mp4"
    cut.parent.mkdir()
    cut.write_bytes(bytes(data[: len(data) * 9 // 10]))  # 17 frames decode
    start = len(data) * 9 // 10  # frames 18 to 30 lost
    data[start : start + 400 : 3] = bytes(b ^ 0x5A for b in data[start : start + 400 : 3])
    damaged.write_bytes(bytes(data))
    for source in (cut, damaged):
        code, _, err = run_cli(capsys, *argv, source)
        one_line_error(code, err, f"{source}: decoding failed after ")
        assert "; re-encode or trim the file" in err


# -- Damaged videos, through the commands -----------------------------------------------------

def test_cut_and_flipped_videos_through_prepare_and_retarget(run_dir, tmp_path, capsys, av_clip):
    intact = av_clip(tmp_path / "intact.mp4", frames=30, size=32, audio=False, noise=False,
                     options={"movflags": "faststart"}, gop=5).read_bytes()
    damaged = {f"cut{p}": intact[: len(intact) * p // 100] for p in (3, 10, 30, 50, 70, 90, 99)}
    for p in (30, 60, 90):
        data = bytearray(intact)
        start = len(data) * p // 100
        data[start : start + 400 : 3] = bytes(b ^ 0x5A for b in data[start : start + 400 : 3])
        damaged[f"flip{p}"] = bytes(data)
    partly = 0
    for name, data in damaged.items():
        source = tmp_path / f"{name}.mp4"
        source.write_bytes(data)
        started = time.monotonic()
        code, _, err = run_cli(capsys, "prepare", source, "-o", tmp_path / f"data_{name}",
                               "--size", "16", "--scene-threshold", "0", "-q")
        if code == 0:
            assert err == "" and len(np.load(tmp_path / f"data_{name}" / "clip_00000.npy")) <= 30
        else:
            one_line_error(code, err, source.name)
            assert not (tmp_path / f"data_{name}").exists()
        out = tmp_path / f"out_{name}.mp4"
        code, _, err = run_cli(capsys, "retarget", source, "-r", run_dir, "-o", out, *TINY[2:])
        if code == 0:
            frames = probe_video(out).frames
            assert 0 < frames <= 30
            if frames < 30:  # the loss is reported, in one line
                partly += 1
                assert err.strip().splitlines() == [err.strip()]
                assert "could not be decoded" in err and "Traceback" not in err
        else:
            one_line_error(code, err, source.name)
            assert not out.exists()
        assert time.monotonic() - started < 30, name
    assert partly >= 3  # damaged files are read as far as they go
    assert not leftovers(tmp_path)


# -- Datasets: not a folder, damaged, another tool version ------------------------------------

@pytest.mark.parametrize("damage, fragment", [
    ("file", "not a folder; a prepared dataset is the folder"),
    ("empty_manifest", "unreadable"),
    ("format_1", "dataset format version 1 is not supported"),
    ("format_99", "dataset format version 99 is not supported"),
    ("truncated_clip", "prepare the dataset again"),
    ("flipped_clip", "does not match its checksum"),
])
def test_train_refuses_damaged_and_foreign_datasets(trained, tmp_path, capsys, damage,
                                                    fragment):
    data_a, data_b, _ = trained
    other = tmp_path / "data"
    shutil.copytree(data_b, other)
    manifest_path, clip = other / "manifest.json", other / "clip_00000.npy"
    manifest = json.loads(manifest_path.read_text())
    if damage == "file":
        shutil.rmtree(other)
        other.write_bytes(b"")
    elif damage == "empty_manifest":
        manifest_path.write_bytes(b"")
    elif damage.startswith("format_"):
        manifest["format_version"] = int(damage.split("_")[1])
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "truncated_clip":
        clip.write_bytes(clip.read_bytes()[:1000])
    else:
        data = bytearray(clip.read_bytes())
        data[-5] ^= 0x04
        clip.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "train", data_a, other, "-o", tmp_path / "run", *TINY)
    one_line_error(code, err, fragment)
    assert not (tmp_path / "run").exists()


def test_a_dataset_from_another_tool_version_of_the_same_format_loads(trained, tmp_path):
    other = tmp_path / "data"
    shutil.copytree(trained[1], other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "tool_version": "99.0.0"}))
    assert load_manifest(other)["num_clips"] == manifest["num_clips"]


# -- Checkpoints, offered to every command that loads one -------------------------------------

class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def reseal(checkpoints: Path) -> None:
    """Make latest.json's checksums fit the files as they are now, as someone swapping a file
    on purpose would: the loaders' own checks must catch it."""
    record = json.loads((checkpoints / "latest.json").read_text())
    record["sha256"] = {kind: sha256_file(checkpoints / record[kind])
                        for kind in ("weights", "state")}
    (checkpoints / "latest.json").write_text(json.dumps(record))


def damage_run(run: Path, damage: str) -> None:
    checkpoints = run / "checkpoints"
    record = json.loads((checkpoints / "latest.json").read_text())
    weights, state = checkpoints / record["weights"], checkpoints / record["state"]
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:200])
        reseal(checkpoints)
    elif damage == "flipped_bit":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0x08
        weights.write_bytes(bytes(data))
    elif damage == "code_as_weights":
        torch.save({"gen_ab.w": torch.zeros(2), "payload": RunsCode()}, weights)
        reseal(checkpoints)
    elif damage == "code_as_state":
        torch.save({"step": record["step"], "payload": RunsCode()}, state)
        reseal(checkpoints)
    else:  # another configuration: wider generators than the weights hold
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["model"]["gen_channels"] *= 2
        (run / "config.yaml").write_text(yaml.safe_dump(config))


LOADERS = ["train", "retarget", "export", "evaluate"]
CHECKPOINT_CASES = [
    *[(d, c) for d in ("truncated", "flipped_bit", "code_as_weights", "another_config")
      for c in LOADERS],
    ("code_as_state", "train"),  # the only command that reads the training state
]
FRAGMENTS = {"truncated": "cannot read weights", "flipped_bit": "does not match its checksum",
             "code_as_weights": "cannot read weights", "another_config": "does not match",
             "code_as_state": "cannot read training state"}


@pytest.mark.parametrize("damage, command", CHECKPOINT_CASES)
def test_damaged_checkpoints_are_refused_by_every_loader(trained, labelled, tmp_path, capsys,
                                                         monkeypatch, damage, command):
    data_a, data_b, run_dir = trained
    monkeypatch.chdir(tmp_path)  # where the payload would leave its mark
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    damage_run(run, damage)
    argv = {
        "train": ["train", data_a, data_b, "-o", run, "--resume", "--steps", "2", "-q"],
        "retarget": ["retarget", labelled / "rgb" / "clip.mp4", "-r", run, "-o",
                     tmp_path / "out.mp4", "-q"],
        "export": ["export", "-r", run, "--onnx", tmp_path / "model.onnx"],
        "evaluate": ["evaluate", "-r", run, "--input", labelled / "rgb", "--labels",
                     labelled / "ids"],
    }[command]
    code, _, err = run_cli(capsys, *argv)
    one_line_error(code, err, FRAGMENTS[damage])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no output, no payload


# -- Outputs on a full or read-only disk ------------------------------------------------------

def _to_full(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to(FULL)


@pytest.fixture
def full_disk(monkeypatch):
    """fill(match, first_frame): temporary files whose name `match` accepts, and PNG frames
    from `first_frame` on in temporary folders, become links to /dev/full, where every write
    fails with the kernel's ENOSPC."""
    if not FULL.exists():
        pytest.skip("needs /dev/full")
    real_mkstemp, real_mkdtemp = tempfile.mkstemp, tempfile.mkdtemp

    def fill(match=lambda name: True, first_frame: int = 1) -> None:
        def mkstemp(*args, **kwargs):
            handle, name = real_mkstemp(*args, **kwargs)
            if match(Path(name).name):
                _to_full(Path(name))
            return handle, name

        def mkdtemp(*args, **kwargs):
            name = real_mkdtemp(*args, **kwargs)
            for number in range(first_frame, first_frame + 100):
                _to_full(Path(name) / f"frame_{number:06d}.png")
            return name

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)

    return fill


@pytest.fixture
def read_only(monkeypatch):
    """protect(folder): creating anything inside `folder` fails with EROFS, as on a read-only
    mount (folders through os.mkdir, files through os.open, which tempfile uses)."""

    def protect(folder: Path) -> None:
        folder = folder.resolve()
        real_mkdir, real_open = os.mkdir, os.open
        writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT

        def inside(path) -> bool:
            return Path(os.path.abspath(os.fsdecode(path))).is_relative_to(folder)

        def refuse(path) -> None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

        def mkdir(path, *args, **kwargs):
            if inside(path):
                refuse(path)
            return real_mkdir(path, *args, **kwargs)

        def open_(path, flags, *args, **kwargs):
            if flags & writing and inside(path):
                refuse(path)
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "open", open_)

    return protect


def output_commands(trained, labelled, synthetic_video, root: Path, disk: Path) -> dict:
    data_a, data_b, run_dir = trained
    video = synthetic_video(root / "clip.mp4", frames=12)
    return {
        "prepare": ["prepare", video, "-o", disk / "data", "--size", "16", "-q"],
        "retarget_mp4": ["retarget", video, "-r", run_dir, "-o", disk / "out.mp4", "-q"],
        "retarget_frames": ["retarget", video, "-r", run_dir, "-o", disk / "frames", "-q"],
        "train": ["train", data_a, data_b, "-o", disk / "run", "--steps", "1", *TINY],
        "synth": ["synth", "-o", disk / "bench", "--clips", "1", "--frames", "4", "--size",
                  "32", "-q"],
        "evaluate": ["evaluate", "--pred", labelled / "pred", "--input", labelled / "rgb",
                     "--labels", labelled / "ids", "-o", disk / "report.json"],
        "demo": ["demo", "-o", disk / "demo", "--minutes", "0.01", "-q"],
    }


@pytest.mark.parametrize("command", ["prepare", "retarget_mp4", "retarget_frames", "train",
                                     "synth", "evaluate", "demo"])
def test_output_on_a_read_only_disk(trained, labelled, tmp_path, capsys, synthetic_video,
                                    read_only, command):
    disk = tmp_path / "disk"
    disk.mkdir()
    argv = output_commands(trained, labelled, synthetic_video, tmp_path, disk)[command]
    read_only(disk)
    code, out, err = run_cli(capsys, *argv)
    one_line_error(code, err, "Read-only file system")
    assert list(disk.iterdir()) == []


@pytest.mark.parametrize("command, fragment", [
    ("prepare", "cannot write the dataset (No space left on device); check the free disk"),
    ("retarget_mp4", "cannot write video (No space left on device)"),
    ("retarget_frames", "cannot write frame_000003.png (No space left on device); check the "
     "free disk space"),
    ("synth", "cannot write video (No space left on device)"),
    ("evaluate", "; free some disk space and run it again"),
    ("demo", "cannot write video (No space left on device)"),
])
def test_output_on_a_full_disk(trained, labelled, tmp_path, capsys, synthetic_video,
                               full_disk, command, fragment):
    disk = tmp_path / "disk"
    disk.mkdir()
    argv = output_commands(trained, labelled, synthetic_video, tmp_path, disk)[command]
    full_disk(first_frame=3)  # `prepare`: its manifest, written last
    code, _, err = run_cli(capsys, *argv)
    one_line_error(code, err, fragment)
    assert list(disk.iterdir()) == []


BENCH = ["bench", "--device", "cpu", "--size", "16", "--model-size", "tiny", "--skip-training",
         "--variants", "fp32", "--generator-batch-sizes", "1", "--retarget-batch-sizes", "1",
         "--frames", "1", "--steps", "1", "--warmup", "0", "-q"]


@pytest.mark.parametrize("command", ["export", "bench"])
def test_export_and_bench_on_a_read_only_disk(run_dir, tmp_path, capsys, read_only, command):
    """Refused before the export or the benchmark runs (the probe file is all they write)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    target = disk / ("model.onnx" if command == "export" else "bench.json")
    argv = (["export", "-r", run_dir, "--onnx", target] if command == "export"
            else [*BENCH, "--json", target])
    read_only(disk)
    started = time.monotonic()
    code, out, err = run_cli(capsys, *argv)
    one_line_error(code, err, f"Read-only file system ({target}); write the output to a "
                   "writable disk")
    assert out == "" and time.monotonic() - started < 2  # nothing was measured or exported
    assert list(disk.iterdir()) == []


def test_export_and_bench_on_a_full_disk(run_dir, tmp_path, capsys, full_disk, monkeypatch):
    """bench: the smallest run its flags allow, then the JSON fills the disk. export: the ONNX
    program is a stand-in (the real export takes 4 to 10 s), written by the same path."""
    disk = tmp_path / "disk"
    disk.mkdir()
    full_disk(lambda name: name.startswith((".bench.json.", ".model.onnx.")))
    code, out, err = run_cli(capsys, *BENCH, "--json", disk / "bench.json")
    one_line_error(code, err, f"No space left on device ({disk / 'bench.json'}); free some "
                   "disk space and run it again")
    assert "frames/s" in out  # measured and printed, then not saved

    program = types.SimpleNamespace(
        model=types.SimpleNamespace(metadata_props={}, opset_imports={"": 20}),
        save=lambda path: Path(path).write_bytes(bytes(1 << 16)))
    monkeypatch.setattr(torch.onnx, "export", lambda *args, **kwargs: program)
    code, _, err = run_cli(capsys, "export", "-r", run_dir, "--onnx", disk / "model.onnx")
    one_line_error(code, err, f"No space left on device ({disk / 'model.onnx'}); free some "
                   "disk space and run it again")
    assert list(disk.iterdir()) == []


@pytest.mark.parametrize("fills, fragment", [
    ("config", "run/config.yaml: cannot write it (No space left on device); free some disk "
     "space and train again"),
    ("events", "run/tensorboard: cannot write the TensorBoard events (No space left on "
     "device); no checkpoint was saved yet; free some space and train again with --overwrite"),
    ("sample", "run/samples/step_00000002.png: cannot write the sample strip (No space left on "
     "device); the checkpoint of step 1 is intact; free some space, then continue with "
     "--resume"),
])
def test_training_on_a_full_disk_beside_the_checkpoints(trained, tmp_path, capfd, monkeypatch,
                                                        full_disk, fills, fragment):
    """capfd: TensorBoard's writer thread would print its own traceback on the descriptor."""
    from tensorboard.summary.writer import event_file_writer

    data_a, data_b, _ = trained
    if fills == "events":  # TensorBoard opens its event file itself, by a name of its own
        gfile = event_file_writer.tf.io.gfile

        class FullGFile(gfile.GFile):
            def __init__(self, name, mode):
                _to_full(Path(name))
                super().__init__(name, mode)

        monkeypatch.setattr(gfile, "GFile", FullGFile)
    else:
        prefix = ".config.yaml." if fills == "config" else ".step_00000002.png."
        full_disk(lambda name: name.startswith(prefix))
    code = main([str(a) for a in ["train", data_a, data_b, "-o", tmp_path / "run", "--steps",
                                  "2", "--checkpoint-every", "1", *TINY]])
    one_line_error(code, capfd.readouterr().err, f"{tmp_path / fragment}")
    if fills == "config":
        assert list(tmp_path.iterdir()) == []  # the new run's folder is removed
    elif fills == "sample":
        assert load_checkpoint(tmp_path / "run" / "checkpoints").step == 1
    assert not leftovers(tmp_path)


def test_prepare_on_a_disk_that_fills_while_writing_clips(tmp_path, capsys, synthetic_video,
                                                          monkeypatch):
    video = synthetic_video(tmp_path / "clip.mp4", frames=40)
    monkeypatch.setattr(npy_writer, "open", lambda path, mode: open(FULL, mode), raising=False)
    code, _, err = run_cli(capsys, "prepare", video, "-o", tmp_path / "data", "--size", "32",
                           "-q")
    one_line_error(code, err, "cannot write the dataset (No space left on device)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


@pytest.mark.parametrize("fails", ["state", "weights"])
def test_training_on_a_disk_that_fills_keeps_the_last_checkpoint(trained, tmp_path, capsys,
                                                                 monkeypatch, full_disk,
                                                                 fails):
    data_a, data_b, _ = trained
    run = tmp_path / "run"
    if fails == "state":  # torch.save into /dev/full: the kernel's ENOSPC
        full_disk(lambda name: name.startswith(".step_00000002.state.pt"))
    else:  # how safetensors reports it (it writes through its own temporary file)
        real_save = checkpoint_module.save_file

        def save_file(tensors, filename, metadata=None):
            if metadata == {"step": "2"}:
                raise SafetensorError("Error while serializing: I/O error: No space left on "
                                      "device (os error 28)")
            real_save(tensors, filename, metadata=metadata)

        monkeypatch.setattr(checkpoint_module, "save_file", save_file)
    argv = ["train", data_a, data_b, "-o", run, "--steps", "2", "--checkpoint-every", "1",
            *TINY]
    code, _, err = run_cli(capsys, *argv)
    one_line_error(code, err, "cannot save the checkpoint of step 2")
    assert "the checkpoint of step 1 is intact" in err and "--resume" in err
    checkpoints = run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "latest.json", "step_00000001.safetensors", "step_00000001.state.pt"]
    assert load_checkpoint(checkpoints).step == 1
    monkeypatch.undo()  # space freed
    code, out, err = run_cli(capsys, *argv, "--resume")
    assert code == 0 and "trained to step 2" in out, err


def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path, full_disk):
    """The path of config.yaml, checkpoints' latest.json, reports and bench/export files."""
    target = tmp_path / "report.json"
    target.write_text("old")
    full_disk()
    with pytest.raises(OSError) as info:
        atomic_write_text(target, "new" * 5000)
    assert info.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert target.read_text() == "old"


# -- Interrupted: Ctrl-C is exit 130 and one line ---------------------------------------------

def test_ctrl_c_is_exit_130_and_leaves_nothing(run_dir, tmp_path, capsys, monkeypatch,
                                               synthetic_video):
    from recyclegan.data import prepare as prepare_module
    from recyclegan.inference.translate import Retargeter

    video = synthetic_video(tmp_path / "clip.mp4", frames=30)

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "center_square", ctrl_c)
    monkeypatch.setattr(Retargeter, "translate_batch", ctrl_c)
    for argv in (["prepare", video, "-o", tmp_path / "data", "-q"],
                 ["retarget", video, "-r", run_dir, "-o", tmp_path / "out.mp4", "-q"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 130 and err == f"recyclegan {argv[0]}: interrupted\n", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


# -- Killed outright: nothing under the final name, and the next run cleans up ----------------

KILLED_PREPARE = """
import os, signal, sys
from recyclegan.cli import main
from recyclegan.data import prepare
real, seen = prepare.center_square, []
def dying(frame, size):
    seen.append(frame)
    if len(seen) == 20:  # clips are half written
        os.kill(os.getpid(), int(sys.argv[1]))
    return real(frame, size)
prepare.center_square = dying
sys.exit(main(sys.argv[2:]))
"""


KILLED_RETARGET = """
import os, signal, sys
from recyclegan.cli import main
from recyclegan.inference.translate import Retargeter
real, calls = Retargeter.translate_batch, []
def dying(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 3:  # frames of the first batches are encoded, or on their way
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *args, **kwargs)
Retargeter.translate_batch = dying
sys.exit(main(sys.argv[1:]))
"""


def test_retarget_killed_leaves_only_its_hidden_temporary(run_dir, tmp_path, synthetic_video):
    video = synthetic_video(tmp_path / "clip.mp4", frames=40)
    for output in ("out.mp4", "frames"):
        result = subprocess.run([sys.executable, "-c", KILLED_RETARGET, "retarget", str(video),
                                 "-r", str(run_dir), "-o", str(tmp_path / output), "-q",
                                 "--device", "cpu", "--batch-size", "4"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == -signal.SIGKILL, result.stderr
        assert not (tmp_path / output).exists()
    # what remains, and nothing deletes later: .out.*.partial.mp4, .frames.*.partial
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert len(hidden) == 2, hidden
    assert hidden[0].startswith(".frames.") and hidden[0].endswith(".partial"), hidden
    assert hidden[1].startswith(".out.") and hidden[1].endswith(".partial.mp4"), hidden


def test_prepare_killed_leaves_no_dataset_and_the_next_run_cleans_up(tmp_path, capsys,
                                                                     synthetic_video):
    video = synthetic_video(tmp_path / "clip.mp4", frames=40)
    out = tmp_path / "data"
    for signum in (signal.SIGKILL, signal.SIGTERM):
        result = subprocess.run([sys.executable, "-c", KILLED_PREPARE, str(int(signum)),
                                 "prepare", str(video), "-o", str(out), "-q"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == -signum, result.stderr
        assert not out.exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".data.partial-")]
    code, _, err = run_cli(capsys, "prepare", video, "-o", out, "-q")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "data"]


# -- detect: every file examined, each error one line -----------------------------------------

def test_detect_reports_each_bad_file_in_one_line_and_goes_on(tmp_path, capsys, pipe,
                                                              synthetic_video):
    video = synthetic_video(tmp_path / "clip.mp4", frames=6)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("not a video\n")
    bad = {pipe: "not a regular file (a pipe or a device?)",
           tmp_path / "empty.mp4": "empty file (0 bytes), not a video",
           tmp_path / "notes.mp4": "not a video PyAV can decode",
           tmp_path / "missing.mp4": "no such file or folder"}
    started = time.monotonic()
    code, out, err = run_cli(capsys, "detect", *bad, video, "--json", "-")
    assert code == 2 and time.monotonic() - started < 30
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines == [f"recyclegan detect: error: {path}: {fragment}" for path, fragment
                     in bad.items()] or all(
        line.startswith(f"recyclegan detect: error: {path}: {fragment}")
        for line, (path, fragment) in zip(lines, bad.items(), strict=True)), lines
    files = json.loads(out)["files"]
    assert [f["path"] for f in files] == [str(p) for p in (*bad, video)]
    assert all("error" in f for f in files[:4])
    assert files[4]["watermark"]["frames"] == 6 and not files[4]["watermark"]["found"]
