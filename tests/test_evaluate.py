"""`recyclegan evaluate`: its figures equal a direct computation with the metrics module."""

import json

import cv2
import numpy as np
import pytest

from recyclegan.cli import main
from recyclegan.data.video_io import VideoReader, write_video
from recyclegan.errors import RecycleganError
from recyclegan.inference.evaluate import evaluate, load_palette
from recyclegan.inference.translate import Retargeter
from recyclegan.metrics import VideoWarpingError, confusion_matrix, scores
from recyclegan.training.run import train_run
from tiny import make_dataset, tiny_overrides

COLORS = np.array([[220, 30, 30], [30, 200, 40], [40, 40, 220]], np.uint8)
FRAMES, SIZE = 8, 32


def bands(shift: int) -> np.ndarray:
    """Class ids in vertical bands that slide one pixel per frame."""
    columns = (np.arange(SIZE) + shift) // 11 % 3
    return np.broadcast_to(columns, (SIZE, SIZE)).astype(np.uint8)


@pytest.fixture
def bench(tmp_path):
    """One clip: an RGB input video, its ids, a label-colour folder and a flawed prediction."""
    ids = np.stack([bands(t) for t in range(FRAMES)])
    rng = np.random.default_rng(0)
    rgb = (COLORS[ids] * 0.6 + rng.integers(0, 60, ids.shape + (3,))).astype(np.uint8)
    (tmp_path / "rgb").mkdir()
    write_video(tmp_path / "rgb" / "clip_000.mp4", rgb, fps=10)
    (tmp_path / "ids").mkdir()
    np.save(tmp_path / "ids" / "clip_000.npy", ids)
    (tmp_path / "colors" / "clip_000").mkdir(parents=True)
    predicted = ids.copy()
    predicted[:, :, :5] = 2  # a wrong band on the left
    (tmp_path / "pred" / "clip_000").mkdir(parents=True)
    for t in range(FRAMES):
        for folder, frame_ids in (("colors", ids[t]), ("pred", predicted[t])):
            path = tmp_path / folder / "clip_000" / f"frame_{t + 1:06d}.png"
            cv2.imwrite(str(path), cv2.cvtColor(COLORS[frame_ids], cv2.COLOR_RGB2BGR))
    palette = {"classes": [{"id": k, "name": name, "color": COLORS[k].tolist()}
                           for k, name in enumerate(["road", "tree", "sky"])]}
    (tmp_path / "palette.json").write_text(json.dumps(palette))
    return tmp_path, ids, predicted


def direct(tmp_path, ids, outputs):
    """Scores computed straight from the arrays and the decoded input video."""
    predicted = [np.argmin(((o[:, :, None, :].astype(int) - COLORS.astype(int)) ** 2).sum(-1),
                           axis=-1) for o in outputs]
    confusion = sum(confusion_matrix(t, p, 3) for t, p in zip(ids, predicted, strict=True))
    meter = VideoWarpingError()
    with VideoReader(tmp_path / "rgb" / "clip_000.mp4") as reader:
        for frame, out in zip(reader, outputs, strict=True):
            meter.update(frame.image, out)
    return scores(confusion), meter.result()


def test_predictions_are_scored_as_computed_directly(bench):
    root, ids, predicted = bench
    palette = load_palette(root / "palette.json")
    report = evaluate([root / "rgb"], root / "ids", palette, predictions=root / "pred")
    expected, warping = direct(root, ids, COLORS[predicted])
    clip = report["clips"][0]
    assert clip["frames"] == FRAMES
    for key in ("pixel_accuracy", "class_accuracy", "mean_iou"):
        assert clip[key] == pytest.approx(expected[key])
        assert report["overall"][key] == pytest.approx(expected[key])
    assert clip["pixel_accuracy"] == pytest.approx(100 * (SIZE - 5) / SIZE, abs=3)
    assert clip["warping_ratio"] == pytest.approx(warping["ratio"])
    # Ground truth as label-colour frames gives the same scores as exact ids.
    by_color = evaluate([root / "rgb"], root / "colors", palette, predictions=root / "pred")
    assert by_color["clips"][0]["mean_iou"] == pytest.approx(clip["mean_iou"])


def test_a_run_is_scored_as_its_translations(bench, tmp_path_factory):
    root, ids, _ = bench
    data = tmp_path_factory.mktemp("data")
    run_dir = data / "run"
    train_run(make_dataset(data, "a"), make_dataset(data, "b"), run_dir, tiny_overrides(1),
              progress=False)
    retargeter = Retargeter.from_run(run_dir, device="cpu")
    report = evaluate([root / "rgb" / "clip_000.mp4"], root / "ids",
                      load_palette(root / "palette.json"), retargeter=retargeter)
    with VideoReader(root / "rgb" / "clip_000.mp4") as reader:
        outputs = list(retargeter.translate_frames(f.image for f in reader))
    expected, warping = direct(root, ids, outputs)
    assert report["clips"][0]["mean_iou"] == pytest.approx(expected["mean_iou"])
    assert report["clips"][0]["warping_error"] == pytest.approx(warping["output"])


def test_cli_writes_the_report_and_refuses_bad_input(bench, capsys):
    root, _, _ = bench
    report_path = root / "report.json"
    argv = ["evaluate", "--pred", str(root / "pred"), "--input", str(root / "rgb"),
            "--labels", str(root / "ids"), "-o", str(report_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "clip_000" in out and "mIoU" in out
    saved = json.loads(report_path.read_text())
    assert saved["source"] == {"predictions": str(root / "pred")}
    assert saved["classes"] == ["road", "tree", "sky"]
    assert main(argv) == 1  # the report exists
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite", "--stabilize", "flow"]) == 1
    assert "--stabilize applies to translating with a run" in capsys.readouterr().err
    (root / "pred" / "clip_000" / "frame_000008.png").unlink()
    assert main(argv + ["--overwrite"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different frame counts" in err[0]


def test_missing_pieces(bench):
    root, _, _ = bench
    palette = load_palette(root / "palette.json")
    with pytest.raises(RecycleganError, match="no ground truth for clip_000"):
        evaluate([root / "rgb"], root / "pred" / "clip_000", palette, predictions=root / "pred")
    with pytest.raises(RecycleganError, match="either a run"):
        evaluate([root / "rgb"], root / "ids", palette)
    (root / "bad.json").write_text("{}")
    with pytest.raises(RecycleganError, match="not a readable palette"):
        load_palette(root / "bad.json")
