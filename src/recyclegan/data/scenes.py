"""Procedural driving-game scenes with exact per-pixel class labels (numpy and OpenCV only).

A clip is a drive down a straight or gently curving street seen from a car: a textured road
with lane markings and parking strips, curbs, tiled sidewalks, building facades with windows
and gaps showing grass and a distant tree line, trees, street lights and sign posts, parked
cars, a car ahead, oncoming traffic and people walking on the sidewalks. The camera moves
forward and sways in its lane; cars and people move on their own, so objects enter and leave
the frame, occlude one another and show parallax, and motion is smooth from frame to frame.
Lighting (time of day, brightness, colour cast, clouds, haze) is drawn once per clip.
Everything follows from the seed, so a clip can be rendered again from its seed alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recyclegan.data.scenes_render import (
    BUILDING,
    LANE_EDGE,
    PERSON,
    POLE,
    ROAD_HALF,
    SIDEWALK_EDGE,
    VEGETATION,
    VEHICLE,
    WALL_FAR,
    Band,
    Camera,
    Canvas,
    GroundLook,
    Textures,
    View,
    draw_band,
    draw_ground,
    draw_sky,
)
from recyclegan.data.scenes_sprites import SPRITE_FAR, Sprite, draw_sprite

CLASS_NAMES = ("sky", "road", "sidewalk", "building", "vegetation", "pole", "vehicle", "person")
# Cityscapes colours of the same classes: pairwise at least 88 apart in RGB.
PALETTE = np.array(
    [(70, 130, 180), (128, 64, 128), (244, 35, 232), (70, 70, 70), (107, 142, 35),
     (153, 153, 153), (0, 0, 142), (220, 20, 60)], np.uint8)
PALETTE.flags.writeable = False
FPS = 10.0  # frame rate the motion is designed for
LANE = 1.75  # centre of the right-hand lane, where the camera drives (m)

# sky top, sky at the horizon, colour cast, brightness, fraction of lit windows, most clouds
_DAYLIGHT = (
    ((0.23, 0.47, 0.80), (0.68, 0.80, 0.92), (1.00, 1.00, 1.00), 1.00, 0.0, 0.7),  # clear day
    ((0.28, 0.42, 0.70), (0.98, 0.75, 0.50), (1.10, 0.95, 0.80), 0.92, 0.1, 0.8),  # golden hour
    ((0.58, 0.60, 0.64), (0.80, 0.80, 0.82), (0.95, 0.98, 1.03), 0.80, 0.05, 1.0),  # overcast
    ((0.10, 0.13, 0.32), (0.80, 0.45, 0.38), (0.95, 0.85, 0.95), 0.55, 0.5, 0.6),  # dusk
)
_FACADES = np.array([(0.72, 0.66, 0.56), (0.62, 0.36, 0.28), (0.55, 0.55, 0.57),
                     (0.82, 0.80, 0.74), (0.45, 0.38, 0.32), (0.68, 0.58, 0.44)])
_PAINTS = np.array([(0.75, 0.10, 0.10), (0.10, 0.20, 0.55), (0.85, 0.85, 0.85), (0.08, 0.08, 0.08),
                    (0.50, 0.52, 0.55), (0.15, 0.35, 0.20), (0.85, 0.70, 0.20)])
_SKINS = np.array([(0.95, 0.78, 0.65), (0.80, 0.60, 0.45), (0.55, 0.38, 0.26), (0.35, 0.24, 0.16)])


@dataclass(frozen=True)
class SceneClip:
    """One rendered clip: `rgb` (F, S, S, 3) uint8 and class `ids` (F, S, S) uint8."""

    rgb: np.ndarray
    ids: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """The label colour video, (F, S, S, 3) uint8."""
        return colorize(self.ids)


def colorize(ids: np.ndarray) -> np.ndarray:
    """Map class ids to their PALETTE colours (adds a trailing axis of 3)."""
    return PALETTE[ids]


def render_scene(frames: int, size: int, seed: int) -> SceneClip:
    """Render `frames` frames of `size` x `size` pixels (a multiple of 4) of the scene of `seed`."""
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if size < 16 or size % 4:
        raise ValueError(f"size must be a multiple of 4 and at least 16, got {size}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    scene = _plan(np.random.default_rng(seed), frames, size)
    rgb = np.empty((frames, size, size, 3), np.uint8)
    ids = np.empty((frames, size, size), np.uint8)
    for index in range(frames):
        rgb[index], ids[index] = _render_frame(scene, index / FPS)
    return SceneClip(rgb, ids)


@dataclass(frozen=True)
class _Scene:
    view: View
    speed: float  # m/s along the road
    sway: tuple[float, float, float]  # amplitude (m), angular rate, phase of the lane drift
    curve: float
    sky: tuple[np.ndarray, np.ndarray, float, float]  # top, horizon, cloud cover, wind
    ground: GroundLook
    bands: tuple[Band, ...]
    sprites: tuple[Sprite, ...]
    textures: Textures
    grade: np.ndarray  # per-channel gain: colour cast times brightness
    fog: float  # depth at which haze covers 63% (m)


def _render_frame(scene: _Scene, time: float) -> tuple[np.ndarray, np.ndarray]:
    view, tex = scene.view, scene.textures
    amplitude, rate, phase = scene.sway
    cam = Camera(scene.speed * time, LANE + amplitude * np.sin(rate * time + phase), scene.curve)
    top, horizon, clouds, wind = scene.sky
    canvas = Canvas(view.size)
    draw_sky(canvas, view, top, horizon, clouds, wind * time, tex)
    draw_ground(canvas, view, cam, scene.ground, tex)
    for band in scene.bands:
        draw_band(canvas, view, cam, band, tex)
    for sprite in scene.sprites:
        draw_sprite(canvas, view, cam, sprite, time, tex)
    haze = np.where(np.isfinite(canvas.depth), -np.expm1(-canvas.depth / scene.fog), 0)
    rgb = (canvas.rgb + (horizon - canvas.rgb) * haze[..., None]) * scene.grade
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), canvas.ids


def _plan(rng: np.random.Generator, frames: int, size: int) -> _Scene:
    """Draw everything about a clip; the draw order is fixed so that a seed means one scene."""
    duration = frames / FPS
    speed = rng.uniform(5.0, 10.0)
    view = View(size, 0.6 * size, size * rng.uniform(0.42, 0.5), rng.uniform(1.2, 1.6))
    top, horizon, cast, brightness, lit, clouds = _DAYLIGHT[rng.integers(len(_DAYLIGHT))]
    grade = _tint(rng, np.array(cast) * brightness * rng.uniform(0.85, 1.15), 0.06)
    sky = (np.float32(top), np.float32(horizon), rng.uniform(0, clouds), rng.uniform(-0.01, 0.01))
    sway = (rng.uniform(0, 0.35), 2 * np.pi / rng.uniform(4, 10), rng.uniform(0, 2 * np.pi))
    curve = 0.0 if rng.random() < 0.4 else rng.uniform(-6e-4, 6e-4)
    ground = GroundLook(
        road=_tint(rng, np.full(3, rng.uniform(0.28, 0.42)), 0.04),
        line=_tint(rng, np.array([0.92, 0.9, 0.82]), 0.04),
        curb=_tint(rng, np.array([0.7, 0.7, 0.68]), 0.05),
        sidewalk=_tint(rng, np.array([0.62, 0.58, 0.55]), 0.12),
        grass=_tint(rng, np.array([0.26, 0.44, 0.16]), 0.15),
        dash=rng.uniform(6, 12),
    )
    reach = speed * duration + WALL_FAR
    bands = []
    for sign in (-1.0, 1.0):
        if rng.random() < 0.8:
            bands.append(_facades(rng, sign * (SIDEWALK_EDGE + rng.uniform(0, 6)), reach,
                                  lit))
        bands.append(_tree_line(rng, sign * rng.uniform(30, 60), reach))
    sprites = _sprites(rng, speed, duration)
    return _Scene(view, speed, sway, curve, sky, ground, tuple(bands), tuple(sprites),
                  Textures.draw(rng), grade, rng.uniform(70, 300))


def _tint(rng: np.random.Generator, color: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(color * rng.uniform(1 - amount, 1 + amount, 3), 0, 1).astype(np.float32)


def _positions(rng: np.random.Generator, start: float, stop: float, low: float,
               high: float) -> np.ndarray:
    """Positions from `start` to `stop` spaced by uniform steps in [low, high)."""
    steps = rng.uniform(low, high, int((stop - start) / low) + 1)
    places = start + np.cumsum(steps) - rng.uniform(0, high)
    return places[places < stop]


def _facades(rng: np.random.Generator, x: float, reach: float, lit: float) -> Band:
    lengths = rng.uniform(8, 30, int(reach / 8) + 4)
    gaps = np.where(rng.random(len(lengths)) < 0.35, rng.uniform(5, 20, len(lengths)), 0)
    starts = rng.uniform(-40, -10) + np.concatenate([[0], np.cumsum(lengths + gaps)[:-1]])
    colors = _FACADES[rng.integers(len(_FACADES), size=len(lengths))]
    colors = np.float32(colors * rng.uniform(0.85, 1.1, (len(lengths), 1)))
    heights = rng.uniform(5, 24, len(lengths))
    return Band(BUILDING, x, starts, starts + lengths, heights, colors, lit)


def _tree_line(rng: np.random.Generator, x: float, reach: float) -> Band:
    lengths = rng.uniform(2, 5, int(reach / 2) + 20)
    starts = -40 + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    heights = np.clip(rng.uniform(6, 12) + np.cumsum(rng.normal(0, 1.0, len(lengths))), 4, 16)
    colors = _tint(rng, np.array([0.16, 0.3, 0.12]), 0.2) * np.float32(
        rng.uniform(0.8, 1.2, (len(lengths), 1)))
    return Band(VEGETATION, x, starts, starts + lengths, heights, colors, 0.0)


def _sprites(rng: np.random.Generator, speed: float, duration: float) -> list[Sprite]:
    """Street lights and signs, trees, parked and moving cars, and people on the sidewalks."""
    reach = speed * duration + SPRITE_FAR
    sprites = []
    for sign in (-1.0, 1.0):
        sprites += [_pole(rng, sign, z) for z in _positions(rng, -5, reach, 14, 34)]
        sprites += [_tree(rng, sign, z) for z in _positions(rng, -5, reach, 7, 22)]
        sprites += [_car(rng, sign * (LANE_EDGE + 1.1), z, 0.0, front=sign < 0)
                    for z in _positions(rng, -5, reach, 5.5, 20) if rng.random() < 0.5]
        sprites += [_person(rng, sign, z) for z in _positions(rng, -5, reach, 5, 25)]
    if rng.random() < 0.7:  # a car ahead in our lane, never closer than 10 m
        gain = rng.uniform(-1.0, 1.5)
        start = max(rng.uniform(10, 40), 10 - gain * duration)
        sprites.append(_car(rng, LANE, start, speed + gain, front=False))
    oncoming = rng.uniform(6, 12)
    for z in _positions(rng, 0, SPRITE_FAR + (speed + oncoming) * duration, 25, 70):
        sprites.append(_car(rng, -LANE, z, -oncoming, front=True))
    return sprites


def _pole(rng: np.random.Generator, sign: float, z: float) -> Sprite:
    metal = np.full(3, rng.uniform(0.3, 0.6))
    accent = (0.95, 0.95, 0.85) if rng.random() < 0.6 else _PAINTS[rng.integers(3)]
    return Sprite(POLE, sign * (ROAD_HALF + 0.45), z, vz=0.0, width=rng.uniform(2.4, 3.6),
                  height=rng.uniform(6, 9), colors=np.array([metal, accent]),
                  variant=rng.random())


def _tree(rng: np.random.Generator, sign: float, z: float) -> Sprite:
    leaves = _tint(rng, np.array([0.24, 0.42, 0.14]), 0.3)
    return Sprite(VEGETATION, sign * rng.uniform(SIDEWALK_EDGE - 1.0, SIDEWALK_EDGE + 2.0), z,
                  vz=0.0, width=rng.uniform(2.5, 5), height=rng.uniform(4.5, 9),
                  colors=np.array([leaves, (0.3, 0.22, 0.15)]), variant=rng.random())


def _person(rng: np.random.Generator, sign: float, z: float) -> Sprite:
    """Someone on the sidewalk, walking either way or (one in five) standing."""
    x = sign * rng.uniform(ROAD_HALF + 0.7, SIDEWALK_EDGE - 0.4)
    vz = rng.choice([-1, 1]) * rng.uniform(0.8, 1.7) if rng.random() < 0.8 else 0.0
    colors = np.array([_SKINS[rng.integers(len(_SKINS))], rng.uniform(0.05, 0.95, 3),
                       rng.uniform(0.05, 0.45, 3), np.full(3, rng.uniform(0.05, 0.3))])
    return Sprite(PERSON, x, z, vz, width=0.6, height=rng.uniform(1.5, 1.9), colors=colors,
                  variant=rng.random())


def _car(rng: np.random.Generator, x: float, z: float, vz: float, front: bool) -> Sprite:
    """A car or (one in five) a van, seen from the front or from behind."""
    van = rng.random() < 0.2
    paint = _tint(rng, _PAINTS[rng.integers(len(_PAINTS))], 0.1)
    glass = np.array([0.12, 0.15, 0.2]) * rng.uniform(0.8, 1.4)
    return Sprite(VEHICLE, x + rng.uniform(-0.2, 0.2), z, vz,
                  width=rng.uniform(2.0, 2.3) if van else rng.uniform(1.7, 1.9),
                  height=rng.uniform(2.3, 2.8) if van else rng.uniform(1.35, 1.6),
                  colors=np.array([paint, glass]),
                  variant=0.5 + 0.5 * rng.random() if front else 0.5 * rng.random())
