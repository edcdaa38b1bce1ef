from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from recyclegan.data.sources import natural_key, read_image, resolve_source, resolve_sources
from recyclegan.errors import RecycleganError


def write_png(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def solid(value, size=8):
    return np.full((size, size, 3), value, np.uint8)


def test_natural_sort():
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame2b.png", "frame002.png"]
    assert sorted(names, key=natural_key) == [
        "Frame1.png",
        "frame2.png",
        "frame002.png",
        "frame2b.png",
        "frame10.png",
    ]


def test_image_folder_in_natural_order(tmp_path):
    for index in [1, 2, 10, 11, 3]:
        write_png(tmp_path / "frames" / f"frame{index}.png", solid(index * 10))
    (sources,) = [resolve_source(tmp_path / "frames")]
    assert len(sources) == 1
    source = sources[0]
    assert source.kind == "images"
    assert [p.name for p in source.images] == [f"frame{i}.png" for i in (1, 2, 3, 10, 11)]

    frames = list(source.frames(image_fps=10))
    assert [time for time, _ in frames] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert [int(image[0, 0, 0]) for _, image in frames] == [10, 20, 30, 100, 110]
    info = source.info(image_fps=10)
    assert (info.width, info.height, info.fps, info.frames) == (8, 8, 10, 5)


def test_images_are_read_as_rgb(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 200  # red
    image = read_image(write_png(tmp_path / "red.png", rgb))
    assert image.shape == (4, 6, 3)
    assert image[..., 0].min() == 200 and image[..., 2].max() == 0


def test_unreadable_image_is_named(tmp_path):
    write_png(tmp_path / "frames" / "a1.png", solid(0))
    (tmp_path / "frames" / "a2.png").write_text("not an image")
    (source,) = resolve_source(tmp_path / "frames")
    with pytest.raises(RecycleganError, match="a2.png: cannot read this image"):
        list(source.frames())


def test_other_files_in_image_folder_are_ignored_with_a_warning(tmp_path):
    write_png(tmp_path / "f1.png", solid(0))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    with pytest.warns(UserWarning, match="ignoring notes.txt"):
        (source,) = resolve_source(tmp_path)
    assert [p.name for p in source.images] == ["f1.png"]


def test_folder_of_videos_and_subfolders(tmp_path, synthetic_video):
    root = tmp_path / "domain"
    root.mkdir()
    synthetic_video(root / "clip10.mp4", frames=3)
    synthetic_video(root / "clip2.mkv", frames=3)
    write_png(root / "clip5" / "0001.jpg", solid(50))
    write_png(root / "clip5" / "0002.jpg", solid(60))
    (root / "more").mkdir()
    synthetic_video(root / "more" / "deep.webm", frames=3, size=16)
    (root / "empty").mkdir()
    (root / "README").write_text("about these clips")
    with pytest.warns(UserWarning, match="ignoring README"):
        sources = resolve_source(root)
    assert [(s.path.name, s.kind) for s in sources] == [
        ("clip2.mkv", "video"),
        ("clip5", "images"),
        ("clip10.mp4", "video"),
        ("deep.webm", "video"),
    ]
    assert [len(list(s.frames())) for s in sources] == [3, 2, 3, 3]


def test_a_video_with_any_extension_is_accepted_when_named(tmp_path, synthetic_video):
    path = synthetic_video(tmp_path / "clip.mp4", frames=4)
    renamed = tmp_path / "clip.bin"
    shutil.move(path, renamed)
    (source,) = resolve_sources([renamed])
    assert source.kind == "video"
    assert len(list(source.frames())) == 4


def test_images_and_videos_in_one_folder_are_ambiguous(tmp_path, synthetic_video):
    write_png(tmp_path / "f1.png", solid(0))
    synthetic_video(tmp_path / "clip.mp4", frames=3)
    with pytest.raises(RecycleganError, match="both images and videos"):
        resolve_source(tmp_path)


def test_bad_paths(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.csv").write_text("1,2")
    single = write_png(tmp_path / "still.png", solid(0))
    with pytest.raises(RecycleganError, match="nothing.mp4: no such file or folder"):
        resolve_source(tmp_path / "nothing.mp4")
    with pytest.raises(RecycleganError, match="no videos or images found in .*empty"):
        resolve_source(tmp_path / "empty")
    with pytest.warns(UserWarning), pytest.raises(RecycleganError, match="no videos or images"):
        resolve_source(tmp_path / "other")
    with pytest.raises(RecycleganError, match="single image is not a clip"):
        resolve_source(single)


def test_resolve_sources_fails_on_the_first_bad_path(tmp_path, synthetic_video):
    good = synthetic_video(tmp_path / "good.mp4", frames=3)
    with pytest.raises(RecycleganError, match="missing: no such file"):
        resolve_sources([good, tmp_path / "missing"])
