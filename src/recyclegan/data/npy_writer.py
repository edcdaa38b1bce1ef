"""Streaming writer for .npy files whose first dimension is only known at the end."""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType

import numpy as np

_MAGIC = b"\x93NUMPY\x01\x00"  # format version 1.0: the header length is a uint16
# Total header size (magic + length + dict), reserved up front and rewritten in place at the
# end. 128 bytes leave room for any realistic shape; numpy wants a multiple of 64.
_HEADER_SIZE = 128


def _header(shape: tuple[int, ...]) -> bytes:
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape!r}, }}"
    room = _HEADER_SIZE - len(_MAGIC) - 2
    if len(text) + 1 > room:
        raise ValueError(f"shape {shape} does not fit in a {_HEADER_SIZE}-byte .npy header")
    body = (text.ljust(room - 1) + "\n").encode("latin1")
    return _MAGIC + struct.pack("<H", room) + body


class NpyFrameWriter:
    """Append uint8 frames of one shape to a .npy file of shape (frames, *frame_shape).

    Memory stays constant however many frames are written: each frame goes straight to
    disk, and `close` rewrites the reserved header with the final count. The result loads
    with `np.load(path, mmap_mode="r")`.
    """

    def __init__(self, path: str | Path, frame_shape: tuple[int, ...]) -> None:
        self.path = Path(path)
        self.frame_shape = tuple(frame_shape)
        self.count = 0
        self._file = open(self.path, "wb")
        self._file.write(_header((0, *self.frame_shape)))

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 frame of shape {self.frame_shape}, "
                f"got {frame.dtype} {frame.shape}"
            )
        self._file.write(np.ascontiguousarray(frame).data)
        self.count += 1

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._file.seek(0)
            self._file.write(_header((self.count, *self.frame_shape)))
        finally:
            self._file.close()

    def __enter__(self) -> NpyFrameWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
