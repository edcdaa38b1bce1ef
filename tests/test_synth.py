from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import recyclegan.synth as synth
from recyclegan.data.prepare import PrepareOptions, prepare_dataset
from recyclegan.data.scenes import CLASS_NAMES, PALETTE, render_scene
from recyclegan.data.video_io import iter_video_frames, probe_video
from recyclegan.errors import RecycleganError
from recyclegan.synth import SPLITS, clip_seeds, synthesize

CLIPS, FRAMES, SIZE = 2, 6, 32


def make(out: Path, **options) -> dict:
    return synthesize(out, **{"clips": CLIPS, "frames": FRAMES, "size": SIZE, "seed": 1,
                              "progress": False, **options})


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "bench"
    make(out)
    return out


def read_png(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_layout(bench):
    names = ["clip_000", "clip_001"]
    assert sorted(p.name for p in bench.iterdir()) == [
        "manifest.json", "palette.json", "test", "train", "val"]
    assert sorted(p.name for p in (bench / "train/a").iterdir()) == [f"{n}.mp4" for n in names]
    assert sorted(p.name for p in (bench / "train/b").iterdir()) == names
    for split in ("val", "test"):
        assert sorted(p.name for p in (bench / split).iterdir()) == ["ids", "labels", "rgb"]
        assert sorted(p.name for p in (bench / split / "rgb").iterdir()) == [
            f"{n}.mp4" for n in names]
        assert sorted(p.name for p in (bench / split / "ids").iterdir()) == [
            f"{n}.npy" for n in names]
    assert not [p for p in bench.parent.iterdir() if p.name.startswith(".")]


def test_palette_json(bench):
    classes = json.loads((bench / "palette.json").read_text())["classes"]
    assert [c["id"] for c in classes] == list(range(len(CLASS_NAMES)))
    assert [c["name"] for c in classes] == list(CLASS_NAMES)
    assert [c["color"] for c in classes] == PALETTE.tolist()


def test_manifest_seeds_are_disjoint_and_reproducible(bench):
    manifest = json.loads((bench / "manifest.json").read_text())
    assert manifest["format"] == synth.FORMAT
    assert (manifest["clips_per_split"], manifest["frames"], manifest["size"]) == (
        CLIPS, FRAMES, SIZE)
    assert manifest["fps"] > 0 and manifest["tool_version"]
    seeds = {split: [clip["seed"] for clip in manifest["splits"][split]] for split in SPLITS}
    assert seeds == clip_seeds(1, CLIPS)
    every = [seed for split in SPLITS for seed in seeds[split]]
    assert len(every) == 4 * CLIPS and len(set(every)) == len(every)
    assert clip_seeds(1, 3)["val"][:CLIPS] == seeds["val"], "more clips extend the same splits"
    assert clip_seeds(2, CLIPS)["val"] != seeds["val"]
    for split in SPLITS:
        for clip in manifest["splits"][split]:
            for key in ("rgb", "labels", "ids"):
                assert key not in clip or (bench / clip[key]).exists()


def test_videos_frames_and_ids(bench):
    manifest = json.loads((bench / "manifest.json").read_text())
    for video in [*(bench / "train/a").glob("*.mp4"), *(bench / "val/rgb").glob("*.mp4")]:
        info = probe_video(video)
        assert (info.width, info.height, info.frames) == (SIZE, SIZE, FRAMES)
    for folder in (bench / "train/b").iterdir():
        assert len(list(folder.glob("*.png"))) == FRAMES
    clip = manifest["splits"]["test"][1]
    ids = np.load(bench / clip["ids"])
    assert ids.shape == (FRAMES, SIZE, SIZE) and ids.dtype == np.uint8
    labels = np.stack([read_png(p) for p in sorted((bench / clip["labels"]).glob("*.png"))])
    assert np.array_equal(labels, PALETTE[ids]), "label PNGs are lossless"
    scene = render_scene(FRAMES, SIZE, clip["seed"])
    assert np.array_equal(scene.ids, ids)
    decoded = np.stack([image for _, image in iter_video_frames(bench / clip["rgb"])])
    assert np.abs(decoded.astype(int) - scene.rgb).mean() < 8


def test_train_folders_feed_prepare(bench, tmp_path):
    for domain in ("a", "b"):
        manifest = prepare_dataset([bench / "train" / domain], tmp_path / domain,
                                   PrepareOptions(size=SIZE), progress=False)
        assert manifest["num_clips"] == CLIPS
        assert [clip["frames"] for clip in manifest["clips"]] == [FRAMES] * CLIPS


def test_refuses_existing_output(tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RecycleganError, match="--overwrite"):
        make(out)
    with pytest.raises(RecycleganError, match="not a synth benchmark"):
        make(out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_fills_an_empty_folder_and_overwrites_a_benchmark(tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    make(out, clips=1, frames=3)
    with pytest.raises(RecycleganError):
        make(out, clips=1, frames=3)
    manifest = make(out, clips=1, frames=4, overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["frames"] == manifest["frames"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["bench"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_failure_leaves_nothing_behind(tmp_path, monkeypatch, overwrite):
    out = tmp_path / "bench"
    if overwrite:
        make(out, clips=1, frames=3)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    original, calls = synth.write_video, []

    def failing(*args, **kwargs) -> None:  # the third video: after train/a and train/b
        calls.append(args)
        if len(calls) == 3:
            raise RecycleganError("disk full")
        original(*args, **kwargs)

    monkeypatch.setattr(synth, "write_video", failing)
    with pytest.raises(RecycleganError, match="disk full"):
        make(out, overwrite=overwrite)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("option, value", [("clips", 0), ("frames", 2), ("size", 30),
                                           ("size", 16), ("seed", -1)])
def test_bad_options(tmp_path, option, value):
    with pytest.raises(RecycleganError, match=f"--{option}"):
        make(tmp_path / "bench", **{option: value})
    assert not (tmp_path / "bench").exists()


def test_cli_synth_and_its_refusals(tmp_path, capsys):
    from recyclegan.cli import main

    out = tmp_path / "bench"
    assert main(["synth", "-o", str(out), "--clips", "1", "--frames", "4", "--size", "32",
                 "-q"]) == 0
    assert (out / "palette.json").is_file() and (out / "test" / "ids" / "clip_000.npy").is_file()
    assert main(["synth", "-o", str(tmp_path / "b2"), "--size", "30", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--size" in err[0]
