"""Inference throughput: the generator alone, and `retarget` end to end (mp4 in, mp4 out).

    python benchmarks/retarget_throughput.py --device cuda --size 256 --frames 600
    python benchmarks/retarget_throughput.py --device cpu --size 64 --model-size small \
        --frames 200 --batch-sizes 1 8

Weights are random (speed does not depend on them). The end-to-end figure decodes a
generated H.264 video of `--frames` frames at `--size`, translates it with the default
(training-crop) path and encodes H.264 again, through the same code as `recyclegan retarget`.
fp32, eager: this is the baseline the fast path of issue 5 is measured against.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from recyclegan.config import MODEL_SIZES
from recyclegan.data.video_io import write_video
from recyclegan.inference.translate import Retargeter
from recyclegan.models import build_generator


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def generator_only(generator: torch.nn.Module, device: torch.device, size: int, batch: int,
                   steps: int) -> float:
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    with torch.inference_mode():
        for _ in range(3):
            generator(x)
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            generator(x)
        _sync(device)
    return batch * steps / (time.perf_counter() - start)


def end_to_end(retargeter: Retargeter, size: int, frames: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        src, dst = Path(folder) / "in.mp4", Path(folder) / "out.mp4"
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        write_video(src, (np.roll(base, i, axis=1) for i in range(frames)), fps=25)
        retargeter.retarget_file(src, dst)  # warm-up (cudnn autotuning, first allocations)
        start = time.perf_counter()
        report = retargeter.retarget_file(src, dst, overwrite=True)
        elapsed = time.perf_counter() - start
    assert report.frames == frames
    return frames / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model-size", default="paper", choices=list(MODEL_SIZES))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--frames", type=int, default=600)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    torch.manual_seed(0)
    generator = build_generator(MODEL_SIZES[args.model_size]).to(device).eval()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    print(f"# {name}; torch {torch.__version__}; {args.model_size} generator, "
          f"{args.size}x{args.size}, fp32 eager")
    print("| path | batch | frames/s |")
    print("| --- | --- | --- |")
    for batch in args.batch_sizes:
        rate = generator_only(generator, device, args.size, batch, args.steps)
        print(f"| generator only | {batch} | {rate:.1f} |", flush=True)
    for batch in args.batch_sizes:
        retargeter = Retargeter(generator, args.size, device, batch_size=batch)
        rate = end_to_end(retargeter, args.size, args.frames)
        print(f"| retarget, mp4 in and out, {args.frames} frames | {batch} | {rate:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
