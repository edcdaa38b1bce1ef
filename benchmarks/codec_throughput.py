"""Host-side ceilings of `retarget` end to end: decoding, marking and encoding alone.

    python benchmarks/codec_throughput.py --size 256 --frames 600
    python benchmarks/codec_throughput.py --size 256 --frames 600 --presets medium ultrafast

No model runs. The clip is the one `benchmarks/retarget_throughput.py` and `recyclegan bench`
translate (random noise scrolling sideways, H.264 at crf 18: a hard case for both decoder
and encoder). Each stage is timed on its own, in one thread, through recyclegan's own
VideoReader, Watermarker and VideoWriter, so the slowest stage bounds what end to end can
reach on this machine however fast the GPU is (the three run in parallel threads there).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from recyclegan.bench.inference import write_clip
from recyclegan.data.video_io import ENCODER_PRESETS, VideoReader, VideoWriter
from recyclegan.provenance.watermark import Watermarker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--presets", nargs="+", choices=ENCODER_PRESETS,
                        default=["medium", "veryfast", "ultrafast"])
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.size}x{args.size}, {args.frames} frames")
    print("| stage | frames/s |\n| --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        src = write_clip(Path(folder) / "in.mp4", args.size, args.frames)
        start = time.perf_counter()
        with VideoReader(src) as reader:
            frames = [(frame.pts, frame.image) for frame in reader]
            info = reader.info
        _row("decode to RGB", len(frames), start)
        marker = Watermarker("0" * 64)
        marker(frames[0][1])  # builds the tile for this frame size, once
        start = time.perf_counter()
        marked = [marker(image) for _, image in frames]
        _row("watermark", len(frames), start)
        for preset in args.presets:
            start = time.perf_counter()
            with VideoWriter(Path(folder) / "out.mp4", info, preset=preset) as writer:
                for (pts, _), image in zip(frames, marked, strict=True):
                    writer.write(image, pts)
            _row(f"encode, libx264 {preset}", len(frames), start)


def _row(stage: str, frames: int, start: float) -> None:
    print(f"| {stage} | {frames / (time.perf_counter() - start):.0f} |", flush=True)


if __name__ == "__main__":
    main()
