"""`recyclegan retarget`: video files (or frame folders) in, translated videos out.

Decoding, translation and encoding stream frame by frame, so memory does not grow with the
video. The output keeps the input's timestamps (and so its frame count and frame rate) and
its audio; it appears under its final name only when complete.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from recyclegan.data.video_io import (
    ENCODERS,
    DecodeError,
    VideoReader,
    describe_decode_errors,
    open_writer,
)
from recyclegan.errors import RecycleganError
from recyclegan.inference.translate import Retargeter


@dataclass
class RetargetReport:
    source: Path
    output: Path
    frames: int
    decode_errors: list[DecodeError] = field(default_factory=list)


def _is_video_name(path: Path) -> bool:
    return path.suffix.lower() in ENCODERS


def plan_outputs(inputs: Sequence[Path], output: Path) -> list[tuple[Path, Path]]:
    """Pair each input with its output path: OUTPUT itself for one input, else OUTPUT/<name>."""
    inputs = [Path(path) for path in inputs]
    for path in inputs:
        if not path.exists():
            raise RecycleganError(f"{path}: no such file or folder")
    if len(inputs) == 1:
        return [(inputs[0], Path(output))]
    if _is_video_name(Path(output)) or Path(output).is_file():
        raise RecycleganError(f"{output}: with several inputs, -o must be a folder")
    pairs = []
    for path in inputs:
        suffix = path.suffix.lower() if path.suffix.lower() in ENCODERS else ".mp4"
        pairs.append((path, Path(output) / f"{path.stem}{suffix}"))
    names = [dst.name for _, dst in pairs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RecycleganError(f"several inputs would write {', '.join(duplicates)}; "
                              "retarget them into separate folders")
    return pairs


def _check_output(src: Path, dst: Path, overwrite: bool) -> None:
    if dst.resolve() == src.resolve():
        raise RecycleganError(f"{dst}: the output would replace its input; choose another -o")
    if not dst.exists() or (dst.is_dir() and not any(dst.iterdir())):
        return
    if not overwrite:
        raise RecycleganError(f"{dst} exists; pass --overwrite to replace it")
    if dst.is_dir() and not all(p.name.startswith("frame_") and p.suffix == ".png"
                                for p in dst.iterdir()):
        raise RecycleganError(f"{dst} is a folder holding more than retargeted frames; "
                              "refusing to replace it, choose another -o")


@contextmanager
def _old_folder_aside(dst: Path) -> Iterator[None]:
    """Move an old frame folder out of the way; delete it on success, restore it on failure."""
    if not (dst.is_dir() and any(dst.iterdir())):
        yield
        return
    aside = dst.parent / f".{dst.name}.old-{os.getpid()}"
    os.replace(dst, aside)
    try:
        yield
    except BaseException:
        if not dst.exists():
            os.replace(aside, dst)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled)


def retarget_file(retargeter: Retargeter, src: Path, dst: Path, *, side_by_side: bool = False,
                  crf: int = 18, strict: bool = False, overwrite: bool = False,
                  progress: bool = True) -> RetargetReport:
    """Translate one video file or folder of frames into `dst` (a video, or a PNG folder)."""
    src, dst = Path(src), Path(dst)
    _check_output(src, dst, overwrite)
    with VideoReader(src, strict=strict) as reader, _progress(progress) as bar:
        task = bar.add_task(src.name, total=reader.info.frames, rate="")
        items = ((frame.pts, frame.image) for frame in reader)
        translated = retargeter.translate_items(items)
        first = next(translated, None)
        if first is None:
            raise RecycleganError(f"{src}: no decodable video frame")
        frame = _compose(first[1], first[2], side_by_side)
        audio_from = src if src.is_file() else None
        dst.parent.mkdir(parents=True, exist_ok=True)
        with _old_folder_aside(dst), open_writer(dst, reader.info, audio_from=audio_from,
                                                 crf=crf, size=frame.shape[1::-1]) as writer:
            writer.write(frame, first[0])
            bar.advance(task)
            for pts, prepared, out in translated:
                writer.write(_compose(prepared, out, side_by_side), pts)
                bar.advance(task)
                speed = bar.tasks[task].speed
                bar.update(task, rate=f"{speed:.1f} frames/s" if speed else "")
        errors = reader.decode_errors
        count = writer.frames
    if errors:
        warnings.warn(f"{src}: {describe_decode_errors(errors)}; the frames that decoded were "
                      "retargeted (pass --strict to stop instead)", stacklevel=2)
    return RetargetReport(source=src, output=dst, frames=count, decode_errors=errors)


def _compose(prepared: np.ndarray, translated: np.ndarray, side_by_side: bool) -> np.ndarray:
    return np.concatenate([prepared, translated], axis=1) if side_by_side else translated


def retarget_paths(retargeter: Retargeter, inputs: Sequence[Path], output: Path, *,
                   side_by_side: bool = False, crf: int = 18, strict: bool = False,
                   overwrite: bool = False, progress: bool = True) -> list[RetargetReport]:
    """Retarget every input; all outputs are checked before the first one is written."""
    pairs = plan_outputs(inputs, output)
    for src, dst in pairs:
        _check_output(src, dst, overwrite)
    return [retarget_file(retargeter, src, dst, side_by_side=side_by_side, crf=crf,
                          strict=strict, overwrite=overwrite, progress=progress)
            for src, dst in pairs]
