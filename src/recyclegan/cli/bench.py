"""`recyclegan bench`: training and inference throughput on this machine."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recyclegan.cli.args import non_negative_int, positive_int
from recyclegan.config import MODEL_SIZES, PRESETS
from recyclegan.data.video_io.writer import ENCODER_PRESETS
from recyclegan.errors import RecycleganError

if TYPE_CHECKING:
    from recyclegan.bench.suite import BenchConfig


def _variant(text: str) -> str:
    from recyclegan.bench.common import Variant

    if text != "fast":
        try:
            Variant.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_bench(sub: Any) -> None:
    p = sub.add_parser(
        "bench", help="measure training and retargeting speed on this machine",
        description="Times training steps (random windows already on the device: triplets/s, "
        "counted FLOPs, their fraction of the card's measured bf16 matmul rate, peak GPU "
        "memory, host syncs), then the generator alone and `retarget` end to end on a "
        "generated H.264 clip (frames/s). Defaults: on CUDA the paper networks at 256x256 "
        "(training batch 1 and 16; generator batch 1 and 128; end to end batch 32, 300 "
        "frames; variants fp32 and fast); on the CPU small networks at 64x64 for about a "
        "minute. Prints markdown when stdout is not a terminal (for benchmarks/BENCHMARKS.md).")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda",
                   help="default auto: cuda when PyTorch sees a GPU, else cpu")
    p.add_argument("--size", type=positive_int, metavar="PX", help="frame side in pixels")
    p.add_argument("--model-size", choices=list(MODEL_SIZES),
                   help="networks: paper, small or tiny")
    p.add_argument("--preset", choices=list(PRESETS), help="loss weights (default recycle)")
    p.add_argument("--batch-sizes", type=positive_int, nargs="+", metavar="B",
                   help="training batch sizes")
    p.add_argument("--generator-batch-sizes", type=positive_int, nargs="+", metavar="B",
                   help="batch sizes of the generator alone")
    p.add_argument("--retarget-batch-sizes", type=positive_int, nargs="+", metavar="B",
                   help="batch sizes of `retarget` end to end")
    p.add_argument("--variants", type=_variant, nargs="+", metavar="V",
                   help="fp32 or bf16, optionally followed by -cl (channels_last) and -compile "
                   "(torch.compile), e.g. bf16-cl; or fast: what train and retarget run by "
                   "default on the device (default: fp32 and fast on CUDA, fp32 on the CPU)")
    p.add_argument("--compile", action="store_true",
                   help="add a torch.compile'd copy of each variant (slow to warm up)")
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="timed training steps and generator batches (default 20; CPU 10)")
    p.add_argument("--warmup", type=non_negative_int, metavar="N",
                   help="untimed training steps first (default 5; CPU 2)")
    p.add_argument("--frames", type=positive_int, metavar="N",
                   help="frames of the end-to-end clip (default 300; CPU 60)")
    p.add_argument("--encoder-preset", choices=ENCODER_PRESETS, metavar="PRESET",
                   help="H.264 speed preset of the end-to-end path (default medium, as "
                   "retarget's; see retarget --help)")
    p.add_argument("--skip-training", action="store_true", help="measure inference only")
    p.add_argument("--skip-inference", action="store_true", help="measure training only")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every result as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="no status line on stderr")
    p.set_defaults(handler=run_bench)


def bench_config(args: argparse.Namespace) -> BenchConfig:
    """The device's defaults with the flags given on top."""
    from recyclegan.bench.suite import default_config

    if args.skip_training and args.skip_inference:
        raise RecycleganError("--skip-training and --skip-inference leave nothing to measure")
    flags = {key: value for key, value in (
        ("size", args.size), ("model_size", args.model_size), ("preset", args.preset),
        ("steps", args.steps), ("warmup", args.warmup), ("frames", args.frames),
        ("train_batch_sizes", args.batch_sizes),
        ("generator_batch_sizes", args.generator_batch_sizes),
        ("retarget_batch_sizes", args.retarget_batch_sizes), ("variants", args.variants),
        ("encoder_preset", args.encoder_preset))
        if value is not None}
    flags = {key: tuple(value) if isinstance(value, list) else value
             for key, value in flags.items()}
    return replace(default_config(args.device), **flags, compile=args.compile,
                   training=not args.skip_training, inference=not args.skip_inference)


def run_bench(args: argparse.Namespace) -> int:
    from rich.console import Console

    from recyclegan.bench.report import print_report, spinner
    from recyclegan.bench.suite import run_bench
    from recyclegan.fileio import atomic_write_text, temporary_beside

    if args.json is not None:
        if args.json.is_dir():
            raise RecycleganError(f"--json {args.json} is a folder; name a file")
        if args.json.exists() and not args.overwrite:
            raise RecycleganError(f"{args.json} exists; pass --overwrite to replace it")
        if not args.json.parent.is_dir():
            raise RecycleganError(f"{args.json.parent} is not a folder; create it first")
        try:  # a read-only folder is refused now, not after the benchmark
            temporary_beside(args.json).unlink()
        except OSError as error:
            raise _json_failed(args.json, error) from None
    config = bench_config(args)
    with spinner(not args.quiet) as status:
        report = run_bench(config, status)
    print_report(report, Console())
    if args.json is not None:
        try:
            atomic_write_text(args.json, json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as error:
            raise _json_failed(args.json, error) from None
    return 0


def _json_failed(path: Path, error: OSError) -> OSError:
    """The error, naming FILE rather than its temporary; the CLI prints it with what to do."""
    if error.errno is None:
        return error
    return OSError(error.errno, error.strerror, str(path))
