"""NaN and infinity in training: never applied; --on-nan stop names the term, skip counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import recyclegan.losses as losses
from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.data.video_io import write_video
from recyclegan.errors import RecycleganError
from recyclegan.training.checkpoint import load_weights
from recyclegan.training.run import train_run
from tiny import make_dataset, tiny_overrides


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("numerics")
    return make_dataset(root, "a"), make_dataset(root, "b")


def poison_recycle(monkeypatch, at_calls: set[int]) -> None:
    """losses.recycle returns NaN on the given calls (two per step: a2b, then b2a)."""
    real, calls = losses.recycle, [0]

    def recycle(*args, **kwargs):
        calls[0] += 1
        value = real(*args, **kwargs)
        return value * float("nan") if calls[0] in at_calls else value

    monkeypatch.setattr(losses, "recycle", recycle)


def scalar(run_dir, tag):
    events = EventAccumulator(str(next((run_dir / "tensorboard").iterdir())))
    events.Reload()
    return {e.step: e.value for e in events.Scalars(tag)}


def test_stop_names_the_term_and_keeps_the_good_checkpoint(datasets, tmp_path, monkeypatch):
    poison_recycle(monkeypatch, {9})  # step 5, direction a2b
    with pytest.raises(RecycleganError, match=r"step 5: a2b/recycle.*not applied.*step 4"):
        train_run(*datasets, tmp_path / "run", tiny_overrides(8, checkpoint_every=2),
                  progress=False)
    step, weights = load_weights(tmp_path / "run" / "checkpoints")
    assert step == 4
    assert all(torch.isfinite(value).all() for value in weights.values())


def test_skip_goes_on_and_counts(datasets, tmp_path, monkeypatch):
    poison_recycle(monkeypatch, {5, 12})  # steps 3 (a2b) and 6 (b2a)
    result = train_run(*datasets, tmp_path / "run", {**tiny_overrides(8),
                                                      "train": {**tiny_overrides(8)["train"],
                                                                "on_nan": "skip"}},
                       progress=False)
    assert result.step == 8
    skipped = scalar(tmp_path / "run", "train/skipped_steps")
    assert skipped[2] == 0 and skipped[4] == 1 and skipped[8] == 2
    _, weights = load_weights(tmp_path / "run" / "checkpoints")
    assert all(torch.isfinite(value).all() for value in weights.values())


@pytest.mark.parametrize("level", [0, 128, 255])
def test_constant_frames_train_without_nan(tmp_path, level):
    frames = np.full((8, 32, 32, 3), level, np.uint8)  # all black, grey, white
    for domain in ("a", "b"):
        write_video(tmp_path / f"{domain}.mp4", frames, fps=10)
        prepare_dataset([tmp_path / f"{domain}.mp4"], tmp_path / domain,
                        PrepareOptions(size=32), progress=False)
    result = train_run(tmp_path / "a", tmp_path / "b", tmp_path / "run", tiny_overrides(3),
                       progress=False)  # --on-nan stop: would raise on a NaN
    assert all(np.isfinite(value) for value in result.losses.values())
