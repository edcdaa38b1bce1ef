from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from recyclegan.data.dataset import WindowDataset, WindowSampler, load_manifest
from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.errors import RecycleganError
from recyclegan.fileio import sha256_file

SIZE = 4


def make_dataset(root, lengths, stride=1):
    """Clips whose pixels say where they come from: R = clip, G = column, B = frame."""
    root.mkdir()
    clips = []
    for number, length in enumerate(lengths):
        frames = np.zeros((length, SIZE, SIZE, 3), np.uint8)
        frames[..., 0] = number
        frames[..., 1] = np.arange(SIZE, dtype=np.uint8)
        frames[..., 2] = np.arange(length, dtype=np.uint8)[:, None, None]
        name = f"clip_{number:05d}.npy"
        np.save(root / name, frames)
        clips.append({"file": name, "frames": length, "sha256": sha256_file(root / name)})
    manifest = {"format": "recyclegan-dataset", "format_version": 2, "size": SIZE}
    manifest.update(stride=stride, clips=clips)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_windows_never_cross_clips(tmp_path):
    dataset = WindowDataset(make_dataset(tmp_path / "data", [5, 3, 2, 7]))
    assert len(dataset) == dataset.num_windows == 3 + 1 + 0 + 5
    seen = []
    for index in range(len(dataset)):
        window = dataset[index, False]
        assert window.shape == (3, 3, SIZE, SIZE) and window.dtype == torch.uint8
        clips = window[:, 0, 0, 0].tolist()
        frames = window[:, 2, 0, 0].tolist()
        assert clips[0] == clips[1] == clips[2]
        assert frames == [frames[0], frames[0] + 1, frames[0] + 2]
        seen.append((clips[0], frames[0]))
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 0), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4)]
    with pytest.raises(IndexError):
        dataset[len(dataset), False]


def test_stride_override(tmp_path):
    root = make_dataset(tmp_path / "data", [7, 4], stride=1)
    dataset = WindowDataset(root, stride=2)
    assert (dataset.stride, len(dataset)) == (2, 3)
    assert dataset[2, False][:, 2, 0, 0].tolist() == [2, 4, 6]
    assert WindowDataset(root).stride == 1
    with pytest.raises(RecycleganError, match="5 frames a window needs at stride 2"):
        WindowDataset(make_dataset(tmp_path / "short", [4, 3]), stride=2)


def test_flip_flips_all_three_frames(tmp_path):
    dataset = WindowDataset(make_dataset(tmp_path / "data", [6]))
    plain, flipped = dataset[1, False], dataset[1, True]
    assert torch.equal(flipped, plain.flip(-1))
    assert plain[:, 1, 0].tolist() == [[0, 1, 2, 3]] * 3
    assert flipped[:, 1, 0].tolist() == [[3, 2, 1, 0]] * 3


def test_pickling_drops_memory_maps(tmp_path):
    dataset = WindowDataset(make_dataset(tmp_path / "data", [200]))
    dataset[0, False]
    copy = pickle.loads(pickle.dumps(dataset))
    assert len(pickle.dumps(dataset)) < 2000
    assert torch.equal(copy[5, True], dataset[5, True])


def test_data_loader_over_a_prepared_dataset(tmp_path, synthetic_video):
    video = synthetic_video(tmp_path / "cut.mp4", frames=14, cut_at=6)
    prepare_dataset([video], tmp_path / "data", PrepareOptions(size=16), progress=False)
    dataset = WindowDataset(tmp_path / "data")
    assert dataset.size == 16 and len(dataset) == (6 - 2) + (8 - 2)
    loader = DataLoader(dataset, batch_sampler=WindowSampler(len(dataset), 4, seed=0))
    batch = next(iter(loader))
    assert batch.shape == (4, 3, 3, 16, 16) and batch.dtype == torch.uint8


def test_load_manifest_errors(tmp_path):
    with pytest.raises(RecycleganError, match="no such dataset folder"):
        load_manifest(tmp_path / "missing")
    with pytest.raises(RecycleganError, match=r"not a prepared dataset \(no manifest.json\)"):
        load_manifest(tmp_path)

    root = make_dataset(tmp_path / "data", [5, 4])
    manifest = json.loads((root / "manifest.json").read_text())
    assert load_manifest(root) == manifest

    def broken(change, message):
        (root / "manifest.json").write_text(json.dumps({**manifest, **change}))
        with pytest.raises(RecycleganError, match=message):
            load_manifest(root)

    broken({"format": "something-else"}, "not a recyclegan dataset manifest")
    broken({"format_version": 99}, "format version 99 is not supported")
    broken({"clips": [{"file": "clip_00000.npy"}]}, "is incomplete")
    checksum = manifest["clips"][0]["sha256"]
    broken({"clips": [{"file": "clip_00000.npy", "frames": 5}]}, "is incomplete")  # no sha256
    broken({"clips": [{"file": "clip_00009.npy", "frames": 5, "sha256": checksum}]},
           "clip_00009.npy is missing")
    broken({"clips": [{"file": "clip_00000.npy", "frames": 6, "sha256": checksum}]},
           r"but the manifest says")
    broken({"format_version": 1}, "format version 1 is not supported")  # before checksums
    # One flipped bit in a clip's pixels: the shape still fits, the checksum does not.
    clip = root / "clip_00001.npy"
    data = bytearray(clip.read_bytes())
    data[-1] ^= 0x01
    clip.write_bytes(bytes(data))
    broken({}, "clip_00001.npy does not match its checksum")
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(RecycleganError, match="unreadable"):
        load_manifest(root)


def take(sampler, count):
    iterator = iter(sampler)
    return [next(iterator) for _ in range(count)]


def test_sampler_is_deterministic_and_seeded():
    first = take(WindowSampler(10, 3, seed=5), 12)
    assert first == take(WindowSampler(10, 3, seed=5), 12)
    assert first != take(WindowSampler(10, 3, seed=6), 12)
    assert all(len(batch) == 3 for batch in first)
    flips = [flip for batch in first for _, flip in batch]
    assert any(flips) and not all(flips)
    unflipped = take(WindowSampler(10, 3, seed=5, flip=False), 12)
    assert [i for b in unflipped for i, _ in b] == [i for b in first for i, _ in b]
    assert not any(flip for batch in unflipped for _, flip in batch)


def test_sampler_resume_matches_an_uninterrupted_run():
    full = take(WindowSampler(7, 4, seed=1), 20)
    for start in (1, 5, 13):
        assert take(WindowSampler(7, 4, seed=1, start_step=start), 20 - start) == full[start:]


@pytest.mark.parametrize(("num_windows", "batch_size"), [(10, 3), (3, 7), (1, 2)])
def test_sampler_visits_every_window_once_per_epoch(num_windows, batch_size):
    batches = take(WindowSampler(num_windows, batch_size, seed=0), 6 * num_windows)
    order = [index for batch in batches for index, _ in batch]
    epochs = [order[i : i + num_windows] for i in range(0, len(order), num_windows)]
    assert all(sorted(epoch) == list(range(num_windows)) for epoch in epochs)
    if num_windows > 2:
        assert epochs[0] != epochs[1], "each epoch should be shuffled anew"


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError):
        WindowSampler(0, 4, seed=0)
    with pytest.raises(ValueError):
        WindowSampler(4, 0, seed=0)
