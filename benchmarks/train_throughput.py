"""Training-step throughput of recyclegan's Trainer on random windows (data loading excluded).

    python benchmarks/train_throughput.py --device cuda --size 256 --model-size paper \
        --batch-sizes 1 4
    python benchmarks/train_throughput.py --device cpu --size 128 --model-size paper \
        --batch-sizes 1 --steps 3 --warmup 1

Prints one markdown row per batch size: seconds per step, triplets (windows) per second
summed over both domains' batch, and peak GPU memory. Results go to BENCHMARKS.md by hand,
with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace

import torch

from recyclegan.config import MODEL_SIZES, PRESETS, TrainConfig
from recyclegan.models import build_networks
from recyclegan.training.trainer import Trainer


def measure(args: argparse.Namespace, batch_size: int) -> dict:
    device = torch.device(args.device)
    model = MODEL_SIZES[args.model_size]
    model = replace(model, pred_depth=model.predictor_depth_for(args.size))
    weights = PRESETS[args.preset]
    torch.manual_seed(0)
    networks = build_networks(model, with_predictors=weights.uses_predictor)
    trainer = Trainer(networks, weights, TrainConfig(steps=10**6, batch_size=batch_size),
                      device)
    shape = (batch_size, 3, 3, args.size, args.size)
    batch_a = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
    batch_b = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        trainer.train_step(batch_a, batch_b)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        logged = trainer.train_step(batch_a, batch_b)
    float(logged["loss/g_total"])  # waits for the last step
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = (time.perf_counter() - start) / args.steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"batch": batch_size, "s_per_step": elapsed, "triplets_per_s": batch_size / elapsed,
            "peak_gib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model-size", default="paper", choices=list(MODEL_SIZES))
    parser.add_argument("--preset", default="recycle", choices=list(PRESETS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_flush_denormal(True)
    name = (torch.cuda.get_device_name(args.device) if args.device.startswith("cuda")
            else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"# {name}; torch {torch.__version__}; {args.model_size} networks, {args.preset}, "
          f"{args.size}x{args.size}, fp32 eager")
    print("| batch | s/step | triplets/s | peak GPU memory |")
    print("| --- | --- | --- | --- |")
    for batch_size in args.batch_sizes:
        row = measure(args, batch_size)
        peak = f"{row['peak_gib']:.2f} GiB" if row["peak_gib"] is not None else "n/a"
        print(f"| {row['batch']} | {row['s_per_step']:.3f} | {row['triplets_per_s']:.1f} | "
              f"{peak} |", flush=True)


if __name__ == "__main__":
    main()
