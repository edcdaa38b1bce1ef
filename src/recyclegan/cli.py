"""The `recyclegan` command line: parse, build options, call the library, report errors.

Every user-fixable problem is one line on stderr and a non-zero exit (1 for errors, 2 for
bad usage, 130 when interrupted), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from recyclegan import __version__
from recyclegan.config import MODEL_SIZES, PRESETS, merge_overrides, read_yaml
from recyclegan.errors import RecycleganError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + error
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _crf(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 51:
        raise argparse.ArgumentTypeError(f"must be between 0 (lossless) and 51, got {value}")
    return value


def _add_prepare(sub: Any) -> None:
    p = sub.add_parser(
        "prepare", help="turn videos or image folders into a training dataset",
        description="Decode videos (anything PyAV reads) or folders of images, resize each "
        "frame on its short side and center-crop it to a square (aspect ratio kept), split "
        "clips at hard scene cuts, and store every clip as a uint8 .npy array with a "
        "manifest.json. SRC may also be a folder holding videos or image folders.")
    p.add_argument("sources", nargs="+", metavar="SRC", help="video file or folder")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DATASET",
                   help="folder to create")
    p.add_argument("--size", type=_positive_int, default=256,
                   help="side of the square frames in pixels (default 256)")
    p.add_argument("--fps", type=_positive_float, metavar="F",
                   help="resample time to F frames per second (default: keep every frame)")
    p.add_argument("--max-frames", type=_positive_int, metavar="N",
                   help="keep at most N frames from each source")
    p.add_argument("--stride", type=_positive_int, default=1, metavar="K",
                   help="training windows take frames t, t+K, t+2K (default 1)")
    p.add_argument("--scene-threshold", type=_non_negative_float, default=0.3, metavar="T",
                   help="colour-histogram change that counts as a hard cut; 0 disables "
                   "splitting (default 0.3)")
    p.add_argument("--image-fps", type=_positive_float, default=25.0, metavar="F",
                   help="frame rate assumed for folders of images (default 25)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DATASET")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_prepare)


def _add_train(sub: Any) -> None:
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
    p.add_argument("--steps", type=_positive_int, metavar="N",
                   help="total training steps (default 20000)")
    p.add_argument("--batch-size", type=_positive_int, metavar="B",
                   help="windows of three frames per domain and step (default 1)")
    p.add_argument("--lr", type=_positive_float, help="Adam learning rate (default 2e-4)")
    p.add_argument("--device", metavar="auto|cpu|cuda",
                   help="default auto: cuda when PyTorch sees a GPU, else cpu")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default 0)")
    p.add_argument("--num-workers", type=int, metavar="N",
                   help="data loading processes (default 0: load in the training process)")
    p.add_argument("--sample-every", type=_positive_int, metavar="N",
                   help="write a sample strip every N steps (default 500)")
    p.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                   help="save a checkpoint every N steps (default 1000)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in RUN exactly where its last checkpoint left off")
    p.add_argument("--overwrite", action="store_true", help="replace an existing RUN")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_train)


def _add_retarget(sub: Any) -> None:
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
    p.add_argument("--batch-size", type=_positive_int, default=8, metavar="N",
                   help="frames translated at once (default 8)")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda",
                   help="default auto: cuda when PyTorch sees a GPU, else cpu")
    p.add_argument("--side-by-side", action="store_true",
                   help="write the input and its translation next to each other")
    p.add_argument("--keep-resolution", action="store_true",
                   help="translate whole frames at the input's size and aspect ratio instead "
                   "of the training crop")
    p.add_argument("--crf", type=_crf, default=18, metavar="Q",
                   help="H.264/VP9 quality, lower is better (default 18)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first frame that cannot be decoded instead of warning")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_retarget)


def _add_export(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="export a trained generator to ONNX",
        description="Write one generator as an ONNX model with dynamic batch, height and "
        "width (multiples of 4). Input 'frames' (N, 3, H, W) float32 in [-1, 1], output "
        "'translated'. Needs the onnx extra: pip install 'recyclegan[onnx]'.")
    p.add_argument("-r", "--run", required=True, type=Path, metavar="RUN")
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b")
    p.add_argument("--onnx", required=True, type=Path, metavar="FILE.onnx",
                   help="where to write the model")
    p.add_argument("--opset", type=_positive_int, help="ONNX opset (default: the exporter's)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE.onnx")
    p.set_defaults(handler=_run_export)


def _add_evaluate(sub: Any) -> None:
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
                   help="palette.json (default: GT/palette.json or beside GT)")
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b")
    p.add_argument("--batch-size", type=_positive_int, default=8, metavar="N")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda")
    p.add_argument("-o", "--output", type=Path, metavar="REPORT.json",
                   help="also write the report as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.set_defaults(handler=_run_evaluate)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="see a translation in minutes: synthetic data, training, retargeting",
        description="Needs no data: writes two synthetic video domains (A: bright discs on "
        "blue; B: dark squares on a warm background, moving alike), prepares them, trains the "
        "small model for the time given (GPU if present), retargets a held-out clip of A "
        "and writes out.mp4, side_by_side.mp4 and strip.png.")
    p.add_argument("-o", "--output", type=Path, default=Path("demo_out"), metavar="DIR",
                   help="folder for everything the demo writes (default demo_out)")
    p.add_argument("--minutes", type=_positive_float, default=6.0, metavar="M",
                   help="total time to aim for, most of it training (default 6)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_run_demo)


def _run_prepare(args: argparse.Namespace) -> int:
    from recyclegan.data.prepare import PrepareOptions, prepare_dataset

    options = PrepareOptions(size=args.size, fps=args.fps, max_frames=args.max_frames,
                             stride=args.stride, scene_threshold=args.scene_threshold,
                             image_fps=args.image_fps)
    manifest = prepare_dataset(args.sources, args.output, options, overwrite=args.overwrite,
                               progress=not args.quiet)
    print(f"{args.output}: {manifest['num_clips']} clips, {manifest['num_frames']} frames of "
          f"{manifest['size']}x{manifest['size']} from {len(manifest['sources'])} sources")
    return 0


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config overrides from --config and the explicitly given flags (flags win)."""
    overrides = read_yaml(args.config) if args.config else {}
    flags: dict[str, Any] = {}
    if args.model_size:
        flags["model_size"] = args.model_size
    if args.preset:
        flags["preset"] = args.preset
    train = {key: value for key, value in (
        ("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr),
        ("device", args.device), ("seed", args.seed), ("sample_every", args.sample_every),
        ("checkpoint_every", args.checkpoint_every)) if value is not None}
    if train:
        flags["train"] = train
    if args.num_workers is not None:
        flags["data"] = {"num_workers": args.num_workers}
    return merge_overrides(overrides, flags)


def _run_train(args: argparse.Namespace) -> int:
    from recyclegan.training.run import train_run

    result = train_run(args.dataset_a, args.dataset_b, args.output, train_overrides(args),
                       resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    print(f"{result.run_dir}: trained to step {result.step}; checkpoint {result.checkpoint}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
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


def _run_retarget(args: argparse.Namespace) -> int:
    from recyclegan.inference.retarget import retarget_paths
    from recyclegan.inference.translate import Retargeter

    retargeter = Retargeter.from_run(args.run, direction=args.direction, device=args.device,
                                     batch_size=args.batch_size,
                                     keep_resolution=args.keep_resolution)
    reports = retarget_paths(retargeter, args.inputs, args.output,
                             side_by_side=args.side_by_side, crf=args.crf, strict=args.strict,
                             overwrite=args.overwrite, progress=not args.quiet)
    for report in reports:
        print(f"{report.output}: {report.frames} frames from {report.source}")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from recyclegan.inference.export import export_onnx

    report = export_onnx(args.run, args.direction, args.onnx, opset=args.opset,
                         overwrite=args.overwrite)
    check = (f"; max abs difference to PyTorch {report.max_abs_diff:.2e}"
             if report.max_abs_diff is not None else "")
    print(f"{report.path}: opset {report.opset}{check}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from recyclegan.inference.evaluate import evaluate, load_palette, print_report, write_report
    from recyclegan.inference.translate import Retargeter

    if args.output is not None and args.output.exists() and not args.overwrite:
        raise RecycleganError(f"{args.output} exists; pass --overwrite to replace it")
    palette_path = args.palette or next(
        (p for p in (args.labels / "palette.json", args.labels.parent / "palette.json")
         if p.is_file()), None)
    if palette_path is None:
        raise RecycleganError(f"no palette.json in {args.labels} or beside it; pass --palette")
    retargeter = None
    if args.run is not None:
        retargeter = Retargeter.from_run(args.run, direction=args.direction,
                                         device=args.device, batch_size=args.batch_size)
    report = evaluate(args.input, args.labels, load_palette(palette_path),
                      retargeter=retargeter, predictions=args.pred)
    report["source"] = ({"run": str(args.run), "direction": args.direction} if args.run
                        else {"predictions": str(args.pred)})
    print_report(report)
    if args.output is not None:
        write_report(report, args.output)
        print(f"{args.output}: report written")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recyclegan", description="Unsupervised video retargeting with "
                     "Recycle-GAN (Bansal et al., ECCV 2018).")
    parser.add_argument("--version", action="version", version=f"recyclegan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    _add_prepare(sub)
    _add_train(sub)
    _add_retarget(sub)
    _add_export(sub)
    _add_evaluate(sub)
    _add_demo(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"recyclegan {args.command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    try:
        return args.handler(args)
    except RecycleganError as exc:
        print(f"recyclegan {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"recyclegan {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"recyclegan {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
