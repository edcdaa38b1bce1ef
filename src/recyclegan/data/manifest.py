"""The prepared dataset's manifest: its format, and reading it back with every clip checked
(its shape, and its bytes against the SHA-256 the manifest records).

Kept apart from `prepare` so that training reads datasets without importing the decoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recyclegan.errors import RecycleganError
from recyclegan.fileio import sha256_file

DATASET_FORMAT = "recyclegan-dataset"
DATASET_FORMAT_VERSION = 2  # 2: every clip carries the sha256 of its file
MANIFEST_NAME = "manifest.json"


def load_manifest(root: str | Path) -> dict:
    """Read and check a prepared dataset's manifest, including every clip file's shape."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise RecycleganError(
            f"{root}: not a folder; a prepared dataset is the folder `recyclegan prepare` writes"
        )
    if not root.is_dir():
        raise RecycleganError(
            f"{root}: no such dataset folder; create one with `recyclegan prepare`"
        )
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise RecycleganError(
            f"{root} is not a prepared dataset (no {MANIFEST_NAME}); "
            "create one with `recyclegan prepare`"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecycleganError(f"{path}: unreadable ({error}); prepare the dataset again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != DATASET_FORMAT:
        raise RecycleganError(f"{path} is not a recyclegan dataset manifest; prepare it again")
    if manifest.get("format_version") != DATASET_FORMAT_VERSION:
        raise RecycleganError(
            f"{path}: dataset format version {manifest.get('format_version')} is not supported "
            f"(this recyclegan reads version {DATASET_FORMAT_VERSION}); prepare it again"
        )
    try:
        size, stride = int(manifest["size"]), int(manifest["stride"])
        clips = [(root / clip["file"], int(clip["frames"]), str(clip["sha256"]))
                 for clip in manifest["clips"]]
    except (KeyError, TypeError, ValueError) as error:
        raise RecycleganError(f"{path} is incomplete ({error!r}); prepare it again") from None
    if size < 1 or stride < 1:
        raise RecycleganError(f"{path} has size {size}, stride {stride}; prepare it again")
    for clip_path, frames, checksum in clips:
        expected = (frames, size, size, 3)
        try:
            array = np.load(clip_path, mmap_mode="r")
        except FileNotFoundError:
            raise RecycleganError(f"{clip_path} is missing; prepare the dataset again") from None
        except (OSError, ValueError) as error:
            raise RecycleganError(
                f"{clip_path}: unreadable ({error}); prepare the dataset again"
            ) from None
        if array.shape != expected or array.dtype != np.uint8:
            raise RecycleganError(
                f"{clip_path} holds {array.dtype} {array.shape}, but the manifest says uint8 "
                f"{expected}; prepare the dataset again"
            )
        if sha256_file(clip_path) != checksum:
            raise RecycleganError(f"{clip_path} does not match its checksum in {MANIFEST_NAME}: "
                                  "the file was changed or damaged; prepare the dataset again")
    return manifest
