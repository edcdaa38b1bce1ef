"""The paper's central claim, measured: Recycle-GAN against CycleGAN on image -> labels.

    python benchmarks/quality.py --config cpu --out /tmp/quality      # about 30 min, 2 cores
    python benchmarks/quality.py --config gpu --out /tmp/quality      # 256 px, paper networks
    python benchmarks/quality.py --config gpu-short --out /tmp/quality  # the same, 300 steps

Generates a Viper-like synthetic benchmark (`recyclegan synth`), prepares its unpaired
training domains (A: RGB clips, B: label-colour clips of other scenes), trains the presets
`cycle`, `recycle` and `recycle+cycle` with the same data, steps and seeds, and evaluates
each run on the test split (mean pixel accuracy, class accuracy, mIoU, warping-error ratio).
Equal steps is one comparison; equal wall-clock time is the other: `cycle` is also trained
for the time the `recycle` run of the same seed took. Prints a markdown table (mean and
spread over the seeds) and writes every figure to OUT/quality.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.inference.evaluate import evaluate, load_palette
from recyclegan.inference.translate import Retargeter
from recyclegan.synth import synthesize
from recyclegan.training.run import train_run

CONFIGS = {
    # clips per split/domain, frames per clip, size, model size, steps, batch size
    "cpu": {"clips": 6, "frames": 40, "size": 64, "model_size": "small", "steps": 300,
            "batch_size": 1},
    "gpu": {"clips": 16, "frames": 60, "size": 256, "model_size": "paper", "steps": 2000,
            "batch_size": 4},
    # What fits a few minutes of a lent GPU: the paper's networks at 256 px, briefly trained.
    "gpu-short": {"clips": 6, "frames": 40, "size": 256, "model_size": "paper", "steps": 300,
                  "batch_size": 4},
    "smoke": {"clips": 2, "frames": 8, "size": 32, "model_size": "tiny", "steps": 3,
              "batch_size": 1},
}
METRICS = ("pixel_accuracy", "class_accuracy", "mean_iou", "warping_ratio")
PRESETS = ("cycle", "recycle", "recycle+cycle")


def _train(data: dict[str, Path], run_dir: Path, preset: str, steps: int, seed: int,
           cfg: dict, precision: str) -> float:
    overrides = {"model_size": cfg["model_size"], "preset": preset,
                 "train": {"steps": steps, "seed": seed, "batch_size": cfg["batch_size"],
                           "sample_every": max(1, steps // 4), "checkpoint_every": steps,
                           "precision": precision}}
    return train_run(data["a"], data["b"], run_dir, overrides, overwrite=True,
                     progress=False).seconds


def _score(run_dir: Path, bench: Path) -> dict[str, float]:
    retargeter = Retargeter.from_run(run_dir, device="auto", batch_size=16)
    report = evaluate([bench / "test" / "rgb"], bench / "test" / "ids",
                      load_palette(bench / "palette.json"), retargeter=retargeter)
    return {key: report["overall"][key] for key in METRICS}


def _summary(rows: list[dict]) -> list[str]:
    lines = ["| comparison | preset | steps | train s | " + " | ".join(METRICS) + " |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in METRICS) + " |"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["comparison"], row["preset"]), []).append(row)
    for (comparison, preset), runs in groups.items():
        cells = []
        for key in ("steps", "seconds", *METRICS):
            values = [run[key] for run in runs if run[key] is not None]
            mean = statistics.fmean(values) if values else float("nan")
            spread = statistics.pstdev(values) if len(values) > 1 else 0.0
            digits = 0 if key in ("steps", "seconds") else 2 if key == "warping_ratio" else 1
            cells.append(f"{mean:.{digits}f} ± {spread:.{digits}f}")
        lines.append(f"| {comparison} | {preset} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=list(CONFIGS), default="cpu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS),
                        choices=list(PRESETS), help="equal time needs cycle and recycle")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                        help="training precision (auto: bf16 on CUDA, fp32 on CPU)")
    args = parser.parse_args()
    cfg = CONFIGS[args.config]
    args.out.mkdir(parents=True, exist_ok=True)
    bench = args.out / "bench"
    synthesize(bench, clips=cfg["clips"], frames=cfg["frames"], size=cfg["size"], seed=2018,
               overwrite=True, progress=False)
    data = {}
    for domain in ("a", "b"):
        data[domain] = args.out / f"data_{domain}"
        prepare_dataset([bench / "train" / domain], data[domain],
                        PrepareOptions(size=cfg["size"]), overwrite=True, progress=False)
    rows = []
    started = time.monotonic()
    for seed in args.seeds:
        seconds = {}
        for preset in args.presets:
            run_dir = args.out / f"run_{preset}_{seed}"
            seconds[preset] = _train(data, run_dir, preset, cfg["steps"], seed, cfg,
                                     args.precision)
            rows.append({"comparison": "equal steps", "preset": preset, "seed": seed,
                         "steps": cfg["steps"], "seconds": seconds[preset],
                         **_score(run_dir, bench)})
            print(json.dumps(rows[-1]), flush=True)
        if not {"cycle", "recycle"} <= seconds.keys():
            continue
        steps = max(1, round(cfg["steps"] * seconds["recycle"] / seconds["cycle"]))
        run_dir = args.out / f"run_cycle_equal_time_{seed}"
        spent = _train(data, run_dir, "cycle", steps, seed, cfg, args.precision)
        rows.append({"comparison": "equal time (recycle's)", "preset": "cycle", "seed": seed,
                     "steps": steps, "seconds": spent, **_score(run_dir, bench)})
        print(json.dumps(rows[-1]), flush=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    header = (f"# {device}; config {args.config} {cfg}; precision {args.precision}; "
              f"seeds {args.seeds}; "
              f"{time.monotonic() - started:.0f} s")
    table = _summary(rows)
    print(header, *table, sep="\n")
    (args.out / "quality.json").write_text(json.dumps({"header": header, "rows": rows},
                                                      indent=2))


if __name__ == "__main__":
    main()
