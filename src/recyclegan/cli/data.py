"""`recyclegan prepare` and `recyclegan synth`: datasets and benchmarks on disk."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recyclegan.cli.args import non_negative_float, positive_float, positive_int
from recyclegan.errors import RecycleganError


def add_prepare(sub: Any) -> None:
    p = sub.add_parser(
        "prepare", help="turn videos or image folders into a training dataset",
        description="Decode videos (anything PyAV reads) or folders of images, resize each "
        "frame on its short side and center-crop it to a square (aspect ratio kept), split "
        "clips at hard scene cuts, and store every clip as a uint8 .npy array with a "
        "manifest.json. SRC may also be a folder holding videos or image folders.")
    p.add_argument("sources", nargs="+", metavar="SRC", help="video file or folder")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DATASET",
                   help="folder to create")
    p.add_argument("--size", type=positive_int, default=256,
                   help="side of the square frames in pixels (default 256)")
    p.add_argument("--fps", type=positive_float, metavar="F",
                   help="resample time to F frames per second (default: keep every frame)")
    p.add_argument("--max-frames", type=positive_int, metavar="N",
                   help="keep at most N frames from each source")
    p.add_argument("--stride", type=positive_int, default=1, metavar="K",
                   help="training windows take frames t, t+K, t+2K (default 1)")
    p.add_argument("--scene-threshold", type=non_negative_float, default=0.3, metavar="T",
                   help="colour-histogram change that counts as a hard cut; 0 disables "
                   "splitting (default 0.3)")
    p.add_argument("--image-fps", type=positive_float, default=25.0, metavar="F",
                   help="frame rate assumed for folders of images (default 25)")
    p.add_argument("--face", action="store_true",
                   help="crop around the main subject's face (found with OpenCV's face "
                   "detector, tracked and steadied) instead of the centre; stretches without a "
                   "face are dropped")
    p.add_argument("--margin", type=non_negative_float, metavar="M",
                   help="with --face: crop side = face box side x (1 + M) (default 0.6)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DATASET")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    from recyclegan.data.prepare import PrepareOptions, prepare_dataset

    if args.margin is not None and not args.face:
        raise RecycleganError("--margin goes with --face")
    options = PrepareOptions(size=args.size, fps=args.fps, max_frames=args.max_frames,
                             stride=args.stride, scene_threshold=args.scene_threshold,
                             image_fps=args.image_fps, face=args.face,
                             **({} if args.margin is None else {"face_margin": args.margin}))
    manifest = prepare_dataset(args.sources, args.output, options, overwrite=args.overwrite,
                               progress=not args.quiet)
    print(f"{args.output}: {manifest['num_clips']} clips, {manifest['num_frames']} frames of "
          f"{manifest['size']}x{manifest['size']} from {len(manifest['sources'])} sources")
    return 0


def add_synth(sub: Any) -> None:
    p = sub.add_parser(
        "synth", help="generate a Viper-like synthetic benchmark with ground truth",
        description="Procedural driving scenes: textured backgrounds, moving and occluding "
        "objects of several classes, camera motion, lighting that changes between clips. "
        "Writes RGB videos (domain A), label-colour frames (domain B, from other clips, so "
        "training is unpaired), per-pixel class ids for validation and test, and "
        "palette.json. Train, validation and test come from different seeds.")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    p.add_argument("--clips", type=positive_int, default=8, metavar="N",
                   help="clips per training domain and per validation/test split (default 8)")
    p.add_argument("--frames", type=positive_int, default=60, metavar="F",
                   help="frames per clip (default 60)")
    p.add_argument("--size", type=positive_int, default=128, metavar="S",
                   help="side of the square frames, a multiple of 4 (default 128)")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--overwrite", action="store_true", help="replace an existing benchmark")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from recyclegan.synth import synthesize

    synthesize(args.output, clips=args.clips, frames=args.frames, size=args.size,
               seed=args.seed, overwrite=args.overwrite, progress=not args.quiet)
    print(f"{args.output}: benchmark written; train with `recyclegan prepare "
          f"{args.output}/train/a` and `.../train/b`, evaluate on {args.output}/test")
    return 0
