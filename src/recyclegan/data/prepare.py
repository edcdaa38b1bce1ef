"""`recyclegan prepare`: videos and image folders in, a folder of square uint8 clips out.

Layout of a prepared dataset: `clip_00000.npy`, ... each of shape (frames, size, size, 3),
one per scene of each source, plus `manifest.json` describing sources and clips.

With `face`, each frame is cropped around the main subject's face instead of the centre: a
first pass over the source finds and steadies the face (recyclegan.faces), the second crops
through those squares; stretches without a face are dropped, and each clip records its
squares ([cx, cy, side] per frame, in source pixels) in the manifest.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import recyclegan
from recyclegan.data.frames import SceneCutDetector, center_square, resample
from recyclegan.data.manifest import DATASET_FORMAT, DATASET_FORMAT_VERSION, MANIFEST_NAME
from recyclegan.data.npy_writer import NpyFrameWriter
from recyclegan.data.sources import Source, resolve_sources
from recyclegan.data.video_io import VideoInfo
from recyclegan.errors import RecycleganError
from recyclegan.faces.composite import crop_square
from recyclegan.faces.detect import HaarFaceDetector
from recyclegan.faces.geometry import Square
from recyclegan.faces.track import require_face, track_faces
from recyclegan.fileio import atomic_write_text, check_output_folder, install_folder, sha256_file

# Frames with a shorter side than this are prepared, with a warning: enlarged, they blur.
SMALL_FRAME = 16


@dataclass(frozen=True)
class PrepareOptions:
    """How sources become clips. `stride` is the frame step inside a training window."""

    size: int = 256
    fps: float | None = None
    max_frames: int | None = None
    stride: int = 1
    scene_threshold: float = 0.3
    image_fps: float = 25.0
    face: bool = False
    face_margin: float = 0.6

    def __post_init__(self) -> None:
        if self.size < 8:
            raise RecycleganError(f"--size must be at least 8, got {self.size}")
        if self.fps is not None and not self.fps > 0:
            raise RecycleganError(f"--fps must be positive, got {self.fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise RecycleganError(f"--max-frames must be at least 1, got {self.max_frames}")
        if self.stride < 1:
            raise RecycleganError(f"--stride must be at least 1, got {self.stride}")
        if not self.scene_threshold >= 0:
            raise RecycleganError(
                f"--scene-threshold must be 0 (off) or positive, got {self.scene_threshold}"
            )
        if not self.image_fps > 0:
            raise RecycleganError(f"--image-fps must be positive, got {self.image_fps}")
        if not 0 <= self.face_margin <= 3:
            raise RecycleganError(f"--margin must be between 0 and 3, got {self.face_margin}")

    @property
    def window_frames(self) -> int:
        """Frames spanned by one training window (t, t+stride, t+2*stride)."""
        return 2 * self.stride + 1


def prepare_dataset(
    sources: Sequence[str | Path],
    out_dir: str | Path,
    options: PrepareOptions,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Decode, resample, crop and split every source into clips under `out_dir`.

    Everything is written to a hidden sibling folder that moves into place only once
    complete, so a failed or interrupted run leaves no dataset behind (one killed outright
    leaves its hidden folder, which the next run to the same output deletes). Returns the
    manifest.
    """
    out_dir = Path(out_dir)
    resolved = resolve_sources(sources)
    target = out_dir.resolve()  # so that "." or "data/.." still name a folder and its parent
    _check_output(out_dir, target, sources, overwrite)
    infos = [source.info(options.image_fps) for source in resolved]
    _warn_small_frames(resolved, infos, options.size)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(target)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        manifest = _build(resolved, infos, partial, options, progress)
        atomic_write_text(partial / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
        install_folder(partial, target, MANIFEST_NAME)
    except OSError as error:  # sources are read through PyAV and OpenCV: this is writing
        shutil.rmtree(partial, ignore_errors=True)
        raise RecycleganError(
            f"{out_dir}: cannot write the dataset ({error.strerror or error}); check the free "
            "disk space and that the folder is writable"
        ) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _warn_small_frames(sources: list[Source], infos: list[VideoInfo], size: int) -> None:
    for source, info in zip(sources, infos, strict=True):
        side = min(info.width, info.height)
        if side < SMALL_FRAME and side < size:
            warnings.warn(f"{source.path}: frames are {info.width}x{info.height} px; enlarged "
                          f"to {size}x{size} they will look blurred", stacklevel=3)


def _remove_stale_partials(target: Path) -> None:
    """Delete the hidden folders of earlier runs to `target` that were killed (kill -9, power
    loss) before they could clean up; those of runs still going are left alone."""
    for stale in target.parent.glob(f".{glob.escape(target.name)}.partial-*"):
        pid = stale.name.rpartition("-")[2]
        if pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process, or not a pid at all
        return True
    return True


def _check_output(
    out_dir: Path, target: Path, sources: Sequence[str | Path], overwrite: bool
) -> None:
    """Refuse outputs that overlap a source or would replace something that is not a dataset.

    `out_dir` is the path as given, for messages; `target` is its resolved form.
    """
    for source in sources:
        source_path = Path(source).resolve()
        if source_path.is_dir() and (target == source_path or source_path in target.parents):
            raise RecycleganError(f"{out_dir} is inside source {source}; write it elsewhere")
        if target in source_path.parents:
            raise RecycleganError(f"{out_dir} holds source {source}; write the dataset elsewhere")
    check_output_folder(out_dir, target, overwrite, lambda t: (t / MANIFEST_NAME).is_file(),
                        "a prepared dataset")


def _build(
    sources: list[Source],
    infos: list[VideoInfo],
    folder: Path,
    options: PrepareOptions,
    show_progress: bool,
) -> dict:
    clips: list[dict] = []
    records: list[dict] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(
        *columns, TimeElapsedColumn(), console=Console(stderr=True), disable=not show_progress
    ) as bar:
        for index, (source, info) in enumerate(zip(sources, infos, strict=True)):
            task = bar.add_task(source.path.name, total=info.frames)
            record = _prepare_source(
                index, source, info, options, folder, clips, partial(bar.advance, task)
            )
            records.append(record)
    return {
        "format": DATASET_FORMAT,
        "format_version": DATASET_FORMAT_VERSION,
        "tool_version": recyclegan.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **asdict(options),
        "sources": records,
        "clips": clips,
        "num_clips": len(clips),
        "num_frames": sum(clip["frames"] for clip in clips),
    }


def _face_squares(source: Source, options: PrepareOptions) -> list[Square | None]:
    """First pass of --face: the crop square of every (resampled) frame of `source`."""
    with closing(source.frames(options.image_fps)) as frames:
        images = (frame for _, frame in resample(frames, options.fps))
        track = track_faces(images, HaarFaceDetector(), margin=options.face_margin)
    return require_face(track, source.path).squares


def _prepare_source(
    index: int,
    source: Source,
    info: VideoInfo,
    options: PrepareOptions,
    folder: Path,
    clips: list[dict],
    advance: Callable[[], None],
) -> dict:
    """Stream one source into clip files appended to `clips`; return its manifest record."""
    splitter = _ClipSplitter(index, folder, options, clips)
    detector = SceneCutDetector(options.scene_threshold)
    decoded = 0

    def counted(frames: Iterator[tuple[float, np.ndarray]]):
        nonlocal decoded
        for item in frames:
            decoded += 1
            advance()
            yield item

    squares = _face_squares(source, options) if options.face else None
    with closing(source.frames(options.image_fps)) as frames:
        try:
            for index, (time, frame) in enumerate(resample(counted(frames), options.fps)):
                if squares is None:
                    square, face = center_square(frame, options.size), None
                else:
                    if index >= len(squares):
                        raise RecycleganError(f"{source.path}: decoded to more frames on the "
                                              "second pass than on the first")
                    face = squares[index]
                    if face is None:  # no face here: end the clip, drop the frame
                        splitter.skip()
                        continue
                    square = crop_square(frame, face, options.size)
                splitter.add(time, square, detector.is_cut(square), face)
                if options.max_frames is not None and splitter.total >= options.max_frames:
                    break
        finally:
            splitter.end_clip()
    if decoded == 0:
        raise RecycleganError(f"{source.path}: no decodable video frame")
    if not splitter.clip_ids:
        cut_note = " (longest scene between cuts)" if splitter.dropped > splitter.longest else ""
        raise RecycleganError(
            f"{source.path}: {splitter.longest} frames after preparation{cut_note}; a training "
            f"window needs at least {options.window_frames} (2*stride+1)"
        )
    return {
        "path": str(source.path.resolve()),
        "kind": source.kind,
        "source_fps": info.fps,
        "width": info.width,
        "height": info.height,
        "frames_decoded": decoded,
        "frames_kept": splitter.kept,
        "frames_dropped": splitter.dropped,
        "clips": splitter.clip_ids,
    }


class _ClipSplitter:
    """Writes one source's frames to clip files, starting a new clip at each scene cut.

    Scenes too short for one training window are deleted and counted as dropped.
    """

    def __init__(
        self, source: int, folder: Path, options: PrepareOptions, clips: list[dict]
    ) -> None:
        self.source, self.folder, self.options, self.clips = source, folder, options, clips
        self.kept = self.dropped = self.longest = 0
        self.clip_ids: list[int] = []
        self._writer: NpyFrameWriter | None = None
        self._start_time = 0.0
        self._faces: list[list[float]] = []

    @property
    def total(self) -> int:
        """Frames kept so far, counting the open clip."""
        return self.kept + (self._writer.count if self._writer else 0)

    def add(self, time: float, frame: np.ndarray, cut: bool, face: Square | None = None) -> None:
        if cut:
            self.end_clip()
        if self._writer is None:
            name = f"clip_{len(self.clips):05d}.npy"
            self._writer = NpyFrameWriter(self.folder / name, frame.shape)
            self._start_time = time
            self._faces = []
        self._writer.write(frame)
        if face is not None:
            self._faces.append([round(face.cx, 2), round(face.cy, 2), round(face.side, 2)])

    def skip(self) -> None:
        """A frame left out (no face): it ends the open clip and counts as dropped."""
        self.end_clip()
        self.dropped += 1

    def end_clip(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        self.longest = max(self.longest, writer.count)
        if writer.count < self.options.window_frames:
            writer.path.unlink()
            self.dropped += writer.count
            return
        self.clip_ids.append(len(self.clips))
        self.clips.append(
            {
                "file": writer.path.name,
                "source": self.source,
                "frames": writer.count,
                "start": self.kept,
                "end": self.kept + writer.count,
                "start_time": round(self._start_time, 6),
                "sha256": sha256_file(writer.path),
                **({"faces": self._faces} if self._faces else {}),
            }
        )
        self.kept += writer.count
