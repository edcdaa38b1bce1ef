"""Streaming: reading and writing a long video takes no more memory than a short one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Reads SRC and writes OUT with its audio, then prints frames written and peak RSS in KiB.
_CHILD = """
import sys
from recyclegan.data.video_io import VideoReader, VideoWriter

source, out = sys.argv[1], sys.argv[2]
with VideoReader(source) as reader, VideoWriter(out, reader.info, audio_from=source) as writer:
    for frame in reader:
        writer.write(frame.image, frame.pts)
    assert reader.decode_errors == [], reader.decode_errors
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(writer.frames, peak.split()[1])
"""


def _peak_kib(source: Path, out: Path) -> tuple[int, int]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    frames, peak = result.stdout.split()
    return int(frames), int(peak)


def test_memory_does_not_grow_with_length(tmp_path, av_clip):
    peaks = {}
    for frames in (300, 3000):  # 12 s and 2 min at 25 fps, 96x96, with audio
        source = av_clip(tmp_path / f"in{frames}.mkv", frames=frames, size=96, gop=250,
                         noise=False)
        written, peaks[frames] = _peak_kib(source, tmp_path / f"out{frames}.mkv")
        assert written == frames
    # Keeping every frame would add 2700 * 27 KiB = 73 MiB; packets queued for muxing, 10+ MiB.
    growth_mib = (peaks[3000] - peaks[300]) / 1024
    assert growth_mib < 8, f"peak RSS grew by {growth_mib:.1f} MiB for 10x the frames"
