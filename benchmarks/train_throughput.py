"""Training-step throughput of recyclegan's Trainer on random windows (data loading excluded).

    python benchmarks/train_throughput.py --device cuda --size 256 --model-size paper \
        --batch-sizes 1 4 16 --variants fp32 bf16 bf16-cl bf16-cl-compile
    python benchmarks/train_throughput.py --device cpu --size 128 --model-size paper \
        --batch-sizes 1 --steps 3 --warmup 1 --variants fp32 fp32-cl

Each variant is a precision (fp32, or bf16 autocast), a memory layout (contiguous NCHW or
channels_last) and eager or torch.compile'd networks, all measured in this one run on this
machine. Prints one markdown row per variant and batch size: seconds per step, triplets
(windows) per second summed over both domains' batch, model FLOPs per triplet (counted with
torch's FlopCounterMode on one step), the achieved FLOP rate, its fraction of a bf16 matmul
rate measured on the same card, and peak GPU memory. On CUDA it also checks that a step makes
no host synchronisation (torch.cuda.set_sync_debug_mode). Results go to BENCHMARKS.md by hand,
with the date, the machine and the command. The measuring lives in recyclegan.bench.training;
`recyclegan bench` runs it together with the inference measurements.
"""

from __future__ import annotations

import argparse
import platform

import torch

from recyclegan.bench.common import Variant
from recyclegan.bench.report import TRAINING_COLUMNS, markdown_head, markdown_row, training_cells
from recyclegan.bench.training import TrainingSetup, matmul_rate, training_grid
from recyclegan.config import MODEL_SIZES, PRESETS
from recyclegan.devices import tune_cpu_process

VARIANTS = ("fp32", "fp32-cl", "bf16", "bf16-cl", "bf16-compile", "bf16-cl-compile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model-size", default="paper", choices=list(MODEL_SIZES))
    parser.add_argument("--preset", default="recycle", choices=list(PRESETS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--variants", nargs="+", default=["fp32"], choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        tune_cpu_process()
    else:
        torch.backends.cudnn.benchmark = True
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    peak_rate = matmul_rate(device) if device.type == "cuda" else None
    rate_note = f"; bf16 matmul {peak_rate / 1e12:.0f} TFLOP/s measured" if peak_rate else ""
    print(f"# {name}; torch {torch.__version__}; {args.model_size} networks, {args.preset}, "
          f"{args.size}x{args.size}{rate_note}")
    print(markdown_head(TRAINING_COLUMNS))
    setup = TrainingSetup(device, args.size, args.model_size, args.preset)
    variants = [Variant.parse(name) for name in args.variants]
    for row in training_grid(setup, variants, args.batch_sizes, args.steps, args.warmup,
                             peak_rate):
        print(markdown_row(training_cells(row)), flush=True)


if __name__ == "__main__":
    main()
