"""What a run shows while it trains: TensorBoard scalars and sample strips (PNG)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from recyclegan.fileio import atomic_write_bytes

# Columns of a sample strip, left to right; those a preset does not compute are left out.
STRIP_COLUMNS = ("real0", "real1", "real2", "fake0", "fake1", "pred2", "rec2", "rec0")


def to_uint8(images: Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8 RGB."""
    scaled = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def sample_strip(rows: list[dict[str, Tensor]]) -> np.ndarray:
    """One row per direction: input window, translated frames, predicted next, recycled."""
    lines = []
    for images in rows:
        tiles = [to_uint8(images[name][:1])[0] for name in STRIP_COLUMNS if name in images]
        lines.append(np.concatenate(tiles, axis=1))
    width = max(line.shape[1] for line in lines)
    padded = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0))) for line in lines]
    return np.concatenate(padded, axis=0)


def write_png(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write_bytes(path, encoded.tobytes())


class Monitor:
    """TensorBoard scalars under RUN/tensorboard and strips under RUN/samples."""

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import, only when training

        self.samples_dir = run_dir / "samples"
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def strip(self, step: int, rows: list[dict[str, Tensor]]) -> Path:
        path = self.samples_dir / f"step_{step:08d}.png"
        write_png(path, sample_strip(rows))
        return path

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
