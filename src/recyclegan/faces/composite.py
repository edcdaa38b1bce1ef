"""Cut a face square out of a frame, and put a translated square back without a visible seam.

Both directions are one affine map between the crop's pixels and the frame's (a scale and a
shift, sub-pixel), so a crop pasted back untouched lands where it came from. Pasting blends
through a mask that is 1 inside the square and falls to 0 over a feathered border, and first
moves the crop's colours so that, near that border, they match the frame's on average
(a per-channel shift in Lab, measured on the ring the blend mixes). The shift applies to
the whole crop: fading it out towards the centre left a tinted halo where it faded, so the
face's colours move by the same amount as its surroundings'. Pixels outside the square are
the frame's, exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from recyclegan.faces.geometry import Square


def _crop_to_frame(square: Square, size: int) -> np.ndarray:
    """2x3 affine matrix mapping crop pixel centres to frame coordinates."""
    scale = square.side / size
    # Pixel centres: crop pixel i covers [i, i+1) of the crop, i.e. left + (i + 0.5) * scale.
    return np.array([[scale, 0.0, square.left + 0.5 * scale - 0.5],
                     [0.0, scale, square.top + 0.5 * scale - 0.5]], dtype=np.float64)


def crop_square(frame: np.ndarray, square: Square, size: int) -> np.ndarray:
    """The `size`x`size` crop of `frame` through `square`; parts past the frame's edges repeat
    its border pixels."""
    if size < 1 or square.side <= 0:
        raise ValueError(f"need a positive crop size and square side, got {size}, {square}")
    matrix = _crop_to_frame(square, size)
    interpolation = cv2.INTER_AREA if square.side > size else cv2.INTER_LINEAR
    if interpolation == cv2.INTER_AREA:  # warpAffine has no area filter: pre-shrink instead
        factor = size / square.side
        small = cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        scaled = Square(square.cx * factor, square.cy * factor, square.side * factor)
        matrix = _crop_to_frame(scaled, size)
        frame = small
    return cv2.warpAffine(frame, matrix, (size, size),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def feather_mask(size: int, feather: float) -> np.ndarray:
    """`size`x`size` float32 mask: 1 inside, falling smoothly to 0 over the outer `feather`
    fraction of the side on each edge."""
    if not 0.0 <= feather < 0.5:
        raise ValueError(f"feather must be in [0, 0.5), got {feather}")
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    distance = np.minimum(centres, 1.0 - centres)  # to the nearest edge, in sides
    ramp = np.ones_like(distance) if feather == 0 else np.clip(distance / feather, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep: no visible kink at either end
    return np.minimum.outer(ramp, ramp)


def _to_frame(image: np.ndarray, square: Square, shape: tuple[int, int]) -> np.ndarray:
    """Warp a crop-space image into frame space (zeros outside the square)."""
    size = image.shape[0]
    height, width = shape
    return cv2.warpAffine(image, _crop_to_frame(square, size), (width, height),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0


def paste_square(frame: np.ndarray, crop: np.ndarray, square: Square, *, feather: float = 0.12,
                 match_colour: bool = True) -> np.ndarray:
    """`frame` with `crop` (a square RGB uint8 image) blended in through `square`."""
    if crop.ndim != 3 or crop.shape[0] != crop.shape[1]:
        raise ValueError(f"the crop must be square HxWx3, got {crop.shape}")
    mask = _to_frame(feather_mask(crop.shape[0], feather), square, frame.shape[:2])
    covered = mask > 0
    if not covered.any():
        return frame.copy()
    rows, cols = np.nonzero(covered.any(axis=1))[0], np.nonzero(covered.any(axis=0))[0]
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    region = (slice(top, bottom), slice(left, right))
    weight = mask[region][..., None]
    placed = _to_frame(crop, square, frame.shape[:2])[region].astype(np.float32)
    under = frame[region].astype(np.float32)
    if match_colour:
        placed = _match_colour(placed, under, weight[..., 0])
    out = frame.copy()
    out[region] = np.clip(np.rint(weight * placed + (1.0 - weight) * under), 0, 255).astype(
        np.uint8)
    return out


def _match_colour(placed: np.ndarray, under: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Shift `placed` in Lab so that its mean over the blend ring equals `under`'s there."""
    ring = (weight > 0.02) & (weight < 0.98)
    if ring.sum() < 16:
        return placed
    placed_lab, under_lab = _lab(placed), _lab(under)
    shift = under_lab[ring].mean(axis=0) - placed_lab[ring].mean(axis=0)
    return _rgb(placed_lab + shift)


def seam_step(frame: np.ndarray, square: Square, feather: float = 0.12) -> np.ndarray:
    """Mean signed RGB difference (levels, one value per channel) between pixels just inside
    a pasted square's blend ring and just outside the square, paired across its edges.

    Natural texture averages out over the pairs; a colour shift between the pasted face and
    its surroundings does not. NaNs when no pair lies inside the frame.
    """
    height, width = frame.shape[:2]
    inset, outset = feather * square.side + 1.5, 1.5
    along = square.left + (np.arange(64) + 0.5) / 64 * square.side  # x along top and bottom
    down = square.top + (np.arange(64) + 0.5) / 64 * square.side  # y along left and right
    right, bottom = square.left + square.side, square.top + square.side
    pairs = [  # (x inside, y inside, x outside, y outside) for each edge
        (along, np.full(64, square.top + inset), along, np.full(64, square.top - outset)),
        (along, np.full(64, bottom - inset), along, np.full(64, bottom + outset)),
        (np.full(64, square.left + inset), down, np.full(64, square.left - outset), down),
        (np.full(64, right - inset), down, np.full(64, right + outset), down),
    ]
    steps = []
    for x_in, y_in, x_out, y_out in pairs:
        xs = np.rint(np.stack([x_in, x_out])).astype(int)
        ys = np.rint(np.stack([y_in, y_out])).astype(int)
        valid = ((xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)).all(axis=0)
        if valid.any():
            inside = frame[ys[0, valid], xs[0, valid]].astype(np.float32)
            outside = frame[ys[1, valid], xs[1, valid]].astype(np.float32)
            steps.append(inside - outside)
    if not steps:
        return np.full(3, np.nan, np.float32)
    return np.concatenate(steps).mean(axis=0)


def seam_added(output: np.ndarray, source: np.ndarray, square: Square,
               feather: float = 0.12) -> float:
    """How much colour step a paste added at the square's border: the mean over channels of
    |seam_step(output) - seam_step(source)|, in levels (0 = none)."""
    return float(np.abs(seam_step(output, square, feather)
                        - seam_step(source, square, feather)).mean())
