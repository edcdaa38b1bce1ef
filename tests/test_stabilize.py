"""Flow stabilisation: less flicker along real motion, nothing changed where it should not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recyclegan.errors import RecycleganError
from recyclegan.inference.load import load_output_predictor
from recyclegan.inference.stabilize import FlowStabilizer, build_stabilizer
from recyclegan.inference.translate import Retargeter
from recyclegan.metrics import warping_error
from recyclegan.training.checkpoint import load_weights
from recyclegan.training.run import train_run
from test_metrics_temporal import panning_clip
from tiny import make_dataset, tiny_overrides


def flickering(clip: np.ndarray, seed: int = 1) -> np.ndarray:
    """The clip with a random brightness offset per frame: flicker the motion does not explain."""
    offsets = np.random.default_rng(seed).integers(-20, 21, size=(len(clip), 1, 1, 1))
    return np.clip(clip.astype(int) + offsets, 0, 255).astype(np.uint8)


def stabilized(stabilizer: FlowStabilizer, clip: np.ndarray, out: np.ndarray) -> np.ndarray:
    stabilizer.reset()
    return np.stack([stabilizer(x, y) for x, y in zip(clip, out, strict=True)])


@pytest.mark.parametrize("flow", ["dis", "farneback"])
def test_flow_stabilizer_removes_most_flicker(flow: str) -> None:
    clip = panning_clip()
    out = flickering(clip)
    before = warping_error(clip, out, flow=flow)
    after = warping_error(clip, stabilized(FlowStabilizer(0.75), clip, out), flow=flow)
    assert after < 0.5 * before


def test_first_frame_and_zero_strength_are_untouched() -> None:
    clip = panning_clip()
    out = flickering(clip)
    assert np.array_equal(stabilized(FlowStabilizer(0.0), clip, out), out)
    smoothed = stabilized(FlowStabilizer(0.5), clip, out)
    assert np.array_equal(smoothed[0], out[0])
    assert not np.array_equal(smoothed[1], out[1])


def test_reset_starts_a_new_clip() -> None:
    clip = panning_clip()
    out = flickering(clip)
    stabilizer = FlowStabilizer(0.5)
    first = stabilized(stabilizer, clip, out)
    assert np.array_equal(stabilized(stabilizer, clip, out), first)


def test_size_change_restarts_the_filter() -> None:
    clip, out = panning_clip(), flickering(panning_clip())
    stabilizer = FlowStabilizer(0.5)
    stabilizer(clip[0], out[0])
    small_in, small_out = clip[1, :32, :32].copy(), out[1, :32, :32].copy()
    assert np.array_equal(stabilizer(small_in, small_out), small_out)


@pytest.mark.parametrize("method, strength", [("predictor", 0.5), ("flow", 1.0), ("flow", -0.1)])
def test_bad_settings_are_refused(method: str, strength: float) -> None:
    with pytest.raises(RecycleganError):
        build_stabilizer(method, strength)


def test_build_stabilizer() -> None:
    assert build_stabilizer("none") is None
    assert isinstance(build_stabilizer("flow", 0.3), FlowStabilizer)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("stabilize")
    data_a, data_b = make_dataset(root, "a"), make_dataset(root, "b")
    for preset in ("recycle", "cycle"):
        train_run(data_a, data_b, root / preset, {**tiny_overrides(1), "preset": preset},
                  progress=False)
    return root


def test_retargeter_stabilizes_each_clip_afresh(runs) -> None:
    clip = [frame[:32, :32].copy() for frame in panning_clip()]
    plain = Retargeter.from_run(runs / "recycle", device="cpu")
    flow = Retargeter.from_run(runs / "recycle", device="cpu", stabilize="flow",
                               stabilize_strength=0.5)
    raw = list(plain.translate_frames(clip))
    first = list(flow.translate_frames(clip))
    assert np.array_equal(first[0], raw[0])
    assert any(not np.array_equal(a, b) for a, b in zip(first[1:], raw[1:], strict=True))
    assert all(np.array_equal(a, b)
               for a, b in zip(first, flow.translate_frames(clip), strict=True))


def test_load_output_predictor(runs) -> None:
    assert load_output_predictor(runs / "cycle", "a2b") is None
    for direction, name in (("a2b", "pred_b"), ("b2a", "pred_a")):
        predictor = load_output_predictor(runs / "recycle", direction)
        _, weights = load_weights(runs / "recycle" / "checkpoints", prefix=f"{name}.")
        for key, value in predictor.state_dict().items():
            assert torch.equal(value, weights[f"{name}.{key}"])
