"""How well did each run's temporal predictors learn motion? (issue 4: why Recycle vs Cycle)

    python benchmarks/quality.py --config cpu --out /tmp/quality     # trains the runs
    python benchmarks/predictor_quality.py --quality-out /tmp/quality

The recycle loss only carries temporal information if the predictor beats the trivial guess
"the next frame equals the current one". For every run with predictors, on the held-out test
clips of benchmarks/quality.py, this measures the mean absolute error (in uint8 levels) of
pred(x_t-1, x_t) against x_t+1, next to that of copying x_t, for pred_a on the RGB clips and
pred_b on the label-colour clips. A ratio below 1 means the predictor learned some motion.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import numpy as np
import torch

from recyclegan.data.video_io import VideoReader
from recyclegan.inference.load import load_output_predictor

RUN_NAME = re.compile(r"run_(recycle|recycle\+cycle)_(\d+)$")


def _clip_frames(path: Path) -> torch.Tensor:
    """(T, 3, H, W) float frames in [-1, 1]."""
    with VideoReader(path) as reader:
        frames = np.stack([frame.image for frame in reader])
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@torch.inference_mode()
def _errors(predictor: torch.nn.Module, clips: list[Path]) -> tuple[float, float]:
    """Mean absolute error of the predictor and of copying the current frame, in levels."""
    predicted, copied = [], []
    for clip in clips:
        frames = _clip_frames(clip)
        guess = predictor(frames[:-2], frames[1:-1])
        predicted.append((guess - frames[2:]).abs().mean().item() * 127.5)
        copied.append((frames[1:-1] - frames[2:]).abs().mean().item() * 127.5)
    return statistics.fmean(predicted), statistics.fmean(copied)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality-out", type=Path, required=True,
                        help="the --out folder of a finished benchmarks/quality.py run")
    args = parser.parse_args()
    test = args.quality_out / "bench" / "test"
    domains = {"pred_a (RGB)": ("b2a", sorted((test / "rgb").iterdir())),
               "pred_b (labels)": ("a2b", sorted((test / "labels").iterdir()))}
    rows = []
    for run_dir in sorted(p for p in args.quality_out.iterdir() if RUN_NAME.match(p.name)):
        preset, seed = RUN_NAME.match(run_dir.name).groups()
        for name, (direction, clips) in domains.items():
            predictor = load_output_predictor(run_dir, direction, "cpu")
            error, copy_error = _errors(predictor, clips)
            rows.append({"preset": preset, "seed": int(seed), "predictor": name,
                         "error": error, "copy_error": copy_error,
                         "ratio": error / copy_error})
            print(json.dumps(rows[-1]), flush=True)
    print("| preset | seed | predictor | predictor error | copy-last-frame error | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['preset']} | {row['seed']} | {row['predictor']} | {row['error']:.1f} | "
              f"{row['copy_error']:.1f} | {row['ratio']:.2f} |")


if __name__ == "__main__":
    main()
