"""`recyclegan train` and `recyclegan demo`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recyclegan.cli.args import positive_float, positive_int
from recyclegan.config import MODEL_SIZES, PRESETS, merge_overrides, read_yaml
from recyclegan.errors import RecycleganError


def add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train a Recycle-GAN between two prepared datasets",
        description="Train generators gen_ab/gen_ba, temporal predictors and PatchGAN "
        "discriminators on windows of three frames. RUN gets config.yaml, checkpoints/, "
        "samples/ (PNG strips: input window, translated, predicted next, recycled) and "
        "tensorboard/. Settings come from --model-size and --preset, then --config, then "
        "the flags below.")
    p.add_argument("dataset_a", type=Path, metavar="DATASET_A",
                   help="prepared dataset of domain A (gen_ab translates A into B)")
    p.add_argument("dataset_b", type=Path, metavar="DATASET_B",
                   help="prepared dataset of domain B, unpaired with A")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="RUN",
                   help="run folder to create (or continue with --resume)")
    p.add_argument("--preset", choices=list(PRESETS),
                   help="loss weights: recycle (the paper, default), recycle+cycle (the "
                   "authors' ReCycle variant) or cycle (the CycleGAN baseline)")
    p.add_argument("--model-size", choices=list(MODEL_SIZES),
                   help="paper (default: the networks of the paper), small (practical on a "
                   "CPU) or tiny (tests)")
    p.add_argument("--config", type=Path, metavar="FILE.yaml",
                   help="YAML with sections model, losses, data, train (see README)")
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="total training steps (default 20000)")
    p.add_argument("--batch-size", type=positive_int, metavar="B",
                   help="windows of three frames per domain and step (default 1)")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate (default 2e-4)")
    p.add_argument("--device", metavar="auto|cpu|cuda",
                   help="default auto: cuda when PyTorch sees a GPU, else cpu")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default 0)")
    p.add_argument("--num-workers", type=int, metavar="N",
                   help="data loading processes (default 0: load in the training process)")
    p.add_argument("--sample-every", type=positive_int, metavar="N",
                   help="write a sample strip every N steps (default 500)")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                   help="save a checkpoint every N steps (default 1000)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"],
                   help="bf16 mixed precision or fp32 (default auto: bf16 on CUDA, fp32 on CPU)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory layout (default off: measured slower for training)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the networks: the first steps are slow, later ones "
                   "faster (default off)")
    p.add_argument("--on-nan", choices=["stop", "skip"],
                   help="a step whose loss or gradient is NaN or infinite is never applied; "
                   "then stop (default, naming the term) or skip it and go on (counted in "
                   "TensorBoard as train/skipped_steps)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in RUN exactly where its last checkpoint left off")
    p.add_argument("--overwrite", action="store_true", help="replace an existing RUN")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train)


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config overrides from --config and the explicitly given flags (flags win)."""
    if args.config and args.config.exists() and not args.config.is_file():
        # a pipe would keep the YAML reader waiting for a writer
        raise RecycleganError(f"--config {args.config}: not a regular file; pass a YAML file")
    overrides = read_yaml(args.config) if args.config else {}
    flags: dict[str, Any] = {}
    if args.model_size:
        flags["model_size"] = args.model_size
    if args.preset:
        flags["preset"] = args.preset
    train = {key: value for key, value in (
        ("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr),
        ("device", args.device), ("seed", args.seed), ("sample_every", args.sample_every),
        ("checkpoint_every", args.checkpoint_every), ("precision", args.precision),
        ("channels_last", args.channels_last), ("compile", args.compile),
        ("on_nan", args.on_nan)) if value is not None}
    if train:
        flags["train"] = train
    if args.num_workers is not None:
        flags["data"] = {"num_workers": args.num_workers}
    return merge_overrides(overrides, flags)


def run_train(args: argparse.Namespace) -> int:
    from recyclegan.training.run import train_run

    result = train_run(args.dataset_a, args.dataset_b, args.output, train_overrides(args),
                       resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    if result.is_main:
        print(f"{result.run_dir}: trained to step {result.step}; checkpoint {result.checkpoint}")
    return 0


def add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="see a translation in minutes: synthetic data, training, retargeting",
        description="Needs no data: writes two synthetic video domains (A: bright discs on "
        "blue; B: dark squares on a warm background, moving alike), prepares them, trains the "
        "small model for the time given (GPU if present), retargets a held-out clip of A "
        "and writes out.mp4, side_by_side.mp4 and strip.png.")
    p.add_argument("-o", "--output", type=Path, default=Path("demo_out"), metavar="DIR",
                   help="folder for everything the demo writes (default demo_out)")
    p.add_argument("--minutes", type=positive_float, default=6.0, metavar="M",
                   help="total time to aim for, most of it training (default 6)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from recyclegan.demo import run_demo

    result = run_demo(args.output, minutes=args.minutes, overwrite=args.overwrite,
                      progress=not args.quiet)
    print(f"demo: trained {result.steps} steps; run folder {result.run_dir}")
    print(f"demo: open {result.side_by_side}: left, a held-out clip of domain A (bright discs "
          "on a cool blue-green gradient); right, the same clip retargeted into domain B's "
          "look (dark shapes on a warm background), moving as the left does.")
    print(f"demo: also {result.out_video} (the translation alone) and {result.strip} (frames "
          f"0, 16, 32, ...: input above, translation below); training samples in "
          f"{result.run_dir / 'samples'}")
    return 0
