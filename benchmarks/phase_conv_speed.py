"""The generators' stride-2 3x3 layers with and without the CPU's phase path.

    python benchmarks/phase_conv_speed.py --size 128 --batch-sizes 1 3
    python benchmarks/phase_conv_speed.py --size 256 --batch-sizes 8 --inference

Times the paper generator's four stride-2 layers (64 -> 128 and 128 -> 256 down, 256 -> 128
and 128 -> 64 up) at the shapes a `--size` frame gives them: forward and backward with the
input needing a gradient (training), or with `--inference` the forward pass under
inference_mode (retargeting, where only the transposed layers differ). The phase path is
switched on and off by PHASE_MIN_CHANNELS in alternate rounds of one process; each cell is
the median of the rounds. Layers whose low-resolution side is under PHASE_MIN_PIXELS read
the same both ways, as they take oneDNN's path either way.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import recyclegan.models.layers as layers
from recyclegan.devices import tune_cpu_process
from recyclegan.models.layers import PhaseConv2d, PhaseConvTranspose2d

ON = layers.PHASE_MIN_CHANNELS


def generator_layers(size: int) -> list[tuple[str, torch.nn.Module, int, int]]:
    """(name, layer, input channels, input side) of the paper generator at `size`."""
    return [
        ("conv 64 -> 128", PhaseConv2d(64, 128, 3, stride=2, padding=1), 64, size),
        ("conv 128 -> 256", PhaseConv2d(128, 256, 3, stride=2, padding=1), 128, size // 2),
        ("transposed 256 -> 128", PhaseConvTranspose2d(256, 128, 3, stride=2, padding=1,
                                                       output_padding=1), 256, size // 4),
        ("transposed 128 -> 64", PhaseConvTranspose2d(128, 64, 3, stride=2, padding=1,
                                                      output_padding=1), 128, size // 2),
    ]


def time_layer(layer: torch.nn.Module, x: torch.Tensor, inference: bool, rounds: int
               ) -> tuple[float, float]:
    """Median seconds (oneDNN, phases) of one call, alternating the two."""
    if inference:
        def call() -> None:
            with torch.inference_mode():
                layer(x)
    else:
        x.requires_grad_(True)
        grad = torch.randn_like(layer(x))

        def call() -> None:
            layer(x).backward(grad)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    try:
        for index in range(2 * rounds):
            phases = index % 2 == 0
            layers.PHASE_MIN_CHANNELS = ON if phases else 10**9
            call()  # warm-up of this path's buffers
            start = time.perf_counter()
            call()
            seconds[phases].append(time.perf_counter() - start)
    finally:
        layers.PHASE_MIN_CHANNELS = ON
    return statistics.median(seconds[False]), statistics.median(seconds[True])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="frame side in pixels")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--rounds", type=int, default=8, help="timed calls per path")
    parser.add_argument("--inference", action="store_true",
                        help="forward passes under inference_mode instead of training")
    args = parser.parse_args(argv)
    if args.size < 16 or args.size % 4:
        parser.error("--size must be a multiple of 4, at least 16")
    if min(args.batch_sizes) < 1 or args.rounds < 1:
        parser.error("--batch-sizes and --rounds must be at least 1")
    tune_cpu_process()
    torch.manual_seed(0)
    what = "forward, inference_mode" if args.inference else "forward and backward"
    print(f"# paper generator's stride-2 layers at {args.size} px, {what}; "
          f"{torch.get_num_threads()} threads, median of {args.rounds} rounds")
    print("| layer | batch | oneDNN | phases | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for name, layer, channels, side in generator_layers(args.size):
        for batch in args.batch_sizes:
            x = torch.randn(batch, channels, side, side)
            direct, phases = time_layer(layer, x, args.inference, args.rounds)
            print(f"| {name} | {batch} | {direct * 1e3:.1f} ms | {phases * 1e3:.1f} ms | "
                  f"{phases / direct:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
