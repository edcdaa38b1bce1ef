"""Finding the mark (see provenance.watermark) in frames that may have been re-encoded,
scaled or cropped since.

1. Each frame's luma minus its local mean, scaled to unit RMS, is averaged over the frames:
   the mark is the same in every frame while the content moves, so it adds up.
2. Alignment: for each candidate scale the average is resampled so that one tile of the
   mark would span TILE pixels, folded (all tiles summed onto one), and correlated at every
   cyclic shift with the sync bins, each bin weighted by the noise measured on nearby
   unused bins and capped; scaled by the unused bins' own spread after the same
   treatment, the correlation is a z-score. Scales are
   searched coarse to fine; the best scale and shift win.
3. At that alignment the payload bits are read from the averaged frames (the vote) and
   from each frame alone (how many frames carry a readable mark).

The mark counts as found when the score reaches Z_FOUND and the payload's CRC holds, or
when the score alone reaches Z_SURE. Over 112 unmarked clips the best of the search's
million-odd alignments scored 4.6 +- 0.5 (at most 6.0), so a score of 7 alone would still
false-alarm now and then on inputs whose noise the score misjudges; the CRC (about 1 in
3,000 for random bits, Chase tries included) makes that negligible.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from recyclegan.provenance.watermark import LUMA, PAYLOAD_BITS, TILE, decode_payload, layout

Z_FOUND, Z_SURE = 7.0, 10.0
_SIGMA = 4.0  # the local mean removed from luma: a Gaussian of this many pixels
_CLIP = 4.0  # residuals beyond this many RMS (edges) are clipped
# Scale = video pixels per pixel of the marked frame. Coarse steps of 2% between 1/3 and 3,
# then 0.4% and 0.08% around the best candidates.
_COARSE = (math.log(1.02), 55)
_FINE = ((math.log(1.004), 5, 4), (math.log(1.0008), 5, None))
_CANDIDATES = 3
_CAP = 3.0
_WEAKEST, _FLIPS = 6, 2
_COARSE_TILES = 2  # the coarse search looks at a centre window this many tiles across


@dataclass(frozen=True)
class Alignment:
    scale: float  # video pixels per pixel of the marked frame
    shift: tuple[int, int]  # the tile's cyclic (row, column) phase after resampling
    score: float  # sync z-score


@dataclass(frozen=True)
class WatermarkResult:
    found: bool
    score: float  # sync z-score of the frames' average at the best alignment
    run_hash: str | None  # the payload voted over all frames, None when its CRC fails
    frames: int  # frames examined
    frames_decoded: int  # frames whose own payload equals the voted one
    scale: float | None

    @property
    def decoded_fraction(self) -> float:
        return self.frames_decoded / self.frames if self.frames else 0.0


def residual(frame: np.ndarray) -> np.ndarray:
    """Luma minus its local mean, at unit RMS and with outliers clipped (float32 HxW)."""
    luma = frame.astype(np.float32) @ LUMA
    local = cv2.GaussianBlur(luma, (0, 0), _SIGMA, borderType=cv2.BORDER_REFLECT)
    luma -= local
    rms = float(np.sqrt(np.mean(luma * luma)))
    luma /= max(rms, 1e-3)
    return np.clip(luma, -_CLIP, _CLIP, out=luma)


class ResidualMean:
    """The running average of frames' residuals (frames of one size)."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, frame: np.ndarray) -> np.ndarray:
        """Add one RGB frame; returns its residual."""
        res = residual(frame)
        if self.total is None:
            self.total = res.astype(np.float64)
        elif self.total.shape != res.shape:
            raise ValueError("all frames must have one size")
        else:
            self.total += res
        self.count += 1
        return res

    def mean(self) -> np.ndarray:
        return (self.total / max(self.count, 1)).astype(np.float32)


def _resample(image: np.ndarray, scale: float) -> np.ndarray:
    """The image seen at `1 / scale`: out(y, x) = image(scale y, scale x)."""
    if abs(scale - 1.0) < 1e-9:
        return image
    height, width = image.shape
    size = (max(1, int((width - 1) / scale) + 1), max(1, int((height - 1) / scale) + 1))
    if scale > 1.5:  # shrinking: take the noise above the mark's band out first
        image = cv2.GaussianBlur(image, (0, 0), 0.35 * scale)
    matrix = np.array([[scale, 0, 0], [0, scale, 0]], np.float64)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _fold(image: np.ndarray) -> np.ndarray:
    """Sum all TILE x TILE tiles of the image (anchored at its top-left) onto one.

    Every pixel counts once, as a matched filter would weight it; averaging instead would
    give the few pixels of a partial tile as much weight as many whole tiles (it cost a
    third of the score on frames 10% smaller than a whole number of tiles)."""
    height, width = image.shape
    rows, columns = -(-height // TILE) * TILE, -(-width // TILE) * TILE
    total = np.zeros((rows, columns), np.float64)
    total[:height, :width] = image
    return total.reshape(rows // TILE, TILE, columns // TILE, TILE).sum((0, 2))


@functools.cache
def _noise_groups() -> list[tuple[np.ndarray, np.ndarray]]:
    """(mark bins, reference bins) index pairs: one per whole-number radius, each reference
    set holding the unused bins within 1.5 of that radius."""
    lay = layout()
    marked, unused = np.hypot(*lay.bins.T), np.hypot(*lay.reference.T)
    groups = []
    for radius in np.unique(np.rint(marked)):
        groups.append((np.flatnonzero(np.rint(marked) == radius),
                       np.flatnonzero(np.abs(unused - radius) <= 1.5)))
    return groups


def _phases(folded: np.ndarray) -> tuple[np.ndarray, float]:
    """Each mark bin's observation, turned by its key phase and divided by the noise
    measured on the unused bins of about the same frequency, its length capped at _CAP so
    that no one bin can dominate; and the mean power of the unused bins treated alike
    (about 1 where the noise estimate is right; without a mark, each mark bin's component
    along any phase has half that variance)."""
    lay = layout()
    spectrum = np.fft.fft2(folded)
    observed = np.exp(1j * lay.phases) * np.conj(spectrum[lay.bins[:, 0] % TILE,
                                                          lay.bins[:, 1] % TILE])
    unused = spectrum[lay.reference[:, 0] % TILE, lay.reference[:, 1] % TILE]
    power = np.abs(unused) ** 2
    reference_power = []
    for marked, reference in _noise_groups():
        # The median of |noise|^2 is ln 2 times its mean for complex Gaussian noise.
        noise = max(float(np.median(power[reference])) / math.log(2), 1e-20)
        observed[marked] /= math.sqrt(noise)
        reference_power.append(np.minimum(power[reference] / noise, _CAP**2))
    length = np.abs(observed)
    capped = observed * np.minimum(1.0, _CAP / np.maximum(length, 1e-12))
    return capped, float(np.mean(np.concatenate(reference_power)))


def _sync_surface(observed: np.ndarray, null_power: float) -> np.ndarray:
    """Sync z-score at every cyclic shift (TILE x TILE)."""
    lay = layout()
    grid = np.zeros((TILE, TILE), np.complex128)
    sync = lay.sync
    grid[lay.bins[sync, 0] % TILE, lay.bins[sync, 1] % TILE] = observed[sync]
    return np.fft.fft2(grid).real / math.sqrt(max(sync.sum() * null_power / 2, 1e-20))


def _bits_at(observed: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Soft payload bits (> 0 reads as 1) at a tile phase."""
    lay = layout()
    turn = np.exp(-2j * np.pi * (lay.bins[:, 0] * shift[0] + lay.bins[:, 1] * shift[1]) / TILE)
    contribution = (observed * turn).real
    carried = ~lay.sync
    return np.bincount(lay.owner[carried], contribution[carried], minlength=PAYLOAD_BITS)


def _score(image: np.ndarray, scale: float) -> Alignment:
    surface = _sync_surface(*_phases(_fold(_resample(image, scale))))
    row, column = np.unravel_index(int(np.argmax(surface)), surface.shape)
    return Alignment(scale, (int(row), int(column)), float(surface[row, column]))


def _centre(image: np.ndarray, side: float) -> np.ndarray:
    height, width = image.shape
    rows, columns = min(height, math.ceil(side)), min(width, math.ceil(side))
    top, left = (height - rows) // 2, (width - columns) // 2
    return image[top:top + rows, left:left + columns]


def largest_scale(height: int, width: int) -> float:
    """Scales above this would shrink the frame below one whole tile, where folding and the
    noise estimate break down (and false alarms appear)."""
    return min(height, width) / TILE


def align(mean_residual: np.ndarray) -> Alignment:
    """The scale and tile phase at which the sync bins correlate best."""
    step, reach = _COARSE
    limit = largest_scale(*mean_residual.shape)
    scales = [s for i in range(-reach, reach + 1) if (s := math.exp(step * i)) <= limit]
    coarse = sorted((_score(_centre(mean_residual, _COARSE_TILES * TILE * s), s)
                     for s in scales), key=lambda a: a.score, reverse=True)
    candidates = [a.scale for a in coarse[:_CANDIDATES]]
    best = coarse[0]
    for step, reach, tiles in _FINE:
        tried = []
        for centre in candidates:
            for i in range(-reach, reach + 1):
                s = centre * math.exp(step * i)
                if s > limit:
                    continue
                window = mean_residual if tiles is None else _centre(mean_residual,
                                                                     tiles * TILE * s)
                tried.append(_score(window, s))
        tried.sort(key=lambda a: a.score, reverse=True)
        candidates = [a.scale for a in tried[:_CANDIDATES]]
        best = tried[0]
    # The last stage scored the whole image, so its shift is the whole image's.
    score, _ = read_bits(mean_residual, best)
    return Alignment(best.scale, best.shift, score)


def _calibrated_score(observed: np.ndarray, shift: tuple[int, int]) -> float:
    """The sync correlation at one shift over its spread measured on this very input: the
    components of all mark bins at right angles to the shift's phases hold no mark, and
    without one they vary as much as the components along it. The search's own z-scores
    rest on the unused bins and were off by up to a fifth on some clips, enough to raise
    false alarms; this one is checked on the sync bins' own frequencies."""
    lay = layout()
    turn = np.exp(-2j * np.pi * (lay.bins[:, 0] * shift[0] + lay.bins[:, 1] * shift[1]) / TILE)
    aligned = observed * turn
    spread = math.sqrt(max(float(lay.sync.sum() * np.mean(aligned.imag ** 2)), 1e-20))
    return float(aligned.real[lay.sync].sum()) / spread


def read_bits(res: np.ndarray, alignment: Alignment) -> tuple[float, np.ndarray]:
    """(calibrated sync z-score, soft payload bits) of one residual at a known alignment."""
    observed, _ = _phases(_fold(_resample(res, alignment.scale)))
    return (_calibrated_score(observed, alignment.shift),
            _bits_at(observed, alignment.shift))


def too_small(height: int, width: int) -> bool:
    """Frames that would hold less than a whole tile at the smallest scale searched."""
    return largest_scale(height, width) < math.exp(-_COARSE[0] * _COARSE[1])


def detect_frames(frames: Iterable[np.ndarray]) -> WatermarkResult:
    """Look for the mark in RGB uint8 frames of one size (held in memory as residuals)."""
    mean = ResidualMean()
    residuals = [mean.add(frame) for frame in frames]
    return decide(mean, residuals)


def decode_soft(soft: np.ndarray) -> str | None:
    """The run hash from soft bits, or None. Besides the hard decision, it tries flipping
    up to _FLIPS of the _WEAKEST least certain bits (Chase decoding); the 16-bit CRC must
    hold, which a wrong guess passes with odds of about 1 in 3,000 over all tries."""
    hard = (soft > 0).astype(np.uint8)
    weakest = np.argsort(np.abs(soft))[:_WEAKEST]
    tries = [()] + [flip for count in range(1, _FLIPS + 1)
                    for flip in itertools.combinations(weakest, count)]
    tries.sort(key=lambda flip: float(np.abs(soft[list(flip)]).sum()))
    for flip in tries:
        bits = hard.copy()
        bits[list(flip)] ^= 1
        run_hash = decode_payload(bits)
        if run_hash is not None:
            return run_hash
    return None


def decide(mean: ResidualMean, residuals: Iterable[np.ndarray]) -> WatermarkResult:
    """The verdict from the frames' average and each frame's residual."""
    if mean.count == 0 or too_small(*mean.total.shape):
        return WatermarkResult(False, 0.0, None, mean.count, 0, None)
    average = mean.mean()
    alignment = align(average)
    if alignment.score < Z_FOUND:
        return WatermarkResult(False, alignment.score, None, mean.count, 0, alignment.scale)
    run_hash = decode_soft(read_bits(average, alignment)[1])
    if run_hash is None and alignment.score < Z_SURE:
        return WatermarkResult(False, alignment.score, None, mean.count, 0, alignment.scale)
    decoded = 0
    if run_hash is not None:
        decoded = sum(decode_soft(read_bits(res, alignment)[1]) == run_hash
                      for res in residuals)
    return WatermarkResult(True, alignment.score, run_hash, mean.count, decoded,
                           alignment.scale)
