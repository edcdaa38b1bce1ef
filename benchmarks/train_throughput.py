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
with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace

import torch
from torch.utils.flop_counter import FlopCounterMode

from recyclegan.config import MODEL_SIZES, PRESETS, TrainConfig
from recyclegan.models import build_networks
from recyclegan.training.trainer import Trainer

VARIANTS = {  # name: (precision, channels_last, compile)
    "fp32": ("fp32", False, False),
    "fp32-cl": ("fp32", True, False),
    "bf16": ("bf16", False, False),
    "bf16-cl": ("bf16", True, False),
    "bf16-compile": ("bf16", False, True),
    "bf16-cl-compile": ("bf16", True, True),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, size: int = 8192, repeats: int = 20) -> float:
    """Achieved bf16 matmul FLOP/s on this device: the ceiling the fractions refer to."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def make_trainer(args: argparse.Namespace, variant: str, batch_size: int) -> Trainer:
    precision, channels_last, compiled = VARIANTS[variant]
    model = MODEL_SIZES[args.model_size]
    model = replace(model, pred_depth=model.predictor_depth_for(args.size))
    weights = PRESETS[args.preset]
    torch.manual_seed(0)
    networks = build_networks(model, with_predictors=weights.uses_predictor)
    cfg = TrainConfig(steps=10**6, batch_size=batch_size, precision=precision,
                      channels_last=channels_last, compile=compiled)
    return Trainer(networks, weights, cfg, torch.device(args.device))


def count_flops(trainer: Trainer, batch_a: torch.Tensor, batch_b: torch.Tensor) -> int:
    """FLOPs of one training step (forward and backward of every network), as torch counts
    them (matmuls and convolutions; elementwise work is not counted)."""
    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step(batch_a, batch_b)
    return counter.get_total_flops()


def measure(args: argparse.Namespace, variant: str, batch_size: int) -> dict:
    device = torch.device(args.device)
    trainer = make_trainer(args, variant, batch_size)
    shape = (batch_size, 3, 3, args.size, args.size)
    batch_a = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
    batch_b = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    compile_start = time.perf_counter()
    for _ in range(args.warmup):
        trainer.train_step(batch_a, batch_b)
    _sync(device)
    warmup_s = time.perf_counter() - compile_start
    syncs = "n/a"
    if device.type == "cuda":
        torch.cuda.set_sync_debug_mode("error")
        try:
            trainer.train_step(batch_a, batch_b)
            syncs = "none"
        except RuntimeError as exc:
            syncs = f"yes ({str(exc).splitlines()[0][:60]})"
        finally:
            torch.cuda.set_sync_debug_mode("default")
    start = time.perf_counter()
    for _ in range(args.steps):
        logged = trainer.train_step(batch_a, batch_b)
    float(logged["loss/g_total"])  # waits for the last step
    _sync(device)
    elapsed = (time.perf_counter() - start) / args.steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    flops = None if VARIANTS[variant][2] else count_flops(trainer, batch_a, batch_b)
    return {"variant": variant, "batch": batch_size, "s_per_step": elapsed,
            "triplets_per_s": batch_size / elapsed, "peak_gib": peak, "flops": flops,
            "warmup_s": warmup_s, "syncs": syncs, "loss": float(logged["loss/g_total"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model-size", default="paper", choices=list(MODEL_SIZES))
    parser.add_argument("--preset", default="recycle", choices=list(PRESETS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--variants", nargs="+", default=["fp32"], choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    else:
        torch.backends.cudnn.benchmark = True
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    peak_rate = matmul_rate(device) if device.type == "cuda" else None
    rate_note = f"; bf16 matmul {peak_rate / 1e12:.0f} TFLOP/s measured" if peak_rate else ""
    print(f"# {name}; torch {torch.__version__}; {args.model_size} networks, {args.preset}, "
          f"{args.size}x{args.size}{rate_note}")
    print("| variant | batch | s/step | triplets/s | GFLOP/triplet | TFLOP/s | of matmul rate "
          "| peak GPU memory | host syncs | warm-up s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    flops_per_triplet: dict[int, float] = {}
    for variant in args.variants:
        for batch_size in args.batch_sizes:
            row = measure(args, variant, batch_size)
            if row["flops"] is not None:
                flops_per_triplet[batch_size] = row["flops"] / batch_size
            per_triplet = flops_per_triplet.get(batch_size)
            achieved = per_triplet * row["triplets_per_s"] if per_triplet else None
            cells = [
                variant, str(batch_size), f"{row['s_per_step']:.4f}",
                f"{row['triplets_per_s']:.1f}",
                f"{per_triplet / 1e9:.0f}" if per_triplet else "n/a",
                f"{achieved / 1e12:.1f}" if achieved else "n/a",
                f"{100 * achieved / peak_rate:.1f}%" if achieved and peak_rate else "n/a",
                f"{row['peak_gib']:.2f} GiB" if row["peak_gib"] is not None else "n/a",
                row["syncs"], f"{row['warmup_s']:.0f}",
            ]
            print("| " + " | ".join(cells) + " |", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
