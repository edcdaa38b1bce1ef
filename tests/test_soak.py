"""kill -9 at random moments, resume each time: the run ends exactly as an uninterrupted one."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from recyclegan.training.checkpoint import load_weights
from tiny import make_dataset, tiny_overrides

STEPS = 120


def train_command(data_a: Path, data_b: Path, config: Path, run_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "recyclegan", "train", str(data_a), str(data_b),
               "--config", str(config), "-o", str(run_dir), "-q"]
    resumable = (run_dir / "checkpoints" / "latest.json").is_file()
    # What a user does after a crash: resume if a checkpoint exists, else start again.
    return command + (["--resume"] if resumable else ["--overwrite"])


def test_kill_9_at_random_moments_then_resume(tmp_path):
    data_a, data_b = make_dataset(tmp_path, "a"), make_dataset(tmp_path, "b")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_overrides(STEPS, checkpoint_every=1)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same arithmetic in every process
    reference = tmp_path / "reference"
    subprocess.run(train_command(data_a, data_b, config, reference), env=env, check=True,
                   timeout=300, capture_output=True)

    killed, rng = tmp_path / "killed", random.Random(2026)
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(train_command(data_a, data_b, config, killed), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 5.0))  # start-up, training and checkpoint writes alike
        if process.poll() is None:
            process.kill()  # SIGKILL: no handler runs, no file is closed properly
            kills += 1
        process.wait(timeout=60)
    for _ in range(3):  # finish the run
        done = subprocess.run(train_command(data_a, data_b, config, killed), env=env,
                              timeout=300, capture_output=True, text=True)
        if done.returncode == 0 or "already at step" in done.stderr:
            break
    assert kills >= 3
    expected_step, expected = load_weights(reference / "checkpoints")
    step, weights = load_weights(killed / "checkpoints")
    assert step == expected_step == STEPS
    assert all(torch.equal(weights[name], value) for name, value in expected.items())
    # Temporary files that kills interrupted are gone once the run saved again.
    assert not [p.name for p in (killed / "checkpoints").iterdir() if p.name.startswith(".")]
