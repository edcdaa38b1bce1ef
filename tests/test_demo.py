"""The demo's whole path, shrunk: synthetic videos, prepare, timed training, retarget."""

import pytest

from recyclegan import demo
from recyclegan.data.video_io import probe_video
from recyclegan.errors import RecycleganError


def test_demo_writes_its_videos_and_strip(tmp_path, monkeypatch):
    for name, value in (("SIZE", 32), ("FRAMES_PER_CLIP", 10), ("HELD_OUT_FRAMES", 20),
                        ("WARMUP_STEPS", 1), ("CALIBRATION_STEPS", 2), ("MIN_TRAIN_S", 0.5),
                        ("OVERHEAD_S", 0.0)):
        monkeypatch.setattr(demo, name, value)
    result = demo.run_demo(tmp_path / "demo", minutes=0.01, progress=False)
    assert result.steps >= 4  # warm-up and calibration steps, then the timed ones
    out, pair = probe_video(result.out_video), probe_video(result.side_by_side)
    assert out.frames == 20 and (out.width, out.height) == (32, 32)
    assert (pair.width, pair.height) == (64, 32)
    assert result.strip.is_file()
    assert (result.run_dir / "checkpoints" / f"step_{result.steps:08d}.safetensors").is_file()
    with pytest.raises(RecycleganError, match="--overwrite"):
        demo.run_demo(tmp_path / "demo", minutes=0.01, progress=False)


def test_overwrite_never_deletes_a_folder_that_is_not_a_demo(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(RecycleganError, match="is not a demo folder"):
        demo.run_demo(mine, minutes=0.01, overwrite=True, progress=False)
    assert (mine / "thesis.tex").read_text() == "precious"
