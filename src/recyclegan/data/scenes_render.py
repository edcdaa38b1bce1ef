"""Drawing for `scenes`: noise textures, a z-buffered canvas, the sky, the ground, wall bands.

Geometry is a pinhole camera at height `View.height` over flat ground. The road frame has X
across the road (0 on the centre line, + to the right) and Z along it; a steady curve puts
the road centre at camera-frame x = -camera.x + curve * z**2 at depth z. Every layer writes a
depth, so occlusion follows from the geometry whatever the drawing order.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SKY, ROAD, SIDEWALK, BUILDING, VEGETATION, POLE, VEHICLE, PERSON = range(8)

ROAD_HALF = 5.5  # two 3.5 m lanes and a parking strip on each side (m)
LANE_EDGE = 3.5  # solid line between a lane and its parking strip
CURB = 0.25
SIDEWALK_EDGE = ROAD_HALF + 3.5  # outer edge of the sidewalk
WALL_FAR = 420.0  # farthest wall drawn (m)
TILE = 128


@dataclass(frozen=True)
class View:
    """Image geometry: `focal` and `horizon` (row of the horizon) in pixels, `height` in m."""

    size: int
    focal: float
    horizon: float
    height: float

    @property
    def slopes(self) -> np.ndarray:
        """x/z of the ray through each pixel column."""
        return ((np.arange(self.size) + 0.5 - self.size / 2) / self.focal).astype(np.float32)


@dataclass(frozen=True)
class Camera:
    """Where the camera is at one instant: `z` along the road, `x` across it (m)."""

    z: float
    x: float
    curve: float


@dataclass(frozen=True)
class Textures:
    """Per-clip periodic noise: `coarse` (smooth patches) and `fine` (grain)."""

    coarse: np.ndarray
    fine: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Textures:
        return cls(noise_tile(rng, 2.2), noise_tile(rng, 0.9))


@dataclass(frozen=True)
class GroundLook:
    road: np.ndarray
    line: np.ndarray
    curb: np.ndarray
    sidewalk: np.ndarray
    grass: np.ndarray
    dash: float  # period of the centre-line dashes (m)


@dataclass(frozen=True)
class Band:
    """A wall of segments at road-frame X = `x`: building facades, or a tree line."""

    cls: int
    x: float
    starts: np.ndarray
    ends: np.ndarray
    heights: np.ndarray
    colors: np.ndarray  # (segments, 3)
    lit: float  # fraction of lit windows


def noise_tile(rng: np.random.Generator, exponent: float) -> np.ndarray:
    """A periodic TILE x TILE field, zero mean and unit deviation, with a 1/f**exponent spectrum."""
    freq = np.fft.fftfreq(TILE)
    radius = np.hypot(freq[:, None], freq[None, :])
    radius[0, 0] = np.inf
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal((TILE, TILE))) / radius**exponent).real
    return (field / field.std()).astype(np.float32)


def sample(tile: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a periodic tile at texel coordinates (u across, v down), broadcast."""
    u, v = np.broadcast_arrays(np.asarray(u, np.float32) % TILE,
                                np.asarray(v, np.float32) % TILE)
    return cv2.remap(tile, np.ascontiguousarray(u), np.ascontiguousarray(v), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_WRAP)


class Canvas:
    """One frame being drawn: RGB floats in [0, 1], class ids and depth (inf where sky)."""

    def __init__(self, size: int) -> None:
        self.rgb = np.zeros((size, size, 3), np.float32)
        self.ids = np.full((size, size), SKY, np.uint8)
        self.depth = np.full((size, size), np.inf, np.float32)

    def paint(self, rows: slice, cols: slice, mask: np.ndarray, depth: np.ndarray | float,
              cls: np.ndarray | int, rgb: np.ndarray) -> None:
        """Write `cls` and `rgb` where `mask` holds and `depth` is nearer than what is there."""
        here = self.depth[rows, cols]
        mask = mask & (depth < here)
        np.copyto(here, depth, where=mask)
        np.copyto(self.ids[rows, cols], cls, casting="unsafe", where=mask)
        np.copyto(self.rgb[rows, cols], rgb, where=mask[..., None])


def draw_sky(canvas: Canvas, view: View, top: np.ndarray, bottom: np.ndarray, clouds: float,
             drift: float, tex: Textures) -> None:
    """Gradient from `top` to `bottom` (at the horizon) with clouds covering about `clouds`."""
    rows = (np.arange(view.size) + 0.5)[:, None]
    up = np.clip((view.horizon - rows) / view.horizon, 0, 1)
    canvas.rgb[:] = bottom + (top - bottom) * up[..., None] ** 0.6
    u = (view.slopes[None, :] + drift) * 24
    v = (rows - view.horizon) / view.focal * 60
    cover = np.clip((sample(tex.coarse, u, v) - 1.2 + 2.4 * clouds) * 0.6, 0, 0.85) * up**0.3
    canvas.rgb += (np.float32(0.95) - canvas.rgb) * cover[..., None]


def draw_ground(canvas: Canvas, view: View, cam: Camera, look: GroundLook, tex: Textures) -> None:
    """Road with lane markings, curbs and tiled sidewalks, then grass (vegetation) beyond."""
    first = int(np.floor(view.horizon - 0.5)) + 1
    rows = np.arange(first, view.size, dtype=np.float32) + 0.5
    z = (view.focal * view.height / (rows - view.horizon))[:, None]
    x = view.slopes[None, :] * z + cam.x - cam.curve * z * z
    along = np.broadcast_to(z + cam.z, x.shape)
    metres_per_pixel = z / view.focal * np.maximum(1.0, z / view.height)
    detail = np.clip(0.12 / metres_per_pixel, 0, 1)
    half_line = np.maximum(0.08, 0.6 * z / view.focal)
    side = np.abs(x)
    grain = sample(tex.fine, x * 16, along * 16) * detail
    patches = sample(tex.coarse, x * 1.3, along * 1.3)

    lines = ((side < half_line) & (along % look.dash < 0.4 * look.dash)) | (
        np.abs(side - LANE_EDGE) < half_line
    )
    # surfaces: 0 asphalt, 1 sidewalk tiles, 2 grass, 3 painted line, 4 curb
    kind = np.where(side < ROAD_HALF, np.where(lines, 3, 0),
                    np.where(side < SIDEWALK_EDGE, np.where(side < ROAD_HALF + CURB, 4, 1), 2))
    joints = ((x / 1.5) % 1 < 0.07) | ((along / 1.5) % 1 < 0.07)
    shade = (1 + _PATCHES[kind] * patches + _GRAIN_GROUND[kind] * grain
             - 0.25 * (joints & (kind == 1)) * detail)
    colors = np.stack([look.road, look.sidewalk, look.grass, look.line, look.curb])
    rgb = colors[kind] * shade[..., None]
    canvas.paint(slice(first, None), slice(None), np.ones(x.shape, bool), z, _SURFACES[kind], rgb)


_SURFACES = np.array([ROAD, SIDEWALK, VEGETATION, ROAD, SIDEWALK], np.uint8)
_PATCHES = np.float32([0.1, 0.05, 0.25, 0.0, 0.05])
_GRAIN_GROUND = np.float32([0.12, 0.08, 0.3, 0.05, 0.08])


def draw_band(canvas: Canvas, view: View, cam: Camera, band: Band, tex: Textures) -> None:
    """Facades with windows, or a ragged tree line, standing at road-frame X = band.x."""
    z = _wall_depth(view.slopes, band.x - cam.x, cam.curve)
    along = z + cam.z
    index = np.clip(np.searchsorted(band.starts, along, side="right") - 1, 0, len(band.starts) - 1)
    valid = (z < WALL_FAR) & (along >= band.starts[index]) & (along < band.ends[index])
    if not valid.any():
        return
    cols = slice(int(np.argmax(valid)), len(valid) - int(np.argmax(valid[::-1])))
    z, along, index, valid = z[cols], along[cols], index[cols], valid[cols]
    height = band.heights[index]
    if band.cls == VEGETATION:
        height = height + 1.2 * sample(tex.coarse, along * 3, np.zeros_like(along))[0]
    scale = np.where(valid, view.focal / np.where(valid, z, 1), 0)  # pixels per metre
    r0 = max(0, int(np.floor(view.horizon + np.min((view.height - height) * scale))))
    r1 = min(view.size, int(np.ceil(view.horizon + np.max(view.height * scale))))
    if r0 >= r1:
        return
    rows = (np.arange(r0, r1, dtype=np.float32) + 0.5)[:, None]
    above = view.height - (rows - view.horizon) * z / view.focal  # height on the wall (m)
    detail = np.clip(0.15 * scale, 0, 1)
    grain = sample(tex.fine, along * 16, above * 16) * detail
    patches = sample(tex.coarse, along * 1.5, above * 1.5)
    base = band.colors[index]
    if band.cls == VEGETATION:
        rgb = base * (0.8 + 0.2 * patches + 0.35 * grain)[..., None]
    else:
        rgb = base * (1 + 0.06 * patches + 0.08 * grain)[..., None]
        column, floor = np.floor(along / 3.0), np.floor((above - 0.6) / 3.2)
        across, up = (along / 3.0) % 1, ((above - 0.6) / 3.2) % 1
        window = (across > 0.25) & (across < 0.75) & (up > 0.3) & (up < 0.8)
        window &= (floor >= 1) & (above < height - 1.0)
        lit = (column * 7919 + floor * 104729) % 97 < band.lit * 97
        glass = np.where(lit[..., None], (1.0, 0.82, 0.5), (0.2, 0.25, 0.32))
        glass = glass * (1 + 0.15 * patches)[..., None]
        visible = np.clip(scale / 2, 0, 1)[:, None]
        rgb = np.where(window[..., None], rgb + (glass - rgb) * visible, rgb)
    mask = valid & (above >= 0) & (above < height)
    canvas.paint(slice(r0, r1), cols, mask, z, band.cls, rgb)


def _wall_depth(slopes: np.ndarray, offset: float, curve: float) -> np.ndarray:
    """Nearest positive depth where each column's ray meets x = offset + curve * z**2 (else inf)."""
    disc = slopes * slopes - 4 * curve * offset
    root = np.sqrt(np.maximum(disc, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        depths = np.stack([2 * offset / (slopes + root), 2 * offset / (slopes - root)])
    return np.where((depths > 0) & (disc >= 0), depths, np.inf).min(axis=0)
