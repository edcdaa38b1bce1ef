"""Inference throughput: the generator alone, and `retarget` end to end (mp4 in, mp4 out).

    python benchmarks/retarget_throughput.py --device cuda --size 256 --frames 600
    python benchmarks/retarget_throughput.py --device cpu --size 64 --model-size small \
        --frames 100 --batch-sizes 1 8 --steps 5
    python benchmarks/retarget_throughput.py --device cuda --variants fast-compiled \
        --batch-sizes 128 --frames 2000 --encoder-presets ultrafast --clip-from bikes.mp4

Variants, each timed on the same machine in one run:

    fp32           fp32, contiguous NCHW, eager (the baseline)
    fast           bf16 autocast, channels_last
    fast-compiled  bf16 autocast, channels_last, torch.compile (inductor)

Weights are random (speed does not depend on them). "generator only" feeds random frames
already on the device. "retarget" decodes a generated H.264 video of `--frames` frames at
`--size` (scrolling noise, or with `--clip-from VIDEO` that video's frames), translates it
with the default (training-crop) path and encodes H.264 again,
through the same code as `recyclegan retarget` (decoding and encoding in background
threads), after a warm-up on a clip of one full batch (compilation, cuDNN's algorithm
search). `--encoder auto` encodes with NVENC when translating on CUDA and FFmpeg can open
it, else libx264; the row names the encoder. On a CPU without bf16 units (AVX2 only, say)
the bf16 variants are slower than fp32: only their GPU figures mean anything. The measuring
lives in recyclegan.bench.inference; `recyclegan bench` runs it together with training.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from recyclegan.bench.common import Variant
from recyclegan.bench.inference import end_to_end, generator_only, make_retargeter, write_clip
from recyclegan.bench.report import (
    INFERENCE_COLUMNS,
    inference_cells,
    markdown_head,
    markdown_row,
)
from recyclegan.config import MODEL_SIZES
from recyclegan.data.video_io import ENCODER_PRESETS
from recyclegan.devices import tune_cpu_process
from recyclegan.errors import RecycleganError
from recyclegan.models import build_generator

VARIANTS = {
    "fp32": Variant("fp32"),
    "fast": Variant("bf16", channels_last=True),
    "fast-compiled": Variant("bf16", channels_last=True, compile=True),
}


def main() -> None:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model-size", default="paper", choices=list(MODEL_SIZES))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--batch-sizes", type=int, nargs="+",
                        default=[1, 8, 32, 128] if cuda else [1, 8])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--encoder", choices=["auto", "libx264"], default="auto",
                        help="auto: NVENC when translating on CUDA where it opens, else libx264")
    parser.add_argument("--encoder-presets", nargs="+", default=["medium"],
                        choices=ENCODER_PRESETS, help="libx264 speed presets to time")
    parser.add_argument("--no-end-to-end", action="store_true", help="time the generator only")
    parser.add_argument("--clip-from", type=Path, metavar="VIDEO",
                        help="make the end-to-end clip from this video's frames (centre "
                        "squares, played back and forth) instead of scrolling noise")
    args = parser.parse_args()
    if args.clip_from is not None and not args.clip_from.is_file():
        parser.error(f"--clip-from {args.clip_from}: no such file")
    device = torch.device(args.device)
    if device.type == "cpu":
        tune_cpu_process()
    torch.manual_seed(0)
    generator = build_generator(MODEL_SIZES[args.model_size]).eval()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    clip = f"frames of {args.clip_from.name}" if args.clip_from else "scrolling noise"
    print(f"# {name}; torch {torch.__version__}; {args.model_size} generator, "
          f"{args.size}x{args.size}; end-to-end clip: {clip}")
    print(markdown_head(INFERENCE_COLUMNS))
    hardware_encoder = None if args.encoder == "auto" else False
    with tempfile.TemporaryDirectory() as folder:
        src, warm_up = Path(folder) / "in.mp4", Path(folder) / "warm_up.mp4"
        if not args.no_end_to_end:
            try:
                write_clip(src, args.size, args.frames, args.clip_from)
                write_clip(warm_up, args.size, max(args.batch_sizes), args.clip_from)
            except RecycleganError as error:
                parser.error(str(error))
        for label in args.variants:
            for batch in args.batch_sizes:
                retargeter = make_retargeter(generator, args.size, device, VARIANTS[label],
                                             batch)
                row = generator_only(retargeter, args.steps, label)
                print(markdown_row(inference_cells(row)), flush=True)
                if args.no_end_to_end:
                    continue
                for preset in args.encoder_presets:
                    row = end_to_end(retargeter, warm_up, src, Path(folder) / "out.mp4",
                                     args.frames, label, hardware_encoder, preset)
                    print(markdown_row(inference_cells(row)), flush=True)


if __name__ == "__main__":
    main()
