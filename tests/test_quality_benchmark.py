"""benchmarks/quality.py: training in two precisions side by side, and the verdict on them."""

import json
import subprocess
import sys

from benchmark_scripts import load_script, script_path

SCRIPT = script_path("quality")


def rows(precision, mean_iou, losses=(3.0, 0.5, 0.5), preset="recycle+cycle"):
    quality = load_script("quality")
    return [{"precision": precision, "comparison": "equal steps", "preset": preset, "seed": seed,
             "steps": 300, "seconds": 1.0, "pixel_accuracy": 70.0, "class_accuracy": 30.0,
             "mean_iou": value, "warping_ratio": 2.0, **dict(zip(quality.LOSSES, losses,
                                                                  strict=True))}
            for seed, value in enumerate(mean_iou)]


def verdicts(lines):
    return {line.split(" | ")[1]: line.split(" | ")[-1].rstrip(" |") for line in lines[2:]}


def test_a_difference_within_twice_the_spread_is_within_it():
    compare = load_script("quality").compare_precisions
    same = verdicts(compare(rows("bf16", [30.0, 34.0]) + rows("fp32", [31.0, 33.0]),
                            "bf16", "fp32"))
    assert same["mean_iou"] == "yes" and same["loss/g_total"] == "yes"
    # spreads 2.0 and 1.0: a band of 4.0, and the means differ by 5.0
    apart = verdicts(compare(rows("bf16", [30.0, 34.0]) + rows("fp32", [36.0, 38.0]),
                             "bf16", "fp32"))
    assert apart["mean_iou"] == "**no**" and apart["pixel_accuracy"] == "yes"
    one_seed = verdicts(compare(rows("bf16", [30.0]) + rows("fp32", [30.0]), "bf16", "fp32"))
    assert set(one_seed.values()) == {"needs 2+ seeds"}


def test_two_precisions_train_every_run_in_both(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--config", "smoke", "--out", str(tmp_path),
         "--precision", "fp32", "bf16", "--seeds", "0", "1", "--presets", "recycle+cycle"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "quality.json").read_text())["rows"]
    assert [(row["precision"], row["seed"]) for row in written] == [
        ("fp32", 0), ("bf16", 0), ("fp32", 1), ("bf16", 1)]
    assert all(row["loss/g_total"] > 0 for row in written)
    assert written[0]["mean_iou"] != written[1]["mean_iou"]  # bf16 really trained in bf16
    assert "| recycle+cycle | mean_iou |" in result.stdout
    refused = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path),
                              "--precision", "fp32", "fp32"], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "two different ones" in refused.stderr
