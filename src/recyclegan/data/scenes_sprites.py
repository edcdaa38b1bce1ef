"""Upright objects for `scenes`: vehicles, people, poles and trees, painted facing the camera.

Each painter fills the parts of one object in metres from its axis (px) and from its top (py),
so the shapes keep their proportions at any distance; thin parts never get narrower than a
pixel, so they do not break up into dots far away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recyclegan.data.scenes_render import (
    PERSON,
    POLE,
    TILE,
    VEGETATION,
    VEHICLE,
    Camera,
    Canvas,
    Textures,
    View,
    sample,
)

NEAR, SPRITE_FAR = 1.0, 120.0  # depth range drawn (m)


@dataclass(frozen=True)
class Sprite:
    """An upright object facing the camera, at road-frame `x` and (at time 0) `z`, moving
    along the road at `vz` m/s. `colors` are per part (see the painters); `variant` in [0, 1)
    picks a style.
    """

    cls: int
    x: float
    z: float
    vz: float
    width: float
    height: float
    colors: np.ndarray
    variant: float


def draw_sprite(canvas: Canvas, view: View, cam: Camera, sprite: Sprite, time: float,
                tex: Textures) -> None:
    """Project an upright sprite standing on the ground and paint it with its depth."""
    z = sprite.z + sprite.vz * time - cam.z
    if not NEAR < z < SPRITE_FAR or sprite.height * view.focal < z:  # gone, or under a pixel
        return
    scale = view.focal / z  # pixels per metre
    centre = view.size / 2 + (sprite.x - cam.x + cam.curve * z * z) * scale
    half = max(sprite.width / 2 * scale, 0.6)
    bottom = view.horizon + view.height * scale
    top = bottom - sprite.height * scale
    r0, r1 = (max(0, min(view.size, int(np.ceil(edge - 0.5)))) for edge in (top, bottom))
    c0, c1 = (max(0, min(view.size, int(np.ceil(edge - 0.5)))) for edge in
              (centre - half, centre + half))
    if r0 >= r1 or c0 >= c1 or not (canvas.depth[r0:r1, c0:c1] > z).any():
        return
    px = ((np.arange(c0, c1) + 0.5 - centre) / scale)[None, :]
    py = ((np.arange(r0, r1) + 0.5 - top) / scale)[:, None]
    shape = (r1 - r0, c1 - c0)
    rgb, mask = np.zeros((*shape, 3), np.float32), np.zeros(shape, bool)
    _PAINTERS[sprite.cls](Parts(rgb, mask), px, py, sprite, 1 / scale, time)
    detail = min(1.0, 0.1 * (scale - 2))  # no grain where a metre is under two pixels
    if detail > 0:
        grain = sample(tex.fine, px * 10 + sprite.variant * TILE, py * 10)
        rgb *= (1 + _GRAIN[sprite.cls] * detail * grain)[..., None]
    canvas.paint(slice(r0, r1), slice(c0, c1), mask, z, sprite.cls, rgb)


@dataclass(frozen=True)
class Parts:
    """A sprite's pixels being filled, part over part."""

    rgb: np.ndarray
    mask: np.ndarray

    def fill(self, part: np.ndarray, color: np.ndarray | tuple[float, ...]) -> None:
        np.copyto(self.rgb, color, where=part[..., None])
        np.logical_or(self.mask, part, out=self.mask)


def _segment(px: np.ndarray, py: np.ndarray, start: tuple[float, float],
             end: tuple[float, float], radius: float) -> np.ndarray:
    """Pixels within `radius` of the segment from `start` to `end` (x, y in metres)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    t = np.clip(((px - start[0]) * dx + (py - start[1]) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(px - start[0] - t * dx, py - start[1] - t * dy) < radius


def _paint_vehicle(parts: Parts, px: np.ndarray, py: np.ndarray, sprite: Sprite, pixel: float,
                   time: float) -> None:
    """A car (a van when tall), from behind or, variant >= 0.5, from the front: colors = paint,
    glass."""
    paint, glass = sprite.colors
    half, h, across = sprite.width / 2, sprite.height, np.abs(px)
    van = h > 2.0
    parts.fill((py > 0.72 * h) & (across > 0.55 * half) & (across < 0.95 * half), (0.05,) * 3)
    parts.fill((py > 0.42 * h) & (py < 0.88 * h) & (across < half), paint)
    roof = 0.45 * h
    taper = 1.0 if van else 0.72 + 0.2 * np.clip(py / roof, 0, 1)
    parts.fill((py < roof) & (across < half * taper), paint)
    top = 0.1 * h if van else 0.07 * h
    parts.fill((py > top) & (py < roof - 0.04 * h) & (across < half * (taper - 0.1)), glass)
    parts.fill((py > 0.78 * h) & (py < 0.88 * h) & (across < half), paint * 0.45)
    lamp = (1.0, 0.95, 0.8) if sprite.variant >= 0.5 else (0.85, 0.05, 0.05)
    parts.fill((py > 0.5 * h) & (py < 0.6 * h) & (across > 0.68 * half) & (across < 0.93 * half),
               lamp)
    parts.fill((py > 0.63 * h) & (py < 0.72 * h) & (across < 0.22 * half), (0.9, 0.9, 0.85))


def _paint_person(parts: Parts, px: np.ndarray, py: np.ndarray, sprite: Sprite, pixel: float,
                  time: float) -> None:
    """Legs, torso, arms, head and hair: colors = skin, shirt, trousers, hair."""
    skin, shirt, trousers, hair = sprite.colors
    u, h = sprite.height / 1.75, sprite.height
    step = 2 * np.pi * (abs(sprite.vz) * time / 1.4 + sprite.variant)
    lift = 0.12 * u * np.array([max(0.0, np.sin(step)), max(0.0, -np.sin(step))])
    for side, up in zip((-1, 1), lift if sprite.vz else (0.0, 0.0), strict=True):
        leg = _segment(px, py, (side * 0.08 * u, 0.9 * u), (side * 0.1 * u, h - 0.04 * u - up),
                       max(0.075 * u, 0.5 * pixel))
        parts.fill(leg, trousers)
    shoulders = 0.2 * u - 0.07 * u * np.clip((0.34 * u - py) / (0.08 * u), 0, 1)
    parts.fill((py > 0.26 * u) & (py < 0.95 * u) & (np.abs(px) < shoulders), shirt)
    for side in (-1, 1):
        arm = _segment(px, py, (side * 0.19 * u, 0.33 * u), (side * 0.25 * u, 0.85 * u),
                       max(0.05 * u, 0.5 * pixel))
        parts.fill(arm, shirt * 0.85)
    head = np.hypot(px, py - 0.13 * u) < max(0.11 * u, 0.5 * pixel)
    parts.fill(head, skin)
    parts.fill(head & (py < 0.09 * u), hair)


def _paint_pole(parts: Parts, px: np.ndarray, py: np.ndarray, sprite: Sprite, pixel: float,
                time: float) -> None:
    """A street light (arm towards the road) or a sign post: colors = metal, lamp or sign."""
    metal, accent = sprite.colors
    parts.fill(np.abs(px) < max(0.09, 0.55 * pixel), metal)
    if sprite.variant < 0.6:
        reach = -np.sign(sprite.x) * (sprite.width / 2 - 0.3)
        parts.fill(_segment(px, py, (0.0, 0.35), (reach, 0.12), max(0.06, 0.5 * pixel)), metal)
        parts.fill((np.abs(px - reach) < 0.35) & (py > 0.08) & (py < 0.25), accent)
    else:
        parts.fill(np.hypot(px, py - 0.9) < max(0.35, 0.5 * pixel), accent)


def _paint_tree(parts: Parts, px: np.ndarray, py: np.ndarray, sprite: Sprite, pixel: float,
                time: float) -> None:
    """Trunk and a lobed canopy: colors = leaves, bark."""
    leaves, bark = sprite.colors
    h, spin = sprite.height, 2 * np.pi * sprite.variant
    parts.fill((np.abs(px) < max(0.15, 0.55 * pixel)) & (py > 0.5 * h), bark)
    centre, rx, ry = 0.38 * h, sprite.width / 2, 0.38 * h
    angle = np.arctan2(py - centre, px)
    reach = 0.86 + 0.09 * np.sin(5 * angle + spin) + 0.05 * np.sin(11 * angle - 3 * spin)
    parts.fill(np.hypot(px / rx, (py - centre) / ry) < reach, leaves)


_PAINTERS = {VEHICLE: _paint_vehicle, PERSON: _paint_person, POLE: _paint_pole,
             VEGETATION: _paint_tree}
_GRAIN = {VEHICLE: 0.05, PERSON: 0.1, POLE: 0.08, VEGETATION: 0.45}
