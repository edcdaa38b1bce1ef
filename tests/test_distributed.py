"""Data-parallel training under torchrun (2 CPU processes, gloo) trains like one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from recyclegan.training.checkpoint import load_weights
from recyclegan.training.run import train_run
from tiny import make_dataset, tiny_overrides


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "recyclegan", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300)


def ours(result: subprocess.CompletedProcess) -> str:
    """What the ranks themselves said, without torchrun's own report, and any C++ abort (a
    gloo error at exit shows only as 'terminate called ...' and its what())."""
    return "\n".join(line for line in result.stderr.splitlines()
                     if ("recyclegan" in line and "torch/distributed" not in line)
                     or "terminate called" in line or "what():" in line)


def logged_losses(run_dir: Path) -> dict[tuple[str, int], float]:
    values = {}
    for events in sorted((run_dir / "tensorboard").iterdir()):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            if tag.startswith("loss/"):
                values.update({(tag, e.step): e.value for e in accumulator.Scalars(tag)})
    return values


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    data_a, data_b = make_dataset(root, "a"), make_dataset(root, "b")
    (root / "tiny.yaml").write_text(yaml.safe_dump(tiny_overrides(4, batch_size=2)))
    return root, data_a, data_b


@pytest.fixture(scope="module")
def single(setup):
    """The losses of one process trained at the global batch of 2, for 4 steps."""
    root, data_a, data_b = setup
    result = train_run(data_a, data_b, root / "single", tiny_overrides(4, batch_size=2),
                       progress=False)
    assert result.step == 4
    return logged_losses(root / "single")


def assert_trained_like(expected: dict, got: dict) -> None:
    """Same losses as one process (averaged over ranks): equal at first, then within the
    float noise that different summation orders leave and Adam amplifies."""
    assert expected.keys() == got.keys()
    for (tag, step), value in expected.items():
        tolerance = 1e-5 if step <= 2 else 2e-3
        assert got[tag, step] == pytest.approx(value, rel=tolerance), (tag, step)


def test_two_processes_train_like_one_and_resume_exactly(setup, single):
    root, data_a, data_b = setup
    args = ["train", str(data_a), str(data_b), "--config", str(root / "tiny.yaml"), "-q"]
    # Two ranks, each with half of the global batch of 2.
    straight = torchrun(*args, "-o", str(root / "ddp"), cwd=root)
    assert straight.returncode == 0, ours(straight)
    assert straight.stdout.count("trained to step 4") == 1  # rank 0 reports alone
    assert_trained_like(single, logged_losses(root / "ddp"))
    # Stopped at step 2 and resumed to 4 under DDP: exactly the uninterrupted DDP run.
    first = torchrun(*args, "-o", str(root / "resumed"), "--steps", "2", cwd=root)
    assert first.returncode == 0, ours(first)
    second = torchrun(*args, "-o", str(root / "resumed"), "--resume", cwd=root)
    assert second.returncode == 0, ours(second)
    uninterrupted = load_weights(root / "ddp" / "checkpoints")[1]
    resumed = load_weights(root / "resumed" / "checkpoints")[1]
    assert all(torch.equal(resumed[name], value) for name, value in uninterrupted.items())
    saved = yaml.safe_load((root / "resumed" / "config.yaml").read_text())
    assert saved["train"]["batch_size"] == 2 and saved["train"]["steps"] == 4


def test_two_nodes_train_like_one_process(setup, single):
    """Multi-node as torchrun runs it: two launchers with --nnodes 2 and their own
    --node-rank, one process each, meeting at the first one's address (here both on this
    machine, so they share a file system as a cluster's nodes would)."""
    root, data_a, data_b = setup
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank",
         str(node), "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port",
         str(port), "-m", "recyclegan", "train", str(data_a), str(data_b), "--config",
         str(root / "tiny.yaml"), "-q", "-o", str(root / "nodes")],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for node in (0, 1)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    for node, (_, stderr) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, stderr[-2000:]
    # Global rank 0 (on node 0) reports and writes the run; node 1 only trains.
    assert "trained to step 4" in outputs[0][0] and "trained to step 4" not in outputs[1][0]
    assert_trained_like(single, logged_losses(root / "nodes"))
    assert load_weights(root / "nodes" / "checkpoints")[0] == 4


def test_uneven_batch_is_refused_on_every_rank(setup):
    root, data_a, data_b = setup
    result = torchrun("train", str(data_a), str(data_b), "--config", str(root / "tiny.yaml"),
                      "-q", "-o", str(root / "odd"), "--batch-size", "3", cwd=root)
    assert result.returncode != 0
    # A rank says it in one line (torchrun may stop the other one first); the traceback
    # torchrun prints after is torchrun's own.
    errors = [line for line in result.stderr.splitlines() if "recyclegan train: error" in line]
    assert errors and all("must split evenly over 2 processes" in line for line in errors)
    assert "RecycleganError" not in result.stderr and "recyclegan/training" not in result.stderr
    assert not (root / "odd").exists()


def test_retarget_under_torchrun_shares_the_inputs(setup, av_clip):
    root, data_a, data_b = setup
    train_run(data_a, data_b, root / "run", tiny_overrides(1), progress=False)
    inputs = [str(av_clip(root / f"clip{i}.mp4", frames=4, size=32, audio=False))
              for i in range(3)]
    args = ["retarget", *inputs, "-r", str(root / "run"), "-o", str(root / "out"), "-q"]
    result = torchrun(*args, cwd=root)
    assert result.returncode == 0, ours(result)
    written = sorted(line.split(":")[0] for line in result.stdout.splitlines())
    assert written == [str(root / "out" / f"clip{i}.mp4") for i in range(3)]
    again = torchrun(*args, cwd=root)  # every rank refuses: the outputs exist
    assert again.returncode != 0 and "--overwrite" in again.stderr
