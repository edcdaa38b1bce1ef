"""`recyclegan synth`: a street-scene benchmark with exact labels, for image -> label translation.

Layout of the output folder DIR (clips are clip_000, clip_001, ...; PNG frames are
frame_000001.png, ... as `FrameFolderWriter` names them):

    palette.json              {"classes": [{"id": 0, "name": "sky", "color": [r, g, b]}, ...]}
    manifest.json             what was generated: options, fps, every clip's seed, tool version
    train/a/clip_000.mp4      domain A for training: RGB videos
    train/b/clip_000/         domain B for training: label-colour frames (PNG), of other clips
    val/rgb/clip_000.mp4      held-out RGB video
    val/labels/clip_000/      its label-colour frames (PNG)
    val/ids/clip_000.npy      its class ids, uint8 (frames, size, size)
    test/...                  as val

`clips` is the number of clips in each of train/a, train/b, val and test. Each split spawns
its own SeedSequence from `seed` and each clip a child of it, so no two clips anywhere share a
scene (train/a and train/b are unpaired) and a clip is rendered again by
`render_scene(frames, size, clip_seed)`. Videos are H.264 at crf 18; labels are PNG because
H.264's chroma subsampling would blur label colours. `recyclegan prepare` reads train/a and
train/b as they are.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import recyclegan
from recyclegan.data.scenes import CLASS_NAMES, FPS, PALETTE, render_scene
from recyclegan.data.video_io import FrameFolderWriter, StreamInfo, write_video
from recyclegan.errors import RecycleganError
from recyclegan.fileio import atomic_write_text, check_output_folder, install_folder

FORMAT = "recyclegan-synth"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
PALETTE_NAME = "palette.json"
SPLITS = ("train/a", "train/b", "val", "test")
CRF = 18


def synthesize(out_dir: str | Path, clips: int, frames: int, size: int, seed: int,
               overwrite: bool = False, progress: bool = True) -> dict:
    """Render `clips` clips per split into `out_dir` (layout above); return the manifest.

    Everything is written to a hidden sibling folder that moves into place only once complete,
    so a failed or interrupted run leaves nothing behind. `overwrite` replaces only a folder
    that this command made.
    """
    _check_options(clips, frames, size, seed)
    out_dir = Path(out_dir)
    target = out_dir.resolve()
    check_output_folder(out_dir, target, overwrite, _made_here, "a synth benchmark")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        manifest = _generate(partial, clips, frames, size, seed, progress)
        atomic_write_text(partial / PALETTE_NAME, _palette_json())
        atomic_write_text(partial / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
        install_folder(partial, target, MANIFEST_NAME)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def clip_seeds(seed: int, clips: int) -> dict[str, list[int]]:
    """The seed of every clip of every split; the first clips do not depend on `clips`."""
    streams = np.random.SeedSequence(seed).spawn(len(SPLITS))
    return {split: [int(child.generate_state(1, np.uint64)[0]) for child in stream.spawn(clips)]
            for split, stream in zip(SPLITS, streams, strict=True)}


def _palette_json() -> str:
    """The class table, one class a line."""
    rows = [json.dumps({"id": index, "name": name, "color": PALETTE[index].tolist()})
            for index, name in enumerate(CLASS_NAMES)]
    return '{"classes": [\n  ' + ",\n  ".join(rows) + "\n]}\n"


def _check_options(clips: int, frames: int, size: int, seed: int) -> None:
    if clips < 1:
        raise RecycleganError(f"--clips must be at least 1, got {clips}")
    if frames < 3:
        raise RecycleganError(f"--frames must be at least 3 (one training window), got {frames}")
    if size < 32 or size % 4:
        raise RecycleganError(f"--size must be a multiple of 4 and at least 32, got {size}")
    if seed < 0:
        raise RecycleganError(f"--seed must be 0 or positive, got {seed}")


def _made_here(target: Path) -> bool:
    try:
        return json.loads((target / MANIFEST_NAME).read_text()).get("format") == FORMAT
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


def _generate(folder: Path, clips: int, frames: int, size: int, seed: int,
              show_progress: bool) -> dict:
    seeds = clip_seeds(seed, clips)
    digits = max(3, len(str(clips - 1)))
    info = StreamInfo.constant_rate(size, size, FPS)
    splits: dict[str, list[dict]] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not show_progress) as bar:
        task = bar.add_task("synth", total=clips * len(SPLITS))
        for split in SPLITS:
            bar.update(task, description=split)
            records = splits[split] = []
            for index, clip_seed in enumerate(seeds[split]):
                name = f"clip_{index:0{digits}d}"
                clip = render_scene(frames, size, clip_seed)
                if split == "train/a":
                    files = {"rgb": _video(folder, f"{split}/{name}.mp4", clip.rgb)}
                elif split == "train/b":
                    files = {"labels": _frames(folder, f"{split}/{name}", clip.labels, info)}
                else:
                    files = {
                        "rgb": _video(folder, f"{split}/rgb/{name}.mp4", clip.rgb),
                        "labels": _frames(folder, f"{split}/labels/{name}", clip.labels, info),
                        "ids": f"{split}/ids/{name}.npy",
                    }
                    (folder / files["ids"]).parent.mkdir(parents=True, exist_ok=True)
                    np.save(folder / files["ids"], clip.ids)
                records.append({"name": name, "seed": clip_seed, **files})
                bar.advance(task)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": recyclegan.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "clips_per_split": clips,
        "frames": frames,
        "size": size,
        "fps": FPS,
        "crf": CRF,
        "classes": list(CLASS_NAMES),
        "splits": splits,
    }


def _video(folder: Path, name: str, frames: np.ndarray) -> str:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    write_video(folder / name, frames, FPS, crf=CRF)
    return name


def _frames(folder: Path, name: str, frames: np.ndarray, info: StreamInfo) -> str:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    with FrameFolderWriter(folder / name, info) as writer:
        for frame in frames:
            writer.write(frame)
    return name
