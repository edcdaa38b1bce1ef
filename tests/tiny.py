"""Small builders shared by the training tests: synthetic datasets and tiny-model overrides."""

from __future__ import annotations

from pathlib import Path

from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.data.video_io import write_video


def make_dataset(root: Path, style: str, size: int = 32, clips: int = 2, frames: int = 10,
                 seed: int = 0) -> Path:
    """Write `clips` synthetic mp4 videos of one domain and prepare them as a dataset."""
    videos = root / f"videos_{style}_{size}"
    videos.mkdir(parents=True, exist_ok=True)
    for clip in range(clips):
        write_video(videos / f"{style}{clip}.mp4",
                    moving_shapes_clip(frames, size, seed=seed + clip, style=style), fps=10)
    out = root / f"data_{style}_{size}"
    prepare_dataset([videos], out, PrepareOptions(size=size), progress=False)
    return out


def tiny_overrides(steps: int, **train) -> dict:
    """A tiny, fast, deterministic configuration for CPU tests."""
    return {
        "model_size": "tiny",
        "train": {"steps": steps, "device": "cpu", "pool_size": 4, "sample_every": 1000,
                  "checkpoint_every": 1000, "log_every": 1, **train},
    }


def one_step_run(root: Path) -> tuple[Path, Path, Path]:
    """Two 32 px datasets under `root` and a tiny run trained on them for one step:
    (dataset A, dataset B, run folder)."""
    from recyclegan.training.run import train_run  # slow import, only where a run is made

    data_a, data_b = make_dataset(root, "a"), make_dataset(root, "b")
    train_run(data_a, data_b, root / "run", tiny_overrides(1), progress=False)
    return data_a, data_b, root / "run"
