"""The invisible mark every retargeted frame carries: its layout, payload and embedding.

The mark is one TILE x TILE luma pattern repeated over the frame from its top-left corner. It
is built in the frequency domain: every bin of the tile's 2-D DFT in a ring of middle
frequencies (RING bins from the centre, about 0.05-0.19 cycles per pixel) carries one
cosine of equal energy. The ring's bins are dealt out once, by a fixed key:

- SYNC bins have key-derived phases that every detector knows; correlating with them finds
  the tile's scale and position (see provenance.detect);
- each of the PAYLOAD_BITS payload bits owns BINS_PER_BIT bins whose sign is the bit.

Middle frequencies pass H.264 and half-size scaling yet stay hard to see; a periodic tile
survives cropping (it only shifts the tile's phase); and the same tile in every frame lets
detection vote over every tile of every frame. The payload is the first 32 bits of a hash
identifying the run (`run_hash`) followed by a 16-bit CRC. The key is public, as is this
code: the mark discloses, it does not resist a determined remover.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import cv2
import numpy as np

from recyclegan.errors import RecycleganError

TILE = 128
RING = (4.0, 18.0)  # inner and outer radius of the carrying ring, in DFT bins of the tile
HASH_BITS, CRC_BITS = 24, 16
PAYLOAD_BITS = HASH_BITS + CRC_BITS
BINS_PER_BIT = 5
MARKED = 2 / 3  # share of the ring's bins that carry the mark
DEFAULT_STRENGTH = 2.8  # RMS of the mark in 8-bit luma levels: PSNR about 39 dB
_KEY = b"recyclegan disclosure watermark v1"
# Luma weights (BT.601): adding the same value to R, G and B moves luma by that value and
# leaves the colour difference signals untouched.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Layout:
    """The keyed assignment of ring bins: `bins` (n, 2) as (row, column) frequencies,
    `phases` (n,), `owner` (n,) = -1 for sync bins, else the payload bit carried.
    `reference` (m, 2): the bins around the ring that carry nothing; detection measures
    the noise on them."""

    bins: np.ndarray
    phases: np.ndarray
    owner: np.ndarray
    reference: np.ndarray

    @property
    def sync(self) -> np.ndarray:
        return self.owner < 0


@functools.cache
def layout() -> Layout:
    """The one layout every mark and detector uses (a function of _KEY only)."""
    half = TILE // 2
    around = [(u, v) for u in range(-half + 1, half) for v in range(0, half)
              if (v > 0 or u > 0) and RING[0] - 2 <= np.hypot(u, v) <= RING[1] + 2]
    ring = [b for b in around if RING[0] <= np.hypot(*b) <= RING[1]]
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(_KEY).digest()[:8], "little"))
    order = rng.permutation(len(ring))
    used = round(len(ring) * MARKED)
    chosen = np.array(ring, np.int64)[order[:used]]
    unused = {tuple(b) for b in np.array(ring, np.int64)[order[used:]]}
    reference = np.array([b for b in around if b in unused or tuple(b) not in set(ring)],
                         np.int64)
    owner = np.full(len(chosen), -1, np.int64)
    carried = PAYLOAD_BITS * BINS_PER_BIT
    owner[:carried] = np.arange(carried) % PAYLOAD_BITS
    phases = rng.uniform(0, 2 * np.pi, len(chosen))
    return Layout(bins=chosen, phases=phases, owner=owner, reference=reference)


def crc16(bits: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT (polynomial 0x1021, start 0xFFFF) of a bit sequence, as 16 bits, most
    significant first."""
    register = 0xFFFF
    for bit in np.asarray(bits, np.uint8):
        feedback = ((register >> 15) & 1) ^ int(bit)
        register = ((register << 1) & 0xFFFF) ^ (0x1021 if feedback else 0)
    return np.array([(register >> (15 - i)) & 1 for i in range(16)], np.uint8)


def payload_bits(run_hash: str) -> np.ndarray:
    """The payload bits for a run hash given as hex: its first HASH_BITS bits and their CRC."""
    digits = HASH_BITS // 4
    try:
        value = int(run_hash[:digits], 16)
    except ValueError:
        raise RecycleganError(f"run hash must be hexadecimal, got {run_hash!r}") from None
    if len(run_hash) < digits:
        raise RecycleganError(f"run hash needs at least {digits} hex digits, got {run_hash!r}")
    bits = np.array([(value >> (HASH_BITS - 1 - i)) & 1 for i in range(HASH_BITS)], np.uint8)
    return np.concatenate([bits, crc16(bits)])


def decode_payload(bits: np.ndarray) -> str | None:
    """The carried hash (hex) if the payload's CRC holds, else None."""
    bits = np.asarray(bits, np.uint8)
    if not np.array_equal(crc16(bits[:HASH_BITS]), bits[HASH_BITS:]):
        return None
    value = int("".join(str(b) for b in bits[:HASH_BITS]), 2)
    return f"{value:0{HASH_BITS // 4}x}"


def cosines(bins: np.ndarray, phases: np.ndarray, rows: np.ndarray,
            columns: np.ndarray) -> np.ndarray:
    """(n, len(rows), len(columns)): cos(2 pi (u y + v x) / TILE + phase) for each bin
    (u, v), at coordinates y in `rows` and x in `columns` (in pixels of the tile)."""
    angle = 2 * np.pi / TILE
    return np.cos(bins[:, 0, None, None] * (angle * rows)[None, :, None]
                  + bins[:, 1, None, None] * (angle * columns)[None, None, :]
                  + phases[:, None, None])


@functools.cache
def _signs(run_hash: str) -> np.ndarray:
    """+1 or -1 for each bin: sync bins +1, payload bins their bit's sign."""
    lay = layout()
    signs = np.ones(len(lay.bins))
    bits = payload_bits(run_hash)
    carried = ~lay.sync
    signs[carried] = np.where(bits[lay.owner[carried]] == 1, 1.0, -1.0)
    return signs


def _unit() -> float:
    """The RMS of the sum of the layout's cosines (the same for every payload)."""
    return math.sqrt(len(layout().bins) / 2)


@functools.cache
def tile(run_hash: str) -> np.ndarray:
    """The TILE x TILE mark for a run hash, float32 with unit RMS."""
    grid = np.arange(TILE, dtype=np.float64)
    pattern = np.tensordot(_signs(run_hash), cosines(layout().bins, layout().phases, grid,
                                                     grid), axes=1)
    return (pattern / _unit()).astype(np.float32)


def shrunk(run_hash: str, height: int, width: int) -> np.ndarray:
    """The mark for a frame under one tile on its short side: the tile drawn smaller, with
    one period across that side, so that it is found at that scale (float32, unit RMS)."""
    scale = min(height, width) / TILE  # frame pixels per pixel of the tile
    pattern = np.tensordot(_signs(run_hash), cosines(
        layout().bins, layout().phases, np.arange(height) / scale, np.arange(width) / scale),
        axes=1)
    return (pattern / _unit()).astype(np.float32)


class Watermarker:
    """Add the mark to RGB uint8 frames: `marked = Watermarker(run_hash)(frame)`.

    Frames under TILE pixels on their short side get the tile drawn smaller (see `shrunk`);
    below about 48 pixels the mark is too small for the detector's search.
    `strength` is the mark's RMS in luma levels before rounding and clipping. Frames are
    whole numbers, so round(frame + mark) = frame + round(mark): the rounded mark for each
    frame size is computed once, split into its positive and negative parts, and applied
    with two saturating uint8 operations.
    """

    def __init__(self, run_hash: str, strength: float = DEFAULT_STRENGTH) -> None:
        if not strength > 0:
            raise RecycleganError(f"watermark strength must be positive, got {strength}")
        self.run_hash, self.strength = run_hash, strength
        self._parts: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def pattern(self, height: int, width: int) -> np.ndarray:
        """The mark over a height x width frame, float32."""
        if min(height, width) < TILE:
            return shrunk(self.run_hash, height, width) * np.float32(self.strength)
        reps = (-(-height // TILE), -(-width // TILE))
        unit = tile(self.run_hash) * np.float32(self.strength)
        return np.ascontiguousarray(np.tile(unit, reps)[:height, :width])

    def steps(self, height: int, width: int) -> np.ndarray:
        """The mark rounded to whole levels, int16 (height, width): what __call__ adds to
        each of R, G and B, saturating at 0 and 255."""
        return np.rint(self.pattern(height, width)).astype(np.int16)

    def _split(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        key = (height, width)
        if key not in self._parts:
            steps = np.repeat(self.steps(height, width)[:, :, None], 3, axis=2)
            self._parts[key] = (np.clip(steps, 0, 255).astype(np.uint8),
                                np.clip(-steps, 0, 255).astype(np.uint8))
        return self._parts[key]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise RecycleganError(f"expected an HxWx3 uint8 RGB frame, got {frame.dtype} "
                                  f"{frame.shape}")
        up, down = self._split(*frame.shape[:2])
        return cv2.subtract(cv2.add(np.ascontiguousarray(frame), up), down)
