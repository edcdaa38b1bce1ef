"""benchmarks/versus_authors.py loads a Recycle-GAN checkout with its one patch applied."""

import subprocess
import sys
from pathlib import Path

from benchmark_scripts import load_script, script_path

SCRIPT = script_path("versus_authors")


def fake_checkout(root: Path) -> Path:
    """Stand-ins for the authors' two files, using what the loader must provide."""
    (root / "models").mkdir(parents=True)
    (root / "models" / "networks.py").write_text(
        "import torch\nLOSS = torch.ones(()) * 2\nVALUE = LOSS.data[0]\n")
    (root / "models" / "recycle_gan_model.py").write_text(
        "import util.util as util\nfrom util.image_pool import ImagePool\n"
        "from .base_model import BaseModel\nfrom . import networks\n"
        "class RecycleGANModel(BaseModel):\n    pool = ImagePool(0)\n"
        "    value = networks.VALUE\n")
    return root


def test_loads_the_two_files_patched_with_helpers_stood_in(tmp_path):
    versus = load_script("versus_authors")
    saved = {name: sys.modules.get(name) for name in ("models", "util")}
    try:
        module = versus._load_authors(fake_checkout(tmp_path / "Recycle-GAN"))
        # `.data[0]` on a 0-dim tensor raises on current PyTorch; the patch made it .item()
        assert module.RecycleGANModel.value == 2.0
        assert issubclass(module.RecycleGANModel, versus._BaseModel)
        assert module.RecycleGANModel.pool.query("frames") == "frames"
    finally:
        for name in [name for name in sys.modules if name.startswith(("models.", "util."))]:
            del sys.modules[name]
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value


def test_a_folder_without_their_files_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--authors", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"versus_authors.py: {tmp_path} lacks models/networks.py, models/recycle_gan_model.py;"
        " pass a checkout of github.com/aayushbansal/Recycle-GAN as --authors"]


def test_steps_interleave_with_the_order_reversed_every_other_cycle(monkeypatch):
    versus = load_script("versus_authors")
    calls = []

    class FakeWorker:
        def __init__(self, part):
            self.key = f"{part} key"
            self.part = part

        def step(self):
            calls.append(self.part)
            return float(len(calls))

        def close(self):
            calls.append(f"close {self.part}")
            return 0

    monkeypatch.setattr(versus, "_Worker", FakeWorker)
    seconds = versus._interleaved(["theirs", "ours"], warmup=1, steps=3)
    assert calls == ["theirs", "ours",                          # warm-up, not timed
                     "theirs", "ours", "ours", "theirs", "theirs", "ours",
                     "close theirs", "close ours"]
    assert seconds == {"theirs key": [3.0, 6.0, 7.0], "ours key": [4.0, 5.0, 8.0]}


def test_speed_up_is_the_ratio_within_each_cycle():
    versus = load_script("versus_authors")
    # a machine that slows down 2x in the second round: per cycle the ratio stays 2
    theirs = [[2.0, 2.2, 2.0], [4.0, 4.4, 6.0]]
    ours = [[1.0, 1.1, 1.0], [2.0, 2.2, 2.0]]
    assert versus.speed_up(theirs, ours) == (
        "2.00x as fast (median of 6 cycles; quartiles 2.00-2.25; per round: 2.00, 2.00)")


def test_a_training_part_that_fails_ends_the_run_with_one_line(tmp_path):
    """The stand-in checkout loads but has no training step, so the first worker dies."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--authors",
                             str(fake_checkout(tmp_path / "Recycle-GAN")), "--rounds", "1",
                             "--steps", "1", "--warmup", "0"], capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "versus_authors.py: the authors part failed (exit 1)")
