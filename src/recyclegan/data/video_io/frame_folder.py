"""Writing frames as a folder of numbered PNG images."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from recyclegan.data.video_io.common import CommitOnExit, StreamInfo, refuse_input_as_output
from recyclegan.errors import RecycleganError


class FrameFolderWriter(CommitOnExit):
    """Write RGB frames as frame_000001.png, frame_000002.png, ... into the folder `path`.

    Frames go to a hidden temporary folder beside `path`, renamed by `close`, so `path` only
    ever holds a complete sequence. An existing `path` must be an empty folder. `pts` is
    accepted for symmetry with VideoWriter and ignored: PNG files carry no time.
    """

    def __init__(
        self, path: str | Path, info: StreamInfo, size: tuple[int, int] | None = None
    ) -> None:
        self.path = Path(path)
        self.frames = 0
        refuse_input_as_output(self.path, info.source)
        if self.path.exists() and not (self.path.is_dir() and not any(self.path.iterdir())):
            raise RecycleganError(
                f"{self.path}: already exists; remove it or choose another output folder"
            )
        width, height = size or (info.width, info.height)
        self._shape = (height, width)
        try:
            self._temporary: Path | None = Path(
                tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial",
                                 dir=self.path.parent)
            )
        except OSError as error:
            raise RecycleganError(
                f"{self.path}: cannot create the folder ({error.strerror or error})"
            ) from None

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        check_frame(self.path, image, self._shape)
        name = f"frame_{self.frames + 1:06d}.png"
        # Encoded here and written by Python, so that a full disk is an OSError naming its
        # cause (cv2.imwrite returns False and libpng prints to stderr instead).
        encoded, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not encoded:
            raise RecycleganError(f"{self.path}: cannot encode {name} as PNG")
        try:
            (self._temporary / name).write_bytes(png.data)
        except OSError as error:
            raise RecycleganError(
                f"{self.path}: cannot write {name} ({error.strerror or error}); check the free "
                "disk space"
            ) from None
        self.frames += 1

    def close(self) -> None:
        """Move the finished frames to `path`."""
        if self._temporary is None:
            return
        try:
            if not self.frames:
                raise RecycleganError(f"{self.path}: no frames to write")
            if self.path.is_dir():
                self.path.rmdir()  # empty, as checked when opening
            os.replace(self._temporary, self.path)
            self._temporary = None
        except OSError as error:
            self.abort()
            raise RecycleganError(
                f"{self.path}: cannot finish the folder ({error.strerror or error})"
            ) from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop writing and delete the temporary folder."""
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None


def check_frame(path: Path, frame: np.ndarray, shape: tuple[int, int] | None) -> tuple[int, int]:
    """Check `frame` is RGB uint8 HxWx3 of `shape` (height, width) if given; return its size."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise RecycleganError(
            f"{path}: frames must be uint8 HxWx3 RGB, got {frame.dtype} {frame.shape}"
        )
    if shape is not None and frame.shape[:2] != shape:
        raise RecycleganError(
            f"{path}: frame size changed from {shape[1]}x{shape[0]} "
            f"to {frame.shape[1]}x{frame.shape[0]}; all frames of a video must match"
        )
    return frame.shape[0], frame.shape[1]
