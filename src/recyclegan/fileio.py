"""Atomic writes: a file or folder appears under its final name only when complete."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from recyclegan.errors import RecycleganError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def temporary_beside(path: Path, prefix: str | None = None) -> Path:
    """Create an empty hidden file beside `path` whose name ends in `.partial<suffix>`.

    Its permissions are those a plain `open` would give (mkstemp's are owner-only), so the
    file keeps them when renamed to `path`.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=prefix or f".{path.name}.",
                                suffix=f".partial{path.suffix}", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
    finally:
        os.close(fd)
    return Path(name)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, flush it, then rename it to `path`.

    The temporary name keeps `path`'s suffix so that writers choosing a format by
    extension (PNG, safetensors) still work.
    """
    tmp = temporary_beside(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while piece := handle.read(4 << 20):
            digest.update(piece)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def install_folder(partial: Path, target: Path, last: str) -> None:
    """Move the finished folder `partial` to `target`, replacing an old one only on success.

    An existing empty `target` is filled in place instead (it may be the shell's working
    folder), with the entry named `last` (a manifest) moved last, so that the folder only
    looks complete once it is.
    """
    if not target.exists():
        os.replace(partial, target)
        return
    if not any(target.iterdir()):
        names = [p.name for p in partial.iterdir() if p.name != last] + [last]
        try:
            for name in names:
                os.replace(partial / name, target / name)
        except BaseException:
            for name in names:
                moved = target / name
                if moved.is_dir():
                    shutil.rmtree(moved, ignore_errors=True)
                else:
                    moved.unlink(missing_ok=True)
            raise
        partial.rmdir()
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    try:
        os.replace(partial, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def check_output_folder(shown: Path, target: Path, overwrite: bool,
                        ours: Callable[[Path], bool], what: str) -> None:
    """Refuse to write a folder over anything but an empty folder or, with `overwrite`, an
    earlier output of the same kind (`ours(target)`), so --overwrite never deletes a user's
    other files. `shown` is the path as the user gave it, for messages."""
    if not target.exists():
        return
    if not target.is_dir():
        raise RecycleganError(f"{shown} exists and is not a folder; choose another output")
    if not any(target.iterdir()):
        return
    if not overwrite:
        raise RecycleganError(f"{shown} exists and is not empty; pass --overwrite to replace it")
    if not ours(target):
        raise RecycleganError(f"{shown} is not empty and is not {what}; --overwrite only "
                              "replaces those, so choose another output folder")
