from __future__ import annotations

import numpy as np
import pytest

from recyclegan.data.npy_writer import NpyFrameWriter


@pytest.mark.parametrize("count", [0, 1, 7])
def test_round_trip(tmp_path, count):
    frames = np.random.default_rng(count).integers(0, 256, (count, 5, 6, 3), dtype=np.uint8)
    path = tmp_path / "clip.npy"
    with NpyFrameWriter(path, (5, 6, 3)) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.count == count
    assert np.array_equal(np.load(path), frames)
    if count:
        mapped = np.load(path, mmap_mode="r")
        assert mapped.shape == (count, 5, 6, 3) and mapped.dtype == np.uint8
        assert np.array_equal(mapped[-1], frames[-1])


def test_header_is_aligned_and_has_a_fixed_size(tmp_path):
    path = tmp_path / "clip.npy"
    with NpyFrameWriter(path, (2, 2, 3)) as writer:
        writer.write(np.zeros((2, 2, 3), np.uint8))
    with open(path, "rb") as file:
        assert np.lib.format.read_magic(file) == (1, 0)
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
        assert file.tell() % 64 == 0
    assert (shape, fortran, dtype) == ((1, 2, 2, 3), False, np.dtype(np.uint8))
    assert path.stat().st_size == 128 + 12


def test_non_contiguous_frames_are_written_in_order(tmp_path):
    frame = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    flipped = frame[:, ::-1]
    with NpyFrameWriter(tmp_path / "clip.npy", (4, 4, 3)) as writer:
        writer.write(flipped)
    assert np.array_equal(np.load(tmp_path / "clip.npy")[0], flipped)


def test_wrong_frames_are_refused(tmp_path):
    with NpyFrameWriter(tmp_path / "clip.npy", (4, 4, 3)) as writer:
        with pytest.raises(ValueError, match="expected a uint8 frame"):
            writer.write(np.zeros((4, 5, 3), np.uint8))
        with pytest.raises(ValueError, match="expected a uint8 frame"):
            writer.write(np.zeros((4, 4, 3), np.float32))
        writer.write(np.zeros((4, 4, 3), np.uint8))
    assert np.load(tmp_path / "clip.npy").shape == (1, 4, 4, 3)
