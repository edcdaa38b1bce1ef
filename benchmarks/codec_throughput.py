"""Host-side ceilings of `retarget` end to end: decoding, marking and encoding alone.

    python benchmarks/codec_throughput.py --size 256 --frames 600
    python benchmarks/codec_throughput.py --size 256 --frames 600 --presets medium ultrafast
    python benchmarks/codec_throughput.py --size 256 --frames 600 --presets ultrafast --repeats 5

No model runs. The clip is the one `benchmarks/retarget_throughput.py` and `recyclegan bench`
translate (random noise scrolling sideways, H.264 at crf 18: a hard case for both decoder
and encoder), or with `--clip-from VIDEO` that video's frames. Each stage is timed on its
own, in one thread, through recyclegan's own VideoReader, Watermarker and VideoWriter, so
the slowest stage bounds what end to end can reach on this machine however fast the GPU is
(the three run in parallel threads there).

Each preset is timed from RGB frames, which FFmpeg converts to YUV 4:2:0 in the encode
thread, and from frames already converted (`retarget` converts video-bound frames on the
model's device, inference.output_stage), alternating `--repeats` times: the median, and the
range in brackets. The conversion's own cost in PyTorch on this CPU is printed too; on a GPU
it is a few kernels per batch.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from recyclegan.bench.inference import write_clip
from recyclegan.data.video_io import ENCODER_PRESETS, VideoReader, VideoWriter
from recyclegan.errors import RecycleganError
from recyclegan.inference.output_stage import rgb_to_yuv420p
from recyclegan.provenance.watermark import Watermarker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--presets", nargs="+", choices=ENCODER_PRESETS,
                        default=["medium", "veryfast", "ultrafast"])
    parser.add_argument("--clip-from", type=Path, metavar="VIDEO",
                        help="make the clip from this video's frames (centre squares, played "
                        "back and forth) instead of scrolling noise")
    parser.add_argument("--repeats", type=int, default=3,
                        help="encodes per preset and source, alternating; the median is shown")
    args = parser.parse_args()
    if args.clip_from is not None and not args.clip_from.is_file():
        parser.error(f"--clip-from {args.clip_from}: no such file")
    if args.size < 16 or args.size % 2 or args.frames < 1 or args.repeats < 1:
        parser.error("--size must be even and at least 16, --frames and --repeats at least 1")
    clip = args.clip_from.name if args.clip_from else "scrolling noise"
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.size}x{args.size}, {args.frames} frames of {clip}")
    print("| stage | frames/s |\n| --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        try:
            src = write_clip(Path(folder) / "in.mp4", args.size, args.frames, args.clip_from)
        except RecycleganError as error:
            parser.error(str(error))
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
        start = time.perf_counter()
        converted = [rgb_to_yuv420p(torch.from_numpy(np.stack(marked[i:i + 128]))).numpy()
                     for i in range(0, len(marked), 128)]
        _row(f"RGB to YUV 4:2:0 in PyTorch, {torch.get_num_threads()} threads, batches of 128",
             len(frames), start)
        planes = [frame for batch in converted for frame in batch]
        sources = (("RGB", marked, VideoWriter.write),
                   ("YUV 4:2:0", planes, VideoWriter.write_yuv420p))
        for preset in args.presets:
            rates: dict[str, list[float]] = {name: [] for name, _, _ in sources}
            for _ in range(args.repeats):  # alternating, as this machine's speed drifts
                for name, images, write in sources:
                    start = time.perf_counter()
                    with VideoWriter(Path(folder) / "out.mp4", info, preset=preset) as writer:
                        for (pts, _), image in zip(frames, images, strict=True):
                            write(writer, image, pts)
                    rates[name].append(len(frames) / (time.perf_counter() - start))
            for name, values in rates.items():
                print(f"| encode from {name}, libx264 {preset} | {np.median(values):.0f} "
                      f"({min(values):.0f}-{max(values):.0f}) |", flush=True)


def _row(stage: str, frames: int, start: float) -> None:
    print(f"| {stage} | {frames / (time.perf_counter() - start):.0f} |", flush=True)


if __name__ == "__main__":
    main()
