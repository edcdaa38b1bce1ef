"""`recyclegan retarget`, `export` and `evaluate`: using a trained run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from recyclegan.cli.args import (
    add_stabilize,
    crf,
    non_negative_float,
    positive_float,
    positive_int,
)
from recyclegan.data.video_io.writer import DEFAULT_ENCODER_PRESET, ENCODER_PRESETS
from recyclegan.errors import RecycleganError
from recyclegan.provenance.watermark import DEFAULT_STRENGTH


def _add_speed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision", choices=["auto", "bf16", "fp32"], default="auto",
        help="bf16 mixed precision or fp32 for the generator (default auto: bf16 on CUDA, "
        "fp32 on CPU); bf16 frames differ slightly from fp32's")
    parser.add_argument(
        "--compile", action="store_true",
        help="torch.compile the generator: faster on a GPU at large batch sizes; the first "
        "batch of each frame size waits for compilation (default off)")


def add_retarget(sub: Any) -> None:
    p = sub.add_parser(
        "retarget", help="translate video files (or folders of frames) with a trained run",
        description="Decode, translate in batches and encode, streaming: memory does not grow "
        "with the video's length. The output keeps the input's frame count, frame rate "
        "(timestamps too, for variable frame rate) and audio. OUTPUT's extension picks the "
        "format (mp4, mkv, mov: H.264; webm: VP9; avi); an OUTPUT without a video extension "
        "is a folder of PNG frames. With several INPUTs, OUTPUT is a folder.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="video file or folder of frames")
    p.add_argument("-r", "--run", required=True, type=Path, metavar="RUN",
                   help="a training run folder (its newest checkpoint is used)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUTPUT")
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b",
                   help="a2b: INPUT looks like dataset A, the output like B (default)")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                   help="frames translated at once (default 8)")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda",
                   help="default auto: cuda when PyTorch sees a GPU, else cpu")
    p.add_argument("--side-by-side", action="store_true",
                   help="write the input and its translation next to each other")
    p.add_argument("--keep-resolution", action="store_true",
                   help="translate whole frames at the input's size and aspect ratio instead "
                   "of the training crop")
    _add_speed(p)
    add_stabilize(p)
    faces = p.add_argument_group("faces")
    faces.add_argument("--face", action="store_true",
                       help="translate only the main subject's face (found with OpenCV's face "
                       "detector, tracked and steadied) and paste it back into each whole "
                       "frame; frames without a face pass through. For runs trained on "
                       "`prepare --face` crops")
    faces.add_argument("--margin", type=non_negative_float, metavar="M",
                       help="with --face: crop side = face box side x (1 + M), as for "
                       "prepare --face (default 0.6)")
    faces.add_argument("--face-only", action="store_true",
                       help="with --face: write the translated face crops instead of whole "
                       "frames (frames without a face are left out)")
    p.add_argument("--crf", type=crf, default=18, metavar="Q",
                   help="H.264/VP9 quality, lower is better (default 18)")
    p.add_argument("--encoder-preset", choices=ENCODER_PRESETS, default=DEFAULT_ENCODER_PRESET,
                   metavar="PRESET",
                   help="H.264 encoder speed, one of " + " ".join(ENCODER_PRESETS) + ": a "
                   "faster preset encodes several times faster and writes a larger file at the "
                   "same --crf (default %(default)s; veryfast or ultrafast when encoding holds "
                   "a GPU back)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first frame that cannot be decoded instead of warning")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    marks = p.add_argument_group(
        "disclosure", "Outputs say they are synthetic: every frame carries an invisible "
        "watermark naming recyclegan and the run (`recyclegan detect` finds it, also after "
        "re-encoding, scaling or cropping), and video files carry disclosure tags.")
    marks.add_argument("--no-watermark", action="store_true",
                       help="leave the frames unmarked (prints a notice; the tags remain)")
    marks.add_argument("--watermark-strength", type=positive_float, default=DEFAULT_STRENGTH,
                       metavar="S",
                       help="RMS of the mark in 8-bit luma levels (default %(default)s: PSNR "
                       "about 39 dB); lower is harder to see on flat areas and easier to "
                       "lose to re-encoding")
    marks.add_argument("--sign-key", type=Path, metavar="KEY",
                       help="PEM private key: sign each output with a C2PA manifest (tool, "
                       "run, source file hash; mp4, mov and avi). Needs the c2pa extra: "
                       "pip install 'recyclegan[c2pa]'")
    marks.add_argument("--sign-cert", type=Path, metavar="CERT",
                       help="PEM signing certificate (and its chain) for --sign-key")
    p.set_defaults(handler=run_retarget)


def run_retarget(args: argparse.Namespace) -> int:
    from recyclegan.devices import rank_device
    from recyclegan.distributed import from_environment
    from recyclegan.inference.faces import FaceOptions
    from recyclegan.inference.retarget import Marking, retarget_paths
    from recyclegan.inference.translate import Retargeter

    if (args.face_only or args.margin is not None) and not args.face:
        raise RecycleganError("--face-only and --margin go with --face")
    marking = Marking(watermark=not args.no_watermark, strength=args.watermark_strength,
                      sign_key=args.sign_key, sign_cert=args.sign_cert)
    if args.no_watermark:
        print("recyclegan retarget: notice: --no-watermark: the frames carry no invisible mark, "
              "so nothing shows they are synthetic once the file's tags are gone; please say "
              "so wherever you publish them", file=sys.stderr)
    # Under torchrun each process takes its own GPU and its share of the inputs; the ranks
    # only agree (over gloo on the CPU) that every output may be written.
    dist = from_environment("cpu")
    try:
        device = rank_device(args.device, dist.local_rank) if dist.enabled else args.device
        retargeter = dist.agree(lambda: Retargeter.from_run(
            args.run, direction=args.direction, device=device, batch_size=args.batch_size,
            keep_resolution=args.keep_resolution, stabilize=args.stabilize,
            stabilize_strength=args.stabilize_strength, precision=args.precision,
            compile=args.compile))
        faces = FaceOptions(face_only=args.face_only, **(
            {} if args.margin is None else {"margin": args.margin})) if args.face else None
        reports = retarget_paths(retargeter, args.inputs, args.output,
                                 side_by_side=args.side_by_side, crf=args.crf,
                                 encoder_preset=args.encoder_preset, strict=args.strict,
                                 overwrite=args.overwrite,
                                 progress=not args.quiet, shard=(dist.rank, dist.world_size),
                                 agree=dist.agree, faces=faces, marking=marking)
    finally:
        dist.close()
    for report in reports:
        marks = ", ".join(["watermarked"] * report.watermarked + ["signed"] * report.signed)
        print(f"{report.output}: {report.frames} frames from {report.source} "
              f"(run {report.run_hash[:16]}{', ' + marks if marks else ''})")
    return 0


def add_export(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="export a trained generator to ONNX",
        description="Write one generator as an ONNX model with dynamic batch, height and "
        "width (multiples of 4). Input 'frames' (N, 3, H, W) float32 in [-1, 1], output "
        "'translated'. Needs the onnx extra: pip install 'recyclegan[onnx]'.")
    p.add_argument("-r", "--run", required=True, type=Path, metavar="RUN")
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b")
    p.add_argument("--onnx", required=True, type=Path, metavar="FILE.onnx",
                   help="where to write the model")
    p.add_argument("--opset", type=positive_int, help="ONNX opset (default: the exporter's)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE.onnx")
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from recyclegan.inference.export import export_onnx

    report = export_onnx(args.run, args.direction, args.onnx, opset=args.opset,
                         overwrite=args.overwrite)
    check = (f"; max abs difference to PyTorch {report.max_abs_diff:.2e}"
             if report.max_abs_diff is not None else "")
    print(f"{report.path}: opset {report.opset}{check}")
    return 0


def add_evaluate(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate", help="score translations against ground-truth labels (image -> labels)",
        description="Translate each INPUT video with a run (or read its translation from "
        "--pred), decode the output to classes with the palette, and score it against the "
        "ground truth: mean pixel accuracy, class accuracy, IoU per class and mean IoU "
        "(percent), and the temporal warping error along the input's optical flow with its "
        "ratio to the input's own (1.0 = no flicker added). Ground truth for clip X is "
        "LABELS/X.npy (class ids), LABELS/X/ (label-colour frames) or a label video.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("-r", "--run", type=Path, metavar="RUN", help="translate with this run")
    source.add_argument("--pred", type=Path, metavar="DIR",
                        help="score translations already made: DIR/X.mp4 or DIR/X/ per clip")
    p.add_argument("--input", required=True, nargs="+", type=Path, metavar="VIDEO",
                   help="input videos, frame folders, or folders of them")
    p.add_argument("--labels", required=True, type=Path, metavar="GT",
                   help="folder of ground truth, one entry per input clip")
    p.add_argument("--palette", type=Path, metavar="FILE",
                   help="palette.json (default: found in GT or the two folders above it)")
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda")
    _add_speed(p)
    add_stabilize(p)
    p.add_argument("-o", "--output", type=Path, metavar="REPORT.json",
                   help="also write the report as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from recyclegan.inference.evaluate import evaluate, load_palette, print_report, write_report
    from recyclegan.inference.translate import Retargeter

    if args.output is not None and args.output.exists() and not args.overwrite:
        raise RecycleganError(f"{args.output} exists; pass --overwrite to replace it")
    # `recyclegan synth` puts palette.json two levels above test/ids.
    searched = [args.labels, args.labels.parent, args.labels.parent.parent]
    palette_path = args.palette or next(
        (folder / "palette.json" for folder in searched if (folder / "palette.json").is_file()),
        None)
    if palette_path is None:
        raise RecycleganError(f"no palette.json in {args.labels} or the two folders above it; "
                              "pass --palette")
    retargeter = None
    if args.run is not None:
        retargeter = Retargeter.from_run(args.run, direction=args.direction,
                                         device=args.device, batch_size=args.batch_size,
                                         stabilize=args.stabilize,
                                         stabilize_strength=args.stabilize_strength,
                                         precision=args.precision, compile=args.compile)
    elif args.stabilize != "none":
        raise RecycleganError("--stabilize applies to translating with a run (-r), not to "
                              "--pred")
    elif args.precision != "auto" or args.compile:
        raise RecycleganError("--precision and --compile apply to translating with a run (-r), "
                              "not to --pred")
    report = evaluate(args.input, args.labels, load_palette(palette_path),
                      retargeter=retargeter, predictions=args.pred)
    report["source"] = ({"run": str(args.run), "direction": args.direction,
                         "stabilize": args.stabilize,
                         "stabilize_strength": args.stabilize_strength} if args.run
                        else {"predictions": str(args.pred)})
    print_report(report)
    if args.output is not None:
        write_report(report, args.output)
        print(f"{args.output}: report written")
    return 0
