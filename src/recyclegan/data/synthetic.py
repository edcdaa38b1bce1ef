"""Generated clips of moving shapes, for tests and the demo (numpy only).

Two styles share one motion model: style "a" draws bright discs on a dark cool gradient,
style "b" dark squares on a light warm gradient. Every random draw is independent of the
style, so the same seed in both styles gives the same motion: a ground-truth translation
pair for benchmarks, while different seeds give unpaired domains for training.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

# (top, bottom) colours of the background gradient. A scene cut moves to the next pair and
# turns the gradient upside down, so cuts change both colour and brightness layout.
_BACKGROUNDS = {
    "a": (
        ((10, 20, 70), (30, 60, 140)),
        ((50, 10, 60), (110, 30, 120)),
        ((5, 50, 45), (20, 110, 90)),
    ),
    "b": (
        ((250, 228, 190), (240, 190, 140)),
        ((250, 215, 215), (235, 160, 150)),
        ((240, 245, 205), (205, 215, 120)),
    ),
}
_SHAPE_COLOURS = {
    "a": ((255, 240, 120), (120, 255, 240), (255, 140, 220), (245, 245, 255)),
    "b": ((70, 35, 20), (20, 70, 40), (40, 30, 90), (90, 20, 25)),
}
_NUM_SHAPES = 3


def moving_shapes_clip(
    frames: int,
    size: int,
    seed: int,
    style: Literal["a", "b"],
    cut_at: int | None = None,
) -> np.ndarray:
    """Render a (frames, size, size, 3) uint8 clip of shapes gliding over a gradient.

    `cut_at` starts a new scene at that frame (other background, other shapes and paths),
    to exercise scene-cut detection.
    """
    if style not in _BACKGROUNDS:
        raise ValueError(f"style must be 'a' or 'b', got {style!r}")
    if frames < 1 or size < 8:
        raise ValueError(f"need frames >= 1 and size >= 8, got {frames} and {size}")
    if cut_at is not None and not 0 < cut_at < frames:
        raise ValueError(f"cut_at must lie in 1..{frames - 1}, got {cut_at}")
    rng = np.random.default_rng(seed)
    first_background = int(rng.integers(len(_BACKGROUNDS[style])))
    scenes = [_draw_scene(rng, size, first_background)]
    if cut_at is not None:
        scenes.append(_draw_scene(rng, size, first_background + 1))
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    clip = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        scene = scenes[1] if cut_at is not None and t >= cut_at else scenes[0]
        clip[t] = _render(scene, t, style, size, grid_x, grid_y)
    return clip


def _draw_scene(rng: np.random.Generator, size: int, background: int) -> dict:
    """Draw a background index and per-shape parameters; no draw depends on the style."""
    count = _NUM_SHAPES
    return {
        "background": background,
        "colours": rng.permutation(len(_SHAPE_COLOURS["a"]))[:count],
        "radius": rng.uniform(0.08, 0.14, count) * size,
        "centre": rng.uniform(0.3, 0.7, (count, 2)) * size,
        "amplitude": rng.uniform(0.1, 0.22, (count, 2)) * size,
        "speed": 2 * np.pi / rng.uniform(40, 90, (count, 2)),
        "phase": rng.uniform(0, 2 * np.pi, (count, 2)),
    }


def _render(
    scene: dict, t: int, style: str, size: int, grid_x: np.ndarray, grid_y: np.ndarray
) -> np.ndarray:
    backgrounds = _BACKGROUNDS[style]
    colours = backgrounds[scene["background"] % len(backgrounds)]
    top, bottom = (np.array(colour, np.float32) for colour in colours)
    if scene["background"] % 2:
        top, bottom = bottom, top
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(top + (bottom - top) * ramp, (size, size, 3)).copy()
    positions = scene["centre"] + scene["amplitude"] * np.sin(scene["speed"] * t + scene["phase"])
    for (x, y), radius, colour in zip(positions, scene["radius"], scene["colours"], strict=True):
        if style == "a":
            distance = np.hypot(grid_x - x, grid_y - y)
        else:
            distance = np.maximum(np.abs(grid_x - x), np.abs(grid_y - y))
        # One-pixel soft edge, so sub-pixel motion is smooth rather than jumping.
        alpha = np.clip(radius - distance + 0.5, 0.0, 1.0)[..., None]
        image += alpha * (np.array(_SHAPE_COLOURS[style][colour], np.float32) - image)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)
