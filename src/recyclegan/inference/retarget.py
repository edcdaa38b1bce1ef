"""`recyclegan retarget`: video files (or frame folders) in, translated videos out.

Decoding, translation and encoding stream frame by frame, so memory does not grow with the
video. The output keeps the input's timestamps (and so its frame count and frame rate) and
its audio; it appears under its final name only when complete.

Every output says it is synthetic: each frame carries the invisible watermark of
recyclegan.provenance (unless `Marking(watermark=False)`), video files carry disclosure
tags, and with a key and certificate the file gets a signed C2PA manifest.

Three threads share the work: one decodes and prepares frames, the caller's thread runs the
model and composes and marks the outputs, one encodes (see recyclegan.background). Each
hand-over holds two batches of frames, or 16 frames at small batch sizes, which evens out the
threads' uneven paces. Whole frames bound for a video file are composed, marked and
converted to the encoder's YUV 4:2:0 on the model's device (inference.output_stage), which
leaves the encode thread the encoder's own work; faces, stabilised clips and PNG folders
are finished on the host.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from recyclegan.background import BackgroundIterator, BackgroundSink
from recyclegan.data.video_io import (
    DEFAULT_ENCODER_PRESET,
    ENCODERS,
    DecodeError,
    VideoReader,
    VideoWriter,
    describe_decode_errors,
    open_writer,
)
from recyclegan.errors import RecycleganError
from recyclegan.fileio import sha256_file
from recyclegan.inference.faces import FaceOptions, find_face_squares, translate_faces
from recyclegan.inference.output_stage import OutputStage
from recyclegan.inference.translate import Retargeter
from recyclegan.provenance import c2pa
from recyclegan.provenance.metadata import disclosure_tags
from recyclegan.provenance.watermark import DEFAULT_STRENGTH, Watermarker

_QUEUED_BATCHES, _MIN_QUEUED_FRAMES = 2, 16


@dataclass(frozen=True)
class Marking:
    """How outputs disclose that they are synthetic (see recyclegan.provenance): the
    watermark in every frame (on by default) and, with a PEM key and certificate, a signed
    C2PA manifest (mp4, mov and avi only)."""

    watermark: bool = True
    strength: float = DEFAULT_STRENGTH
    sign_key: Path | None = None
    sign_cert: Path | None = None

    def __post_init__(self) -> None:
        if (self.sign_key is None) != (self.sign_cert is None):
            raise RecycleganError("signing needs both a key and a certificate "
                                  "(--sign-key and --sign-cert)")

    @property
    def signs(self) -> bool:
        return self.sign_key is not None

    def check(self, dst: Path) -> None:
        """Refuse, before any work, an output or credentials signing would refuse."""
        if self.signs:
            c2pa.check_signing(dst, self.sign_key, self.sign_cert)


@dataclass
class RetargetReport:
    source: Path
    output: Path
    frames: int
    decode_errors: list[DecodeError] = field(default_factory=list)
    encoder: str | None = None  # None for a folder of PNG frames
    run_hash: str = ""
    watermarked: bool = True
    signed: bool = False


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
                  progress: bool = True, hardware_encoder: bool | None = None,
                  encoder_preset: str = DEFAULT_ENCODER_PRESET, faces: FaceOptions | None = None,
                  marking: Marking = Marking()) -> RetargetReport:
    """Translate one video file or folder of frames into `dst` (a video, or a PNG folder).

    `hardware_encoder` (None = when translating on CUDA) encodes H.264 with NVENC where
    FFmpeg can open it, else with libx264; `encoder_preset` is its speed preset (see
    video_io.ENCODER_PRESETS). With `faces`, only the subject's face is translated and
    pasted back (see inference.faces). `marking`: see Marking.
    """
    src, dst = Path(src), Path(dst)
    _check_output(src, dst, overwrite)
    marking.check(dst)
    run_hash = retargeter.run_hash
    marker = Watermarker(run_hash, marking.strength) if marking.watermark else None
    if hardware_encoder is None:
        hardware_encoder = retargeter.device.type == "cuda"
    depth = max(_QUEUED_BATCHES * retargeter.batch_size, _MIN_QUEUED_FRAMES)
    with VideoReader(src, strict=strict) as reader, _progress(progress) as bar:
        squares = None
        if faces is not None:
            search = bar.add_task(f"{src.name}: finding the face", total=reader.info.frames,
                                  rate="")
            squares = find_face_squares(src, faces, strict, lambda: bar.advance(search))
        task = bar.add_task(src.name, total=reader.info.frames, rate="")
        if squares is None:
            stream = ((frame.pts, retargeter.prepare(frame.image)) for frame in reader)
        else:
            stream = ((frame.pts, frame.image) for frame in reader)
        # Whole frames bound for an encoder are finished on the model's device; faces,
        # stabilised clips and PNG folders need RGB frames on the host.
        on_device = (squares is None and retargeter.stabilizer is None
                     and _is_video_name(dst))
        with BackgroundIterator(stream, depth, name="recyclegan-decode") as decoded:
            if squares is not None:
                translated = translate_faces(retargeter, decoded, squares, faces)
            else:
                finish = OutputStage(marker, side_by_side) if on_device else None
                translated = retargeter.translate_items(decoded, finish)
            first = next(translated, None)
            if first is None:
                raise RecycleganError(f"{src}: no decodable video frame")
            height, width = first[1].shape[:2]
            size = ((width * (1 + side_by_side), height) if on_device
                    else _compose(first[1], first[2], side_by_side).shape[1::-1])
            audio_from = src if src.is_file() else None
            dst.parent.mkdir(parents=True, exist_ok=True)
            tags = disclosure_tags(run_hash, retargeter.direction)
            with _old_folder_aside(dst), open_writer(dst, reader.info, audio_from=audio_from,
                                                     crf=crf, size=size,
                                                     hardware=hardware_encoder,
                                                     tags=tags, preset=encoder_preset) as writer:
                items = itertools.chain([first], translated)
                if on_device:
                    frames = ((pts, planes) for pts, _, planes in items)
                    write = writer.write_yuv420p
                else:
                    frames = ((pts, _mark(_compose(prepared, out, side_by_side), marker))
                              for pts, prepared, out in items)
                    write = writer.write
                _encode_in_background(write, frames, depth, _Ticker(bar, task))
        errors = reader.decode_errors
    if marking.signs:
        _sign(src, dst, run_hash, retargeter.direction, marking)
    if errors:
        warnings.warn(f"{src}: {describe_decode_errors(errors)}; the frames that decoded were "
                      "retargeted (pass --strict to stop instead)", stacklevel=2)
    encoder_name = writer.codec if isinstance(writer, VideoWriter) else None
    return RetargetReport(source=src, output=dst, frames=writer.frames, decode_errors=errors,
                          encoder=encoder_name, run_hash=run_hash,
                          watermarked=marker is not None, signed=marking.signs)


def _sign(src: Path, dst: Path, run_hash: str, direction: str, marking: Marking) -> None:
    """Embed the signed manifest in place; a failure removes the unsigned output, since
    a signed one was asked for."""
    claim = {"run": run_hash, "direction": direction,
             "source_sha256": sha256_file(src) if src.is_file() else None}
    try:
        c2pa.sign_video(dst, dst, marking.sign_key, marking.sign_cert, claim=claim)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


def _encode_in_background(write: Callable[[np.ndarray, int | None], None],
                          frames: Iterable[tuple[int | None, np.ndarray]], depth: int,
                          progress: _Ticker) -> None:
    """Draw each (pts, frame) here, in the caller's thread (which composes and marks it),
    and write it in the encode thread, which the encoder alone keeps busy on a fast GPU."""

    def encode(item: tuple[int | None, np.ndarray]) -> None:
        pts, frame = item
        write(frame, pts)
        progress.tick()

    with BackgroundSink(encode, depth, name="recyclegan-encode") as encoder:
        for item in frames:
            encoder.put(item)
    progress.flush()


class _Ticker:
    """Advances a progress bar by the frames written, at most every `interval` seconds:
    redrawing for each frame cost about 60 us, 6% of the encode thread's time per frame at
    900 frames/s."""

    def __init__(self, bar: Progress, task: TaskID, interval: float = 0.1) -> None:
        self._bar, self._task, self._interval = bar, task, interval
        self._pending, self._last = 0, time.monotonic()

    def tick(self) -> None:
        self._pending += 1
        if time.monotonic() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._bar.advance(self._task, self._pending)
            speed = self._bar.tasks[self._task].speed
            self._bar.update(self._task, rate=f"{speed:.1f} frames/s" if speed else "")
            self._pending, self._last = 0, time.monotonic()


def _compose(prepared: np.ndarray, translated: np.ndarray, side_by_side: bool) -> np.ndarray:
    return np.concatenate([prepared, translated], axis=1) if side_by_side else translated


def _mark(frame: np.ndarray, marker: Watermarker | None) -> np.ndarray:
    return frame if marker is None else marker(frame)


def retarget_paths(retargeter: Retargeter, inputs: Sequence[Path], output: Path, *,
                   side_by_side: bool = False, crf: int = 18, strict: bool = False,
                   overwrite: bool = False, progress: bool = True,
                   hardware_encoder: bool | None = None,
                   encoder_preset: str = DEFAULT_ENCODER_PRESET, shard: tuple[int, int] = (0, 1),
                   agree: Callable[[Callable[[], Any]], Any] | None = None,
                   faces: FaceOptions | None = None,
                   marking: Marking = Marking()) -> list[RetargetReport]:
    """Retarget every input; all outputs are checked before the first one is written.

    `shard` = (rank, world size): this process translates every world-size-th input from
    `rank` on, so the processes of a torchrun launch share the inputs. Then `agree` (see
    recyclegan.distributed) runs the checks on every rank and returns only when all ranks
    have, so no rank mistakes another's fresh output for an old one.
    """

    def checked() -> list[tuple[Path, Path]]:
        pairs = plan_outputs(inputs, output)
        for src, dst in pairs:
            _check_output(src, dst, overwrite)
            marking.check(dst)
        return pairs

    pairs = agree(checked) if agree is not None else checked()
    rank, world_size = shard
    return [retarget_file(retargeter, src, dst, side_by_side=side_by_side, crf=crf,
                          strict=strict, overwrite=overwrite, progress=progress,
                          hardware_encoder=hardware_encoder, encoder_preset=encoder_preset,
                          faces=faces, marking=marking)
            for src, dst in pairs[rank::world_size]]
