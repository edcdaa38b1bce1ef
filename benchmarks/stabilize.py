"""Does test-time stabilisation lower flicker without costing accuracy? (issue 4, item 5)

    python benchmarks/quality.py --config cpu --out /tmp/quality      # trains the runs
    python benchmarks/stabilize.py --quality-out /tmp/quality

Re-scores every equal-steps run that benchmarks/quality.py trained on the same test split,
once without stabilisation and once per method and strength:

- `flow`: recyclegan.inference.stabilize (what `retarget --stabilize flow` does);
- `predictor`: blend each translation with the run's own temporal predictor of the output
  domain applied to the two previous stabilised outputs,
  out_t = (1 - s) * gen(x_t) + s * pred(out_t-2, out_t-1). Measured here only: it did not
  meet the bar (lower flicker without lower accuracy), so `retarget` does not offer it.

The flow stabiliser uses the same flow algorithm (DIS) as the warping error, so the warping
ratio is also measured along Farneback flow, an unrelated algorithm, as a cross-check.
Prints a markdown table of mean ± spread over the seeds and writes OUT/stabilize.json.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from recyclegan.inference.evaluate import evaluate, load_palette
from recyclegan.inference.load import load_output_predictor
from recyclegan.inference.stabilize import check_strength
from recyclegan.inference.translate import Retargeter

METRICS = ("pixel_accuracy", "class_accuracy", "mean_iou", "warping_ratio",
           "warping_ratio_farneback")
RUN_NAME = re.compile(r"run_(cycle|recycle|recycle\+cycle)_(\d+)$")


class PredictorStabilizer:
    """Blend each translation with the predictor's guess from the two previous outputs."""

    def __init__(self, predictor: nn.Module, strength: float, device: torch.device) -> None:
        check_strength(strength)
        self.predictor, self.strength, self.device = predictor, strength, device
        self._history: list[torch.Tensor] = []

    def reset(self) -> None:
        self._history = []

    @torch.inference_mode()
    def __call__(self, prepared: np.ndarray, translated: np.ndarray) -> np.ndarray:
        frame = (torch.from_numpy(translated).to(self.device).permute(2, 0, 1)[None]
                 .float().div_(127.5).sub_(1.0))
        if len(self._history) == 2:
            guess = self.predictor(*self._history)
            frame = frame.mul_(1.0 - self.strength).add_(guess, alpha=self.strength)
        self._history = [*self._history[-1:], frame]
        out = frame.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
        return out[0].permute(1, 2, 0).cpu().numpy()


def _retargeter(run_dir: Path, method: str, strength: float) -> Retargeter:
    if method != "predictor":
        return Retargeter.from_run(run_dir, device="auto", batch_size=16, stabilize=method,
                                   stabilize_strength=strength)
    retargeter = Retargeter.from_run(run_dir, device="auto", batch_size=16)
    predictor = load_output_predictor(run_dir, "a2b", retargeter.device)
    retargeter.stabilizer = PredictorStabilizer(predictor, strength, retargeter.device)
    return retargeter


def _settings(strengths: list[float]) -> list[tuple[str, float]]:
    return [("none", 0.0)] + [(method, s) for method in ("predictor", "flow")
                              for s in strengths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality-out", type=Path, required=True,
                        help="the --out folder of a finished benchmarks/quality.py run")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    args = parser.parse_args()
    bench = args.quality_out / "bench"
    palette = load_palette(bench / "palette.json")
    runs = sorted(p for p in args.quality_out.iterdir() if RUN_NAME.match(p.name))
    if not runs:
        raise SystemExit(f"{args.quality_out}: no run_<preset>_<seed> folders")
    rows = []
    started = time.monotonic()
    for run_dir in runs:
        preset, seed = RUN_NAME.match(run_dir.name).groups()
        for method, strength in _settings(args.strengths):
            if method == "predictor" and preset == "cycle":
                continue  # a cycle run has no predictor
            scores = {}
            for flow in ("dis", "farneback"):
                report = evaluate([bench / "test" / "rgb"], bench / "test" / "ids", palette,
                                  retargeter=_retargeter(run_dir, method, strength), flow=flow)
                if flow == "dis":
                    scores = {key: report["overall"][key] for key in METRICS[:4]}
                else:
                    scores["warping_ratio_farneback"] = report["overall"]["warping_ratio"]
            rows.append({"preset": preset, "seed": int(seed), "method": method,
                         "strength": strength, **scores})
            print(json.dumps(rows[-1]), flush=True)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["preset"], row["method"], row["strength"]), []).append(row)
    table = ["| preset | stabilisation | strength | " + " | ".join(METRICS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in METRICS) + " |"]
    for (preset, method, strength), members in groups.items():
        cells = []
        for key in METRICS:
            values = [m[key] for m in members]
            digits = 2 if key.startswith("warping") else 1
            spread = statistics.pstdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.fmean(values):.{digits}f} ± {spread:.{digits}f}")
        shown = "—" if method == "none" else f"{strength:g}"
        table.append(f"| {preset} | {method} | {shown} | " + " | ".join(cells) + " |")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    header = f"# {device}; runs of {args.quality_out}; {time.monotonic() - started:.0f} s"
    print(header, *table, sep="\n")
    (args.quality_out / "stabilize.json").write_text(
        json.dumps({"header": header, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
