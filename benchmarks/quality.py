"""The paper's central claim, measured: Recycle-GAN against CycleGAN on image -> labels.

    python benchmarks/quality.py --config cpu --out /tmp/quality      # about 30 min, 2 cores
    python benchmarks/quality.py --config gpu --out /tmp/quality      # 256 px, paper networks
    python benchmarks/quality.py --config gpu-short --out /tmp/quality  # the same, 300 steps
    python benchmarks/quality.py --config gpu-short --out /tmp/q --precision bf16 fp32 \
        --presets recycle+cycle --seeds 0 1 2                 # bf16 against fp32 (issue 5)

Generates a Viper-like synthetic benchmark (`recyclegan synth`), prepares its unpaired
training domains (A: RGB clips, B: label-colour clips of other scenes), trains the presets
`cycle`, `recycle` and `recycle+cycle` with the same data, steps and seeds, and evaluates
each run on the test split (mean pixel accuracy, class accuracy, mIoU, warping-error ratio).
Equal steps is one comparison; equal wall-clock time is the other: `cycle` is also trained
for the time the `recycle` run of the same seed took. Prints a markdown table (mean and
spread over the seeds) and writes every figure to OUT/quality.json.

With two `--precision` values every run is made in each, from the same data and seeds, and a
second table sets them side by side: the evaluation scores and the training losses (the
mean over the last quarter of the logged steps). A difference counts as within the spread
when it is at most twice the larger of the two precisions' spreads over the seeds (their
population standard deviations), which needs at least two seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

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
LOSSES = ("loss/g_total", "loss/d_a", "loss/d_b")
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


def _final_losses(run_dir: Path) -> dict[str, float]:
    """Each of LOSSES averaged over the last quarter of its logged steps (one step's value
    moves too much with the batch to compare runs by)."""
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    finals = {}
    for tag in LOSSES:
        values = [event.value for event in events.Scalars(tag)]
        finals[tag] = statistics.fmean(values[-max(1, len(values) // 4):])
    return finals


def _mean_and_spread(values: list[float]) -> tuple[float, float]:
    return (statistics.fmean(values) if values else float("nan"),
            statistics.pstdev(values) if len(values) > 1 else 0.0)


def _digits(key: str) -> int:
    if key in ("steps", "seconds"):
        return 0
    return 2 if key == "warping_ratio" else 1 if key in METRICS else 3


def _summary(rows: list[dict]) -> list[str]:
    lines = ["| precision | comparison | preset | steps | train s | " + " | ".join(METRICS)
             + " |", "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in METRICS)
             + " |"]
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["precision"], row["comparison"], row["preset"]), []).append(row)
    for (precision, comparison, preset), runs in groups.items():
        cells = []
        for key in ("steps", "seconds", *METRICS):
            mean, spread = _mean_and_spread([run[key] for run in runs if run[key] is not None])
            digits = _digits(key)
            cells.append(f"{mean:.{digits}f} ± {spread:.{digits}f}")
        lines.append(f"| {precision} | {comparison} | {preset} | " + " | ".join(cells) + " |")
    return lines


def compare_precisions(rows: list[dict], first: str, second: str) -> list[str]:
    """A markdown table of every score and final loss of the equal-steps runs in precision
    `first` against `second`: means, spreads, the difference and whether it is within the
    spread (see the module's docstring)."""
    lines = [f"| preset | measure | {first} | {second} | difference | within spread |",
             "| --- | --- | --- | --- | --- | --- |"]
    presets = dict.fromkeys(row["preset"] for row in rows if row["comparison"] == "equal steps")
    for preset in presets:
        seeds = sum(row["precision"] == first and row["preset"] == preset
                    and row["comparison"] == "equal steps" for row in rows)
        for key in (*METRICS, *LOSSES):
            stats = []
            for precision in (first, second):
                stats.append(_mean_and_spread([
                    row[key] for row in rows if row["precision"] == precision
                    and row["preset"] == preset and row["comparison"] == "equal steps"]))
            (mean_1, spread_1), (mean_2, spread_2) = stats
            difference, band = mean_1 - mean_2, 2 * max(spread_1, spread_2)
            verdict = ("needs 2+ seeds" if seeds < 2
                       else "yes" if abs(difference) <= band else "**no**")
            d = _digits(key)
            lines.append(f"| {preset} | {key} | {mean_1:.{d}f} ± {spread_1:.{d}f} | "
                         f"{mean_2:.{d}f} ± {spread_2:.{d}f} | {difference:+.{d}f} | {verdict} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=list(CONFIGS), default="cpu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS),
                        choices=list(PRESETS), help="equal time needs cycle and recycle")
    parser.add_argument("--precision", nargs="+", choices=["auto", "bf16", "fp32"],
                        default=["auto"], help="training precision (auto: bf16 on CUDA, fp32 "
                        "on CPU); two values train every run in both and compare them")
    args = parser.parse_args()
    if len(set(args.precision)) != len(args.precision) or len(args.precision) > 2:
        parser.error("--precision takes one value, or two different ones to compare")
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

    def run(precision: str, comparison: str, preset: str, steps: int, seed: int) -> float:
        run_dir = args.out / (f"run_{precision}_{preset}_{seed}" if comparison == "equal steps"
                              else f"run_{precision}_cycle_equal_time_{seed}")
        seconds = _train(data, run_dir, preset, steps, seed, cfg, precision)
        rows.append({"precision": precision, "comparison": comparison, "preset": preset,
                     "seed": seed, "steps": steps, "seconds": seconds,
                     **_score(run_dir, bench), **_final_losses(run_dir)})
        print(json.dumps(rows[-1]), flush=True)
        return seconds

    for seed in args.seeds:
        for precision in args.precision:
            seconds = {preset: run(precision, "equal steps", preset, cfg["steps"], seed)
                       for preset in args.presets}
            if {"cycle", "recycle"} <= seconds.keys():
                steps = max(1, round(cfg["steps"] * seconds["recycle"] / seconds["cycle"]))
                run(precision, "equal time (recycle's)", "cycle", steps, seed)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    header = (f"# {device}; config {args.config} {cfg}; precision {' and '.join(args.precision)}"
              f"; seeds {args.seeds}; {time.monotonic() - started:.0f} s")
    tables = [_summary(rows)]
    if len(args.precision) == 2:
        tables.append(compare_precisions(rows, *args.precision))
    print(header, *("\n".join(table) for table in tables), sep="\n\n")
    (args.out / "quality.json").write_text(json.dumps({"header": header, "rows": rows},
                                                      indent=2))


if __name__ == "__main__":
    main()
