from __future__ import annotations

import numpy as np
import pytest

from recyclegan.data.frames import SceneCutDetector
from recyclegan.data.synthetic import moving_shapes_clip


def test_shape_and_determinism():
    clip = moving_shapes_clip(8, 32, seed=3, style="a")
    assert clip.shape == (8, 32, 32, 3) and clip.dtype == np.uint8
    assert np.array_equal(clip, moving_shapes_clip(8, 32, seed=3, style="a"))
    assert not np.array_equal(clip, moving_shapes_clip(8, 32, seed=4, style="a"))


def test_styles_look_different():
    a = moving_shapes_clip(4, 48, seed=0, style="a").astype(np.float32)
    b = moving_shapes_clip(4, 48, seed=0, style="b").astype(np.float32)
    # a: dark, blue-ish background with bright shapes; b: light, warm background, dark shapes.
    assert np.median(a) < 90 < 170 < np.median(b)
    corner_a, corner_b = a[0, 0, 0], b[0, 0, 0]
    assert corner_a[2] > corner_a[0] and corner_b[0] > corner_b[2]
    assert a.max() > 230 and b.min() < 100


def shape_mask(clip):
    """Pixels far from their row's background colour (the gradient varies by row only)."""
    background = np.median(clip, axis=2, keepdims=True)
    return np.abs(clip.astype(np.int16) - background).sum(-1) > 60


def centres(clip):
    return np.stack([np.argwhere(mask).mean(0) for mask in shape_mask(clip)])


@pytest.mark.parametrize("seed", [0, 1])
def test_same_seed_gives_the_same_motion_in_both_styles(seed):
    a = centres(moving_shapes_clip(20, 64, seed=seed, style="a"))
    assert np.abs(a - centres(moving_shapes_clip(20, 64, seed=seed, style="b"))).max() < 2
    assert np.abs(a - centres(moving_shapes_clip(20, 64, seed=seed + 10, style="b"))).max() > 4


def test_motion_is_smooth():
    clip = moving_shapes_clip(30, 32, seed=1, style="b").astype(np.int16)
    steps = np.abs(np.diff(clip, axis=0)).mean(axis=(1, 2, 3))
    assert steps.min() > 0, "shapes should move every frame"
    assert steps.max() < 12, "shapes should glide, not jump"


@pytest.mark.parametrize("style", ["a", "b"])
def test_cut_is_detected_exactly_where_requested(style):
    for seed in range(6):
        for cut_at in (None, 9):
            detector = SceneCutDetector()
            clip = moving_shapes_clip(16, 32, seed=seed, style=style, cut_at=cut_at)
            cuts = [index for index, frame in enumerate(clip) if detector.is_cut(frame)]
            assert cuts == ([] if cut_at is None else [cut_at]), (seed, cut_at)


@pytest.mark.parametrize(
    "arguments",
    [
        {"frames": 0, "size": 32, "seed": 0, "style": "a"},
        {"frames": 4, "size": 4, "seed": 0, "style": "a"},
        {"frames": 4, "size": 32, "seed": 0, "style": "c"},
        {"frames": 4, "size": 32, "seed": 0, "style": "a", "cut_at": 4},
        {"frames": 4, "size": 32, "seed": 0, "style": "a", "cut_at": 0},
    ],
)
def test_bad_arguments(arguments):
    with pytest.raises(ValueError):
        moving_shapes_clip(**arguments)
