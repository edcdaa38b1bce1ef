"""Temporal warping error: how much a retargeted video flickers, relative to its input.

Optical flow comes from the *input* video (OpenCV DIS, medium preset, on grayscale), since
the input is the motion the output should follow. For each pair of frames (t, t+1) the
output frame t+1 is warped back onto t along that flow and compared with output frame t,
over the pixels whose flow is trusted. This is the warping error of Lai et al. (ECCV 2018,
"Learning Blind Video Temporal Consistency"), here with the mean absolute difference of RGB
in [0, 1] instead of the squared error, and pairs weighted by their count of valid pixels.

A pixel of frame t is trusted when its target x + f_fw(x) lies inside frame t+1 and the
forward and backward flows agree there (the consistency check of Sundaram et al., ECCV 2010,
with the thresholds Ruder et al., GCPR 2016, used for video style transfer):

    |f_fw(x) + f_bw(x + f_fw(x))|^2 <= alpha * (|f_fw(x)|^2 + |f_bw(x + f_fw(x))|^2) + beta

Pixels that fail it are occluded in t+1 or sit where the flow is unreliable.

Any video has some warping error (flow is imperfect, lighting changes), so the same figure
is computed for the input itself; their ratio says how much flicker the model added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

DEFAULT_ALPHA = 0.01
DEFAULT_BETA = 0.5
# An input error below this (mean absolute difference in [0, 1] units, far under one uint8
# step of 1/255) counts as a static input, for which a ratio is not a meaningful number.
STATIC_TOLERANCE = 1e-6


def _targets(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling maps x + u(x), y + v(x) for cv2.remap."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    return grid_x + flow[..., 0], grid_y + flow[..., 1]


def _warp(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Sample `image` at (map_x, map_y), bilinearly; outside samples are masked by callers."""
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(
    flow_fw: np.ndarray,
    flow_bw: np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
) -> np.ndarray:
    """HxW bool, True where the flow of frame t to t+1 is trusted (see the module docstring).

    `flow_fw` (t -> t+1) and `flow_bw` (t+1 -> t) are HxWx2 float32 (dx, dy) fields. A pixel
    fails when its forward target leaves the frame or the forward-backward check fails.
    """
    if flow_fw.shape != flow_bw.shape or flow_fw.ndim != 3 or flow_fw.shape[2] != 2:
        raise ValueError(f"flows must both be HxWx2, got {flow_fw.shape} and {flow_bw.shape}")
    height, width = flow_fw.shape[:2]
    map_x, map_y = _targets(flow_fw)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    back = _warp(np.ascontiguousarray(flow_bw, dtype=np.float32), map_x, map_y)
    round_trip = ((flow_fw + back) ** 2).sum(axis=2)
    magnitude = (flow_fw**2).sum(axis=2) + (back**2).sum(axis=2)
    return inside & (round_trip <= alpha * magnitude + beta)


def flow_estimator(name: str = "dis") -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Dense flow from one grayscale frame to the next (HxWx2 float32 (dx, dy)).

    "dis" (the default, OpenCV DIS medium) or "farneback": a second, unrelated algorithm,
    for checking that a method tuned along DIS flow did not just learn DIS's errors.
    """
    if name == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda first, second: dis.calc(first, second, None)
    if name == "farneback":
        return lambda first, second: cv2.calcOpticalFlowFarneback(
            first, second, None, pyr_scale=0.5, levels=3, winsize=15, iterations=3,
            poly_n=5, poly_sigma=1.2, flags=0)
    raise ValueError(f"flow must be 'dis' or 'farneback', got {name!r}")


def _check_frame(name: str, frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"{name} frame must be HxWx3 uint8, got {frame.shape} {frame.dtype}")


class VideoWarpingError:
    """Warping error of an output video and of its input, fed one frame pair at a time.

    Holds only the previous frame pair, so a long video needs no list of frames.
    """

    def __init__(self, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA,
                 flow: str = "dis") -> None:
        self.alpha = alpha
        self.beta = beta
        self._flow = flow_estimator(flow)
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._error_sums = {"input": 0.0, "output": 0.0}
        self.pairs = 0
        self.valid_pixels = 0
        self.total_pixels = 0

    def update(self, input_frame: np.ndarray, output_frame: np.ndarray) -> None:
        """Add frame t of the input and of the output (both HxWx3 uint8 RGB, same size)."""
        _check_frame("input", input_frame)
        _check_frame("output", output_frame)
        if input_frame.shape != output_frame.shape:
            raise ValueError(
                f"input frame is {input_frame.shape[:2]} but output frame is "
                f"{output_frame.shape[:2]}: warping error needs equal sizes (resize first)"
            )
        gray = cv2.cvtColor(input_frame, cv2.COLOR_RGB2GRAY)
        current = (gray, input_frame.astype(np.float32), output_frame.astype(np.float32))
        if self._previous is not None:
            if self._previous[0].shape != gray.shape:
                raise ValueError(
                    f"frame size changed from {self._previous[0].shape} to {gray.shape}"
                )
            self._add_pair(self._previous, current)
        self._previous = current

    def _add_pair(
        self,
        previous: tuple[np.ndarray, np.ndarray, np.ndarray],
        current: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        flow_fw = self._flow(previous[0], current[0])
        flow_bw = self._flow(current[0], previous[0])
        valid = consistency_mask(flow_fw, flow_bw, self.alpha, self.beta)
        map_x, map_y = _targets(flow_fw)
        for index, name in ((1, "input"), (2, "output")):
            warped = _warp(current[index], map_x, map_y)
            difference = np.abs(previous[index] - warped).mean(axis=2) / 255.0
            self._error_sums[name] += float(difference[valid].sum(dtype=np.float64))
        self.pairs += 1
        self.valid_pixels += int(valid.sum())
        self.total_pixels += valid.size

    def result(self) -> dict[str, float]:
        return _result(self._error_sums, self.pairs, self.valid_pixels, self.total_pixels)

    @staticmethod
    def combine(meters: Sequence[VideoWarpingError]) -> dict[str, float]:
        """One result over several videos, pooled by valid pixels (no pair spans two videos)."""
        sums = {name: sum(m._error_sums[name] for m in meters) for name in ("input", "output")}
        return _result(sums, sum(m.pairs for m in meters), sum(m.valid_pixels for m in meters),
                       sum(m.total_pixels for m in meters))


def _result(error_sums: dict[str, float], pairs: int, valid_pixels: int,
            total_pixels: int) -> dict[str, float]:
    """{"output", "input", "ratio", "valid_fraction"}; errors in [0, 1] RGB units.

    "ratio" is output / input: 1.0 means no more flicker than the input. For a static
    input (input error below STATIC_TOLERANCE) it is 1.0 when the output is static too
    and inf otherwise. Errors are NaN when no pixel passed the mask.
    """
    if pairs == 0:
        raise ValueError("warping error needs at least two frames")
    if valid_pixels == 0:
        output = source = float("nan")
    else:
        output = error_sums["output"] / valid_pixels
        source = error_sums["input"] / valid_pixels
    if source < STATIC_TOLERANCE:
        ratio = 1.0 if output < STATIC_TOLERANCE else float("inf")
    else:
        ratio = output / source
    return {
        "output": output,
        "input": source,
        "ratio": ratio,
        "valid_fraction": valid_pixels / total_pixels,
    }


def _measure(
    input_frames: Sequence[np.ndarray] | np.ndarray,
    output_frames: Sequence[np.ndarray] | np.ndarray,
    alpha: float,
    beta: float,
    flow: str,
) -> dict[str, float]:
    if len(input_frames) != len(output_frames):
        raise ValueError(
            f"input has {len(input_frames)} frames but output has {len(output_frames)}"
        )
    meter = VideoWarpingError(alpha, beta, flow)
    for input_frame, output_frame in zip(input_frames, output_frames, strict=True):
        meter.update(input_frame, output_frame)
    return meter.result()


def warping_error(
    input_frames: Sequence[np.ndarray] | np.ndarray,
    output_frames: Sequence[np.ndarray] | np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    flow: str = "dis",
) -> float:
    """Warping error of `output_frames` along the flow of `input_frames` (RGB in [0, 1])."""
    return _measure(input_frames, output_frames, alpha, beta, flow)["output"]


def warping_error_ratio(
    input_frames: Sequence[np.ndarray] | np.ndarray,
    output_frames: Sequence[np.ndarray] | np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    flow: str = "dis",
) -> dict[str, float]:
    """Output and input warping errors and their ratio; see `VideoWarpingError.result`."""
    return _measure(input_frames, output_frames, alpha, beta, flow)
