"""Where a training step's time goes: kernel time by kind, and the top kernels.

    python benchmarks/profile_training.py --device cuda --size 256 --batch-size 16 --variant bf16
    python benchmarks/profile_training.py --device cpu --size 32 --model-size tiny --variant fp32

Runs `--warmup` untimed steps of recyclegan's Trainer on random windows (as
benchmarks/train_throughput.py does), then profiles `--steps` steps with torch.profiler. Prints
the wall time per step, the device's busy time per step (kernels summed; on the CPU, operator
self time), its split by kind of kernel (cuDNN's NCHW/NHWC transposes, convolution and
matmul, normalisation, everything else), and the top kernels by self time. Busy time well
under wall time means the GPU waits on the host.
"""

from __future__ import annotations

import argparse
import re
import time

import torch
from torch.profiler import ProfilerActivity, profile

from recyclegan.bench.common import Variant, sync
from recyclegan.bench.training import TrainingSetup, make_trainer, random_batches
from recyclegan.config import MODEL_SIZES, PRESETS
from recyclegan.devices import tune_cpu_process

KINDS = (  # first match wins
    ("layout transposes (cuDNN)", re.compile(r"nchwToNhwc|nhwcToNchw", re.IGNORECASE)),
    ("convolution and matmul", re.compile(r"conv|gemm|xmma|cutlass|sm\d+_|wgrad|dgrad|mm",
                                          re.IGNORECASE)),
    ("normalisation", re.compile(r"norm|welford|reduce|red_", re.IGNORECASE)),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model-size", default="paper", choices=list(MODEL_SIZES))
    parser.add_argument("--preset", default="recycle", choices=list(PRESETS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--variant", default="bf16", help="as in train_throughput.py")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    else:
        tune_cpu_process()
    setup = TrainingSetup(device, args.size, args.model_size, args.preset)
    trainer = make_trainer(setup, Variant.parse(args.variant), args.batch_size)
    batch_a, batch_b = random_batches(setup, args.batch_size)
    for _ in range(args.warmup):
        trainer.train_step(batch_a, batch_b)
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(batch_a, batch_b)
        sync(device)
        wall = (time.perf_counter() - start) / args.steps
    times = _self_times(prof, device)
    busy = sum(times.values()) / args.steps
    print(f"# {args.variant}, batch {args.batch_size}, {args.model_size} networks, "
          f"{args.size}x{args.size}, {args.preset}: {wall * 1e3:.1f} ms wall per step, "
          f"{busy * 1e3:.1f} ms {'kernel' if device.type == 'cuda' else 'operator'} time "
          f"per step ({busy / wall:.0%})")
    print("\n| kind | ms per step | share |\n| --- | --- | --- |")
    by_kind: dict[str, float] = {}
    for name, seconds in times.items():
        kind = next((label for label, pattern in KINDS if pattern.search(name)), "other")
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
    total = sum(times.values())
    for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"| {kind} | {seconds / args.steps * 1e3:.2f} | {seconds / total:.0%} |")
    print("\n| kernel | ms per step |\n| --- | --- |")
    for name, seconds in sorted(times.items(), key=lambda item: -item[1])[:args.top]:
        print(f"| {name[:90]} | {seconds / args.steps * 1e3:.2f} |")


def _self_times(prof: profile, device: torch.device) -> dict[str, float]:
    """Seconds of self time by kernel name (CUDA kernels on a GPU, operators on the CPU)."""
    times: dict[str, float] = {}
    for event in prof.events():
        if device.type == "cuda":
            if event.device_type != torch.autograd.DeviceType.CUDA:
                continue
            micros = event.self_device_time_total
        else:
            micros = event.self_cpu_time_total
        times[event.name] = times.get(event.name, 0.0) + micros / 1e6
    return times


if __name__ == "__main__":
    main()
