"""`recyclegan evaluate`: score translated videos against ground-truth label videos.

Each input video is translated with a run (or its translation is read from `--pred`), then
scored frame by frame: the output is decoded to class ids with the palette and compared with
the ground truth (pixel accuracy, class accuracy, IoU), and its temporal warping error is
measured along the input's optical flow, next to the input's own (the flicker ratio).
Scores are per clip and over all clips (confusion matrices summed, warping pooled).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from recyclegan import __version__
from recyclegan.data.sources import Source, resolve_sources
from recyclegan.data.video_io import VideoReader
from recyclegan.errors import RecycleganError
from recyclegan.fileio import atomic_write_text
from recyclegan.inference.translate import Retargeter
from recyclegan.metrics import VideoSegmentation, VideoWarpingError, decode_palette, scores


@dataclass(frozen=True)
class Palette:
    colors: np.ndarray
    """(K, 3) uint8; row k is the colour of class id k."""
    names: list[str]


def load_palette(path: Path) -> Palette:
    """Read palette.json: {"classes": [{"id": 0, "name": "sky", "color": [r, g, b]}, ...]}."""
    _check_regular(Path(path), "a palette.json file")
    try:
        classes = sorted(json.loads(Path(path).read_text())["classes"], key=lambda c: c["id"])
        colors = np.array([c["color"] for c in classes], dtype=np.uint8)
        names = [str(c["name"]) for c in classes]
    except (OSError, ValueError, KeyError, TypeError):
        raise RecycleganError(f"{path}: not a readable palette.json ({{\"classes\": [{{\"id\", "
                              f"\"name\", \"color\"}}, ...]}})") from None
    if [c["id"] for c in classes] != list(range(len(classes))) or colors.shape[1:] != (3,):
        raise RecycleganError(f"{path}: class ids must be 0..K-1 with [r, g, b] colours")
    return Palette(colors, names)


def _check_regular(path: Path, what: str) -> None:
    """Refuse a pipe or a device before opening it: reading one waits for a writer forever."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise RecycleganError(f"{path}: not a regular file (a pipe or a device?); pass {what}")


def _find(folder: Path, stem: str, what: str) -> Path:
    """`stem`.npy (exact ids) first, then a folder of frames `stem`/, then a `stem` video."""
    candidates = [folder / f"{stem}.npy", folder / stem,
                  *sorted(p for p in folder.glob(f"{stem}.*") if p.suffix != ".npy")]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise RecycleganError(f"{folder}: no {what} for {stem} (looked for {stem}.npy, {stem}/ "
                          f"or {stem}.<video>)")


def _fit(frame: np.ndarray, shape: tuple[int, int], nearest: bool) -> np.ndarray:
    """`frame` at an output's (height, width): the centre square, as prepared for training,
    when the output is square, else a plain resize. Nearest-neighbour for labels, so that no
    colour or class is invented at boundaries."""
    height, width = shape
    if height == width:
        side = min(frame.shape[:2])
        top, left = (frame.shape[0] - side) // 2, (frame.shape[1] - side) // 2
        frame = frame[top:top + side, left:left + side]
    if frame.shape[:2] == (height, width):
        return np.ascontiguousarray(frame)
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def _open_strict(path: Path) -> VideoReader:
    """Frames are compared by position, so one lost frame would shift all later ones: the
    first loss stops the evaluation, naming the file."""
    with VideoReader(path) as reader:  # a file where nothing decodes has its own message
        if next(iter(reader), None) is None:
            raise RecycleganError(f"{path}: no decodable video frame")
    return VideoReader(path, strict=True)


def _truth(path: Path, palette: Palette, shape: tuple[int, int]) -> Iterator[np.ndarray]:
    """Ground-truth class ids per frame, from ids (.npy) or a label-colour video/folder."""
    if path.suffix == ".npy":
        _check_regular(path, "a .npy file of class ids")
        for ids in np.load(path, mmap_mode="r"):
            yield _fit(np.asarray(ids, dtype=np.uint8), shape, nearest=True)
        return
    with _open_strict(path) as reader:
        for frame in reader:
            yield decode_palette(_fit(frame.image, shape, nearest=True), palette.colors)


def _outputs(source: Source, retargeter: Retargeter | None, predictions: Path | None,
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(input frame as the output sees it, output frame) pairs for one clip."""
    with _open_strict(source.path) as reader:
        frames = iter(reader)
        if retargeter is not None:
            for _, prepared, out in retargeter.translate_items((None, f.image) for f in frames):
                yield prepared, out
            return
        stem = source.path.stem if source.kind == "video" else source.path.name
        with _open_strict(_find(predictions, stem, "prediction")) as predicted:
            inputs, outputs = frames, iter(predicted)
            for frame, out in zip(inputs, outputs, strict=False):
                yield _fit(frame.image, out.image.shape[:2], nearest=False), out.image
            if next(inputs, None) is not None or next(outputs, None) is not None:
                raise RecycleganError(f"{source.path} and its prediction have different "
                                      "frame counts")


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: undefined scores are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _row(segmentation: dict, warping: dict, names: list[str]) -> dict[str, Any]:
    return {
        "pixel_accuracy": segmentation["pixel_accuracy"],
        "class_accuracy": segmentation["class_accuracy"],
        "mean_iou": segmentation["mean_iou"],
        "iou": dict(zip(names, segmentation["iou"], strict=True)),
        "warping_error": warping["output"],
        "warping_error_input": warping["input"],
        "warping_ratio": warping["ratio"],
    }


def evaluate(inputs: Sequence[Path], labels: Path, palette: Palette, *,
             retargeter: Retargeter | None = None, predictions: Path | None = None,
             flow: str = "dis") -> dict[str, Any]:
    """Score every input clip; returns the report (JSON-ready: undefined values are None).

    `flow` picks the optical flow of the warping error (see metrics.temporal.flow_estimator).
    """
    if (retargeter is None) == (predictions is None):
        raise RecycleganError("give either a run (-r) or predictions (--pred), not both")
    if predictions is not None and not Path(predictions).is_dir():
        raise RecycleganError(f"{predictions}: no such folder of predictions")
    if not Path(labels).is_dir():
        what = "not a folder" if Path(labels).exists() else "no such folder"
        raise RecycleganError(f"{labels}: {what} of ground-truth labels")
    clips, segmentations, warpings = [], [], []
    for source in resolve_sources(inputs):
        stem = source.path.stem if source.kind == "video" else source.path.name
        truth_path = _find(Path(labels), stem, "ground truth")
        segmentation, warping = VideoSegmentation(palette.colors), VideoWarpingError(flow=flow)
        truth = None
        for prepared, out in _outputs(source, retargeter, predictions):
            if truth is None:
                truth = _truth(truth_path, palette, out.shape[:2])
            ids = next(truth, None)
            if ids is None:
                raise RecycleganError(f"{truth_path} has fewer frames than {source.path}")
            segmentation.update(ids, out)
            warping.update(prepared, out)
        if truth is None or next(truth, None) is not None:
            raise RecycleganError(f"{truth_path} and {source.path} have different frame counts")
        segmentations.append(segmentation)
        warpings.append(warping)
        clips.append({"clip": stem, "frames": segmentation.frames,
                      **_row(segmentation.result(), warping.result(), palette.names)})
    if not clips:
        raise RecycleganError("no input clip to evaluate")
    overall = _row(scores(sum(s.confusion for s in segmentations)),
                   VideoWarpingError.combine(warpings), palette.names)
    report = {"tool": "recyclegan", "version": __version__, "classes": palette.names,
              "units": "accuracy and IoU in percent; warping error in [0, 1] RGB units",
              "clips": clips, "overall": {"frames": sum(c["frames"] for c in clips), **overall}}
    return _finite(report)


def write_report(report: dict[str, Any], path: Path) -> None:
    atomic_write_text(Path(path), json.dumps(report, indent=2) + "\n")


def print_report(report: dict[str, Any]) -> None:
    """A table per clip and overall: accuracy and IoU in percent, the flicker ratio."""
    table = Table(title="recyclegan evaluate")
    for column in ("clip", "frames", "pixel acc", "class acc", "mIoU", "warp error",
                   "flicker ratio"):
        table.add_column(column, justify="left" if column == "clip" else "right")

    def cells(row: dict[str, Any]) -> list[str]:
        return [_fmt(row["pixel_accuracy"], 1), _fmt(row["class_accuracy"], 1),
                _fmt(row["mean_iou"], 1), _fmt(row["warping_error"], 4),
                _fmt(row["warping_ratio"], 2)]

    for clip in report["clips"]:
        table.add_row(clip["clip"], str(clip["frames"]), *cells(clip))
    overall = report["overall"]
    table.add_row("[bold]all", f"[bold]{overall['frames']}", *cells(overall))
    Console().print(table)


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
