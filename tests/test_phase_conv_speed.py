"""benchmarks/phase_conv_speed.py runs, and leaves the phase path switched on after it."""

from __future__ import annotations

import pytest

import recyclegan.models.layers as layers
from benchmark_scripts import load_script


@pytest.mark.parametrize("inference", [False, True])
def test_one_row_per_layer_and_batch_and_the_path_left_on(capsys, inference):
    speed = load_script("phase_conv_speed")
    before = layers.PHASE_MIN_CHANNELS
    speed.main(["--size", "16", "--batch-sizes", "1", "2", "--rounds", "1"]
               + (["--inference"] if inference else []))
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and " ms |" in line]
    assert len(rows) == 4 * 2
    assert layers.PHASE_MIN_CHANNELS == before


def test_bad_sizes_are_refused(capsys):
    speed = load_script("phase_conv_speed")
    with pytest.raises(SystemExit) as exit_info:
        speed.main(["--size", "30"])
    assert exit_info.value.code == 2
    assert "--size must be a multiple of 4" in capsys.readouterr().err
