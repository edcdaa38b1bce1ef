"""What a run shows while it trains: TensorBoard scalars and sample strips (PNG)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from recyclegan.fileio import atomic_write_bytes

# Columns of a sample strip, left to right, with their header labels; those a preset does
# not compute are left out. x is the row's source domain, G its translator, P the predictor.
STRIP_COLUMNS = {"real0": "x t-1", "real1": "x t", "real2": "x t+1", "fake0": "G(x t-1)",
                 "fake1": "G(x t)", "pred2": "P: t+1", "rec2": "recycled", "rec0": "cycled"}


def to_uint8(images: Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8 RGB."""
    scaled = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def _header(labels: list[str], tile: int) -> np.ndarray:
    """A dark band with one label per column, sized to fit the tile width."""
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    widest = max(cv2.getTextSize(label, font, 1.0, thickness)[0][0] for label in labels)
    scale = min(0.5, (tile - 4) / widest)
    height = int(cv2.getTextSize("Xg", font, scale, thickness)[0][1] * 2) + 4
    band = np.full((height, tile * len(labels), 3), 32, np.uint8)
    for column, label in enumerate(labels):
        cv2.putText(band, label, (column * tile + 2, height - 5), font, scale, (230, 230, 230),
                    thickness, cv2.LINE_AA)
    return band


def sample_strip(rows: list[dict[str, Tensor]]) -> np.ndarray:
    """One row per direction: input window, translated frames, predicted next, recycled.

    Tiles of 48 px and more get a header band naming the columns.
    """
    names = [name for name in STRIP_COLUMNS if name in rows[0]]
    lines = [np.concatenate([to_uint8(images[name][:1])[0] for name in names], axis=1)
             for images in rows]
    tile = lines[0].shape[0]
    if tile >= 48:
        lines.insert(0, _header([STRIP_COLUMNS[name] for name in names], tile))
    return np.concatenate(lines, axis=0)


def write_png(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write_bytes(path, encoded.tobytes())


class MonitorWriteError(Exception):
    """Writing TensorBoard events or a sample strip failed (a full disk, most likely)."""

    def __init__(self, path: Path, what: str, error: OSError) -> None:
        super().__init__(f"{path}: cannot write {what} ({error.strerror or error})")


class Monitor:
    """TensorBoard scalars under RUN/tensorboard and strips under RUN/samples.

    Failures to write raise MonitorWriteError. TensorBoard writes events in a thread of its
    own; an OSError there is raised again by the next call here, so the thread's own
    traceback is not printed too.
    """

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import, only when training

        self.samples_dir = run_dir / "samples"
        self.events_dir = run_dir / "tensorboard"
        _quiet_event_writer_threads()
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        with self._events():
            self.writer = SummaryWriter(str(self.events_dir))

    @contextlib.contextmanager
    def _events(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise MonitorWriteError(self.events_dir, "the TensorBoard events", error) from None

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with self._events():
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def strip(self, step: int, rows: list[dict[str, Tensor]]) -> Path:
        path = self.samples_dir / f"step_{step:08d}.png"
        try:
            write_png(path, sample_strip(rows))
        except OSError as error:
            raise MonitorWriteError(path, "the sample strip", error) from None
        return path

    def close(self) -> None:
        with self._events():
            self.writer.flush()
            self.writer.close()


def _quiet_event_writer_threads() -> None:
    """Leave an OSError in TensorBoard's writer thread unprinted: the thread keeps it, and
    the writer's next call in the training thread raises it (see Monitor). Other threads'
    errors go to the hook as before. Installed once; it stays, as the thread may end late."""
    previous = threading.excepthook
    if getattr(previous, "quiets_event_writers", False):
        return
    try:  # a private class: if a TensorBoard release renames it, its traceback may show
        from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread
    except ImportError:
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if not (isinstance(args.thread, _AsyncWriterThread)
                and isinstance(args.exc_value, OSError)):
            previous(args)

    hook.quiets_event_writers = True  # type: ignore[attr-defined]
    threading.excepthook = hook
