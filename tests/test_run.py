"""Training runs end to end in-process: run folder contents, exact resume, refusals."""

import json
import os
import signal
import threading

import pytest
import torch
from safetensors.torch import load_file

from recyclegan.errors import Interrupted, RecycleganError
from recyclegan.training import run as run_module
from recyclegan.training.run import train_run
from tiny import make_dataset, tiny_overrides


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return make_dataset(root, "a"), make_dataset(root, "b", seed=7)


def final_weights(run_dir):
    files = sorted((run_dir / "checkpoints").glob("step_*.safetensors"))
    return load_file(str(files[-1]))


def test_run_folder_contents(datasets, tmp_path):
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(3, sample_every=2, checkpoint_every=2)
    result = train_run(*datasets, run_dir, overrides, progress=False)
    assert result.step == 3
    assert (run_dir / "config.yaml").is_file()
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == [
        "step_00000002.png", "step_00000003.png"]
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "latest.json", "step_00000002.safetensors", "step_00000002.state.pt",
        "step_00000003.safetensors", "step_00000003.state.pt"]
    assert set(result.losses) >= {"loss/g_total", "a2b/recycle", "lr"}


def test_resume_is_exact(datasets, tmp_path):
    # 2N steps at once versus N, stop, resume for N more: identical weights. The decay start
    # is fixed so that both runs follow the same learning-rate schedule.
    n = 3
    straight = tmp_path / "straight"
    train_run(*datasets, straight, tiny_overrides(2 * n, lr_decay_start=n, batch_size=2),
              progress=False)
    split = tmp_path / "split"
    train_run(*datasets, split, tiny_overrides(n, lr_decay_start=n, batch_size=2),
              progress=False)
    result = train_run(*datasets, split, tiny_overrides(2 * n, lr_decay_start=n, batch_size=2),
                       resume=True, progress=False)
    assert result.step == 2 * n
    expected, resumed = final_weights(straight), final_weights(split)
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name


def test_resume_without_it_being_exact_would_be_caught(datasets, tmp_path):
    # Guard for the test above: a different seed really gives different weights.
    one, two = tmp_path / "one", tmp_path / "two"
    train_run(*datasets, one, tiny_overrides(2), progress=False)
    train_run(*datasets, two, tiny_overrides(2, seed=1), progress=False)
    a, b = final_weights(one), final_weights(two)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def signal_at_step(monkeypatch, step, signum, times=1):
    """Make the trainer send itself `signum` (`times` times) during step number `step`."""
    original = run_module.Trainer.train_step

    def train_step(self, *args):
        if self.step == step - 1:
            for _ in range(times):
                os.kill(os.getpid(), signum)
        return original(self, *args)

    monkeypatch.setattr(run_module.Trainer, "train_step", train_step)
    return original


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_finishes_the_step_and_saves(datasets, tmp_path, monkeypatch, signum):
    run_dir = tmp_path / "run"
    original = signal_at_step(monkeypatch, 2, signum)
    with pytest.raises(Interrupted, match="checkpoint of step 2"):
        train_run(*datasets, run_dir, tiny_overrides(5, lr_decay_start=5), progress=False)
    assert signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL)
    monkeypatch.setattr(run_module.Trainer, "train_step", original)
    assert (run_dir / "checkpoints" / "step_00000002.safetensors").is_file()
    train_run(*datasets, run_dir, tiny_overrides(5, lr_decay_start=5), resume=True,
              progress=False)
    straight = tmp_path / "straight"
    train_run(*datasets, straight, tiny_overrides(5, lr_decay_start=5), progress=False)
    expected, resumed = final_weights(straight), final_weights(run_dir)
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)


def test_a_second_signal_stops_inside_the_step_without_saving_it(datasets, tmp_path,
                                                                 monkeypatch):
    run_dir = tmp_path / "run"
    signal_at_step(monkeypatch, 3, signal.SIGINT, times=2)
    with pytest.raises(Interrupted, match="checkpoint of step 2"):
        train_run(*datasets, run_dir, tiny_overrides(5, checkpoint_every=2), progress=False)
    assert json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"] == 2


def test_refusals(datasets, tmp_path):
    run_dir = tmp_path / "run"
    train_run(*datasets, run_dir, tiny_overrides(1), progress=False)
    with pytest.raises(RecycleganError, match="exists and is not empty"):
        train_run(*datasets, run_dir, tiny_overrides(1), progress=False)
    saved_config = (run_dir / "config.yaml").read_text()
    with pytest.raises(RecycleganError, match="already at step 1"):
        train_run(*datasets, run_dir, tiny_overrides(1, log_every=5), resume=True,
                  progress=False)
    assert (run_dir / "config.yaml").read_text() == saved_config  # a refused resume changes nothing
    changed = tiny_overrides(3)
    changed["preset"] = "cycle"
    with pytest.raises(RecycleganError, match="differ from its config.yaml: preset"):
        train_run(*datasets, run_dir, changed, resume=True, progress=False)
    with pytest.raises(RecycleganError, match="not a training run"):
        train_run(*datasets, tmp_path / "elsewhere", tiny_overrides(1), resume=True,
                  progress=False)
    other = tmp_path / "not_a_run"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RecycleganError, match="not a recyclegan run"):
        train_run(*datasets, other, tiny_overrides(1), overwrite=True, progress=False)
    assert (other / "notes.txt").read_text() == "mine"
    # --overwrite replaces a previous run
    assert train_run(*datasets, run_dir, tiny_overrides(2), overwrite=True,
                     progress=False).step == 2


def test_a_checkpoint_of_another_configuration_is_refused(datasets, tmp_path):
    import shutil

    run_dir, other = tmp_path / "run", tmp_path / "other"
    train_run(*datasets, run_dir, tiny_overrides(1), progress=False)
    cycle = tiny_overrides(1)
    cycle["preset"] = "cycle"  # no predictors: different tensors and optimiser state
    train_run(*datasets, other, cycle, progress=False)
    shutil.rmtree(run_dir / "checkpoints")
    shutil.copytree(other / "checkpoints", run_dir / "checkpoints")
    with pytest.raises(RecycleganError, match="checkpoint does not match"):
        train_run(*datasets, run_dir, tiny_overrides(2), resume=True, progress=False)


def test_datasets_of_different_sizes(datasets, tmp_path):
    bigger = make_dataset(tmp_path, "b", size=64)
    with pytest.raises(RecycleganError, match="different frame sizes"):
        train_run(datasets[0], bigger, tmp_path / "run", tiny_overrides(1), progress=False)
    assert not (tmp_path / "run").exists()


def test_size_the_networks_cannot_take(tmp_path):
    odd_a = make_dataset(tmp_path, "a", size=30)
    odd_b = make_dataset(tmp_path, "b", size=30)
    with pytest.raises(RecycleganError, match="not a multiple of 4"):
        train_run(odd_a, odd_b, tmp_path / "run", tiny_overrides(1), progress=False)


def test_loader_workers_give_the_same_run(datasets, tmp_path):
    inline, workers = tmp_path / "inline", tmp_path / "workers"
    train_run(*datasets, inline, tiny_overrides(3), progress=False)
    overrides = tiny_overrides(3)
    overrides["data"] = {"num_workers": 2}
    train_run(*datasets, workers, overrides, progress=False)
    a, b = final_weights(inline), final_weights(workers)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_reading_ahead_in_a_thread_gives_the_same_run(datasets, tmp_path, monkeypatch):
    # The GPU's path (a data thread reading ahead), taken here on the CPU.
    inline, ahead = tmp_path / "inline", tmp_path / "ahead"
    train_run(*datasets, inline, tiny_overrides(4), progress=False)
    monkeypatch.setattr(run_module, "_reads_ahead", lambda device: True)
    train_run(*datasets, ahead, tiny_overrides(4), progress=False)
    a, b = final_weights(inline), final_weights(ahead)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not [t for t in threading.enumerate() if t.name == "recyclegan-data"]
