from __future__ import annotations

import itertools

import numpy as np
import pytest

from recyclegan.data.scenes import CLASS_NAMES, PALETTE, colorize, render_scene


@pytest.fixture(scope="module")
def clip():
    return render_scene(16, 48, seed=7)


def test_shapes_and_determinism(clip):
    assert clip.rgb.shape == (16, 48, 48, 3) and clip.rgb.dtype == np.uint8
    assert clip.ids.shape == (16, 48, 48) and clip.ids.dtype == np.uint8
    again = render_scene(16, 48, seed=7)
    assert np.array_equal(clip.rgb, again.rgb) and np.array_equal(clip.ids, again.ids)
    other = render_scene(16, 48, seed=8)
    assert not np.array_equal(clip.rgb, other.rgb) and not np.array_equal(clip.ids, other.ids)


@pytest.mark.parametrize("seed", range(4))
def test_every_frame_is_fully_labelled_with_many_classes(seed):
    ids = render_scene(10, 64, seed).ids
    assert ids.max() < len(CLASS_NAMES)
    assert len(np.unique(ids)) >= 6
    assert all(len(np.unique(frame)) >= 4 for frame in ids)


def test_label_video_is_the_palette_of_the_ids(clip):
    labels = clip.labels
    assert labels.shape == (*clip.ids.shape, 3) and labels.dtype == np.uint8
    assert np.array_equal(labels, PALETTE[clip.ids])
    assert np.array_equal(colorize(np.array([[0, 1]])), PALETTE[[[0, 1]]])


def test_palette_colours_are_distinct():
    assert PALETTE.shape == (len(CLASS_NAMES), 3) and PALETTE.dtype == np.uint8
    assert len(set(CLASS_NAMES)) == len(CLASS_NAMES) >= 6
    colours = PALETTE.astype(float)
    for i, j in itertools.combinations(range(len(colours)), 2):
        assert np.linalg.norm(colours[i] - colours[j]) > 60, (CLASS_NAMES[i], CLASS_NAMES[j])


def test_motion_is_smooth_and_objects_move():
    rgb = render_scene(24, 64, seed=3).rgb.astype(np.int16)
    steps = np.abs(np.diff(rgb, axis=0)).mean(axis=(1, 2, 3))
    apart = np.abs(rgb[12:] - rgb[:12]).mean(axis=(1, 2, 3))
    assert steps.min() > 0, "the camera moves every frame"
    assert steps.mean() < 0.7 * apart.mean(), "neighbouring frames are more alike than distant ones"


def test_objects_enter_and_leave_the_frame():
    ids = render_scene(30, 64, seed=5).ids
    changed = (ids[1:] != ids[:-1]).mean(axis=(1, 2))
    assert changed.min() > 0 and changed.max() < 0.3
    vehicle = CLASS_NAMES.index("vehicle")
    moving = [(frame == vehicle).sum() for frame in ids]
    assert len(set(moving)) > 5


def test_lighting_differs_between_clips():
    brightness = [render_scene(2, 32, seed).rgb.mean() for seed in range(12)]
    assert max(brightness) - min(brightness) > 25
    casts = [render_scene(2, 32, seed).rgb.reshape(-1, 3).mean(0) for seed in range(4)]
    ratios = [cast[0] / cast[2] for cast in casts]
    assert max(ratios) - min(ratios) > 0.05


def test_resolution_only_changes_detail():
    small, large = render_scene(3, 32, seed=2), render_scene(3, 128, seed=2)
    shrunk = large.ids[:, 2::4, 2::4]
    assert (shrunk == small.ids).mean() > 0.9


@pytest.mark.parametrize("frames, size, seed", [(0, 32, 0), (4, 30, 0), (4, 8, 0), (4, 32, -1)])
def test_bad_arguments(frames, size, seed):
    with pytest.raises(ValueError):
        render_scene(frames, size, seed)
