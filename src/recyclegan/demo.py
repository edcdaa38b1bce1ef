"""`recyclegan demo`: the smallest real end-to-end path, with no data from the user.

Two synthetic domains (bright discs on blue gradients; dark squares on warm backgrounds,
moving the same way) are written as mp4 files, prepared like any user video, and a small
Recycle-GAN trains on them. Sample strips show the translation as it is learned.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.data.video_io import write_video
from recyclegan.errors import RecycleganError
from recyclegan.training.run import train_run

SIZE = 64
CLIPS_PER_DOMAIN = 2
FRAMES_PER_CLIP = 48
FPS = 12.0


def _check_output(out_dir: Path, overwrite: bool) -> None:
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return
    if not overwrite:
        raise RecycleganError(f"{out_dir} exists and is not empty; pass --overwrite to "
                              "replace it")
    if not (out_dir / "run" / "config.yaml").is_file() and not (out_dir / "videos").is_dir():
        raise RecycleganError(f"{out_dir} does not look like a demo folder; refusing to "
                              "delete it, choose another -o")
    shutil.rmtree(out_dir)


def run_demo(out_dir: Path, steps: int = 300, overwrite: bool = False,
             progress: bool = True) -> Path:
    """Write videos, datasets and a trained run under `out_dir`; return the run folder."""
    out_dir = Path(out_dir)
    _check_output(out_dir, overwrite)
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    datasets = {}
    for domain in ("a", "b"):
        folder = videos / domain
        folder.mkdir(exist_ok=True)
        for clip in range(CLIPS_PER_DOMAIN):
            frames = moving_shapes_clip(FRAMES_PER_CLIP, SIZE, seed=10 * clip + ord(domain),
                                        style=domain)
            write_video(folder / f"{domain}_{clip}.mp4", frames, fps=FPS)
        datasets[domain] = out_dir / f"data_{domain}"
        prepare_dataset([folder], datasets[domain], PrepareOptions(size=SIZE),
                        progress=progress)
    run_dir = out_dir / "run"
    overrides = {"model_size": "small",
                 "train": {"steps": steps, "sample_every": max(1, steps // 6),
                           "checkpoint_every": steps}}
    result = train_run(datasets["a"], datasets["b"], run_dir, overrides, progress=progress)
    samples = sorted((run_dir / "samples").glob("*.png"))
    print(f"demo: trained {result.step} steps in {run_dir}")
    print(f"demo: sample strips in {run_dir / 'samples'} (latest: {samples[-1].name}); each "
          "row is input frames, translated frames, predicted next frame, recycled frame")
    print(f"demo: TensorBoard: tensorboard --logdir {run_dir / 'tensorboard'}")
    return run_dir
