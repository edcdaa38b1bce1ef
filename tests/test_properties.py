"""Property tests (hypothesis) for the data layer, and a fuzz test of damaged video bytes."""

from __future__ import annotations

import faulthandler
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recyclegan.data.dataset import WindowDataset, WindowSampler
from recyclegan.data.frames import center_square
from recyclegan.data.video_io import VideoReader
from recyclegan.errors import RecycleganError
from recyclegan.fileio import sha256_file

SIZE = 8
quick = settings(max_examples=40, deadline=2000,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@quick
@given(height=st.integers(1, 300), width=st.integers(1, 300), size=st.integers(8, 64))
def test_center_square_takes_any_frame(height, width, size):
    frame = np.random.default_rng(height * 1000 + width).integers(
        0, 256, (height, width, 3), dtype=np.uint8)
    square = center_square(frame, size)
    assert square.shape == (size, size, 3) and square.dtype == np.uint8
    if min(height, width) == size:  # no resize: exactly the centre of the frame
        top, left = (height - size) // 2, (width - size) // 2
        assert np.array_equal(square, frame[top:top + size, left:left + size])


def write_dataset(root: Path, lengths: list[int], stride: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    clips = []
    for number, length in enumerate(lengths):
        frames = np.zeros((length, SIZE, SIZE, 3), np.uint8)
        frames[..., 0] = number
        frames[..., 1] = np.arange(length, dtype=np.uint8)[:, None, None]
        name = f"clip_{number:05d}.npy"
        np.save(root / name, frames)
        clips.append({"file": name, "frames": length, "sha256": sha256_file(root / name)})
    (root / "manifest.json").write_text(json.dumps(
        {"format": "recyclegan-dataset", "format_version": 2, "size": SIZE, "stride": stride,
         "clips": clips}))
    return root


@quick
@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=5),
       stride=st.integers(1, 4))
def test_windows_stay_inside_clips_at_any_stride(tmp_path_factory, lengths, stride):
    expected = sum(max(0, length - 2 * stride) for length in lengths)
    root = write_dataset(tmp_path_factory.mktemp("data"), lengths, stride)
    if expected == 0:
        with pytest.raises(RecycleganError, match="no clip has the"):
            WindowDataset(root)
        return
    dataset = WindowDataset(root)
    assert len(dataset) == expected
    for index in range(len(dataset)):
        window = dataset[index, False].numpy()
        clip, first = int(window[0, 0, 0, 0]), int(window[0, 1, 0, 0])
        assert (window[:, 0, 0, 0] == clip).all()  # one clip only
        assert window[:, 1, 0, 0].tolist() == [first, first + stride, first + 2 * stride]
        assert first + 2 * stride < lengths[clip]


@quick
@given(windows=st.integers(1, 50), share=st.integers(1, 4), world=st.integers(1, 4),
       seed=st.integers(0, 1000), start=st.integers(0, 30))
def test_ranks_split_every_global_batch_exactly(windows, share, world, seed, start):
    batch = share * world
    alone = WindowSampler(windows, batch, seed=seed, start_step=start)
    ranks = [WindowSampler(windows, batch, seed=seed, start_step=start, rank=rank,
                           world_size=world) for rank in range(world)]
    for step in range(start, start + 5):
        together = [key for sampler in ranks for key in sampler.batch(step)]
        assert together == alone.batch(step)
    with pytest.raises(ValueError):
        WindowSampler(windows, batch + 1 if world > 1 else batch, seed=seed,
                      rank=world, world_size=world)


@pytest.fixture
def intact_clip(tmp_path, av_clip):
    """Made once per test function; hypothesis reuses it for every example."""
    return av_clip(tmp_path / "intact.mp4", frames=30, size=32, audio=False,
                   options={"movflags": "faststart"}).read_bytes()


@settings(max_examples=30, deadline=5000,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
# Positions as whole parts per million, not floats: training tests flush denormals for the
# whole process, and hypothesis refuses to draw floats then.
@given(flips=st.lists(st.tuples(st.integers(0, 999_999), st.integers(1, 255)), max_size=20),
       keep_percent=st.integers(5, 100))
def test_damaged_bytes_never_crash_or_hang(tmp_path_factory, intact_clip, flips, keep_percent):
    data = bytearray(intact_clip[:max(1, len(intact_clip) * keep_percent // 100)])
    for where, mask in flips:
        data[where * len(data) // 1_000_000] ^= mask
    path = tmp_path_factory.mktemp("damaged") / "clip.mp4"
    path.write_bytes(bytes(data))
    faulthandler.dump_traceback_later(30, exit=True)  # a hang ends the run, loudly
    try:
        with VideoReader(path) as reader:
            frames = [frame.image for frame in reader]
        assert all(frame.shape == (32, 32, 3) for frame in frames)
        assert len(frames) <= 30
    except RecycleganError as error:  # the one kind of failure allowed: a clear message
        assert "\n" not in str(error).strip()
    finally:
        faulthandler.cancel_dump_traceback_later()
