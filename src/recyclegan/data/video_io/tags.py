"""Reading a video container's tags (its metadata)."""

from __future__ import annotations

from pathlib import Path

from recyclegan.data.video_io.common import open_input


def read_tags(path: str | Path) -> dict[str, str]:
    """The container-level tags of a video file, as FFmpeg reports them."""
    with open_input(path) as container:
        return dict(container.metadata)
