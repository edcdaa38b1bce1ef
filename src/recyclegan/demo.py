"""`recyclegan demo`: the whole path, with no data from the user, in a few minutes.

Two synthetic domains that a person tells apart at once (A: bright discs gliding over a
blue gradient; B: dark squares over a warm background, moving the same way) are written as
mp4 files, prepared like any user video, and a small Recycle-GAN trains on them within the
time given. A held-out clip of A is then retargeted into B's look.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.data.video_io import iter_video_frames, write_video
from recyclegan.errors import RecycleganError
from recyclegan.fileio import check_output_folder
from recyclegan.inference.retarget import retarget_paths
from recyclegan.inference.translate import Retargeter
from recyclegan.training.monitor import write_png
from recyclegan.training.run import train_run

SIZE = 64
CLIPS_PER_DOMAIN = 3
FRAMES_PER_CLIP = 48
HELD_OUT_FRAMES = 96
FPS = 12.0
WARMUP_STEPS = 3
CALIBRATION_STEPS = 10
# Setting up, preparing and retargeting take about this long on 2 CPU cores; the training
# budget is what remains of --minutes.
OVERHEAD_S = 45.0
MIN_TRAIN_S = 10.0


@dataclass
class DemoResult:
    run_dir: Path
    steps: int
    out_video: Path
    side_by_side: Path
    strip: Path


def _check_output(out_dir: Path, overwrite: bool) -> None:
    check_output_folder(out_dir, out_dir, overwrite, lambda t: (t / "videos").is_dir(),
                        "a demo folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        shutil.rmtree(out_dir)  # an earlier demo, replaced as --overwrite asked


def _write_domains(videos: Path) -> dict[str, Path]:
    folders = {}
    for domain in ("a", "b"):
        folder = folders[domain] = videos / domain
        folder.mkdir(parents=True, exist_ok=True)
        for clip in range(CLIPS_PER_DOMAIN):
            frames = moving_shapes_clip(FRAMES_PER_CLIP, SIZE, seed=10 * clip + ord(domain),
                                        style=domain)
            write_video(folder / f"{domain}_{clip}.mp4", frames, fps=FPS)
    return folders


def _train_within(budget_s: float, data_a: Path, data_b: Path, run_dir: Path,
                  progress: bool) -> int:
    """Time a few steps, then train as many as fit in `budget_s` (lr decays over the 2nd half).

    The first steps warm up (allocations, cuDNN's algorithm search) and are not timed. All
    of them run at the constant learning rate, so they are the first steps of the same
    schedule: the result is one ordinary run.
    """
    train = {"lr_decay_start": 10**9, "checkpoint_every": 10**9, "sample_every": 10**9}
    overrides = {"model_size": "small", "train": {"steps": WARMUP_STEPS, **train}}
    train_run(data_a, data_b, run_dir, overrides, progress=False)
    overrides["train"]["steps"] = WARMUP_STEPS + CALIBRATION_STEPS
    timed = train_run(data_a, data_b, run_dir, overrides, resume=True, progress=False)
    per_step = timed.seconds / CALIBRATION_STEPS
    steps = max(WARMUP_STEPS + CALIBRATION_STEPS + 1, int(budget_s / per_step))
    if progress:
        print(f"demo: {per_step:.2f} s per step here, so {steps} steps fit the time given")
    overrides["train"] = {"steps": steps, "lr_decay_start": steps // 2,
                          "checkpoint_every": steps, "sample_every": max(1, steps // 8)}
    train_run(data_a, data_b, run_dir, overrides, resume=True, progress=progress)
    return steps


def _strip(source: Path, translated: Path, every: int = 16) -> np.ndarray:
    """Two rows of frames 0, every, 2*every, ...: the input above its translation."""
    rows = []
    for path in (source, translated):
        frames = [frame for index, (_, frame) in enumerate(iter_video_frames(path))
                  if index % every == 0]
        rows.append(np.concatenate(frames, axis=1))
    return np.concatenate(rows, axis=0)


def run_demo(out_dir: Path, minutes: float = 6.0, overwrite: bool = False,
             progress: bool = True) -> DemoResult:
    """Write videos, datasets, a trained run and the retargeted held-out clip under `out_dir`."""
    if not minutes > 0:
        raise RecycleganError(f"--minutes must be positive, got {minutes}")
    started = time.monotonic()
    out_dir = Path(out_dir)
    _check_output(out_dir, overwrite)
    existed = out_dir.is_dir()  # and empty, or an earlier demo _check_output has removed
    try:
        return _demo(out_dir, minutes, started, progress)
    except BaseException:
        _remove_half_demo(out_dir, existed)
        raise


def _remove_half_demo(out_dir: Path, keep_folder: bool) -> None:
    """An error or Ctrl-C midway leaves half a demo, of no use: remove it (the folder held
    nothing else), keeping the folder itself if the user had made it."""
    if not keep_folder:
        shutil.rmtree(out_dir, ignore_errors=True)
        return
    for entry in out_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _demo(out_dir: Path, minutes: float, started: float, progress: bool) -> DemoResult:
    videos = out_dir / "videos"
    folders = _write_domains(videos)
    held_out = videos / "held_out_a.mp4"
    write_video(held_out, moving_shapes_clip(HELD_OUT_FRAMES, SIZE, seed=99, style="a"),
                fps=FPS)
    datasets = {}
    for domain, folder in folders.items():
        datasets[domain] = out_dir / f"data_{domain}"
        prepare_dataset([folder], datasets[domain], PrepareOptions(size=SIZE),
                        progress=progress)

    run_dir = out_dir / "run"
    budget = minutes * 60 - OVERHEAD_S - (time.monotonic() - started)
    steps = _train_within(max(budget, MIN_TRAIN_S), datasets["a"], datasets["b"], run_dir, progress)

    retargeter = Retargeter.from_run(run_dir, direction="a2b")
    out_video, side_by_side = out_dir / "out.mp4", out_dir / "side_by_side.mp4"
    retarget_paths(retargeter, [held_out], out_video, progress=False)
    retarget_paths(retargeter, [held_out], side_by_side, side_by_side=True, progress=False)
    strip = out_dir / "strip.png"
    write_png(strip, _strip(held_out, out_video))
    return DemoResult(run_dir=run_dir, steps=steps, out_video=out_video,
                      side_by_side=side_by_side, strip=strip)
