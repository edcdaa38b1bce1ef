"""Container tags that say a video is synthetic, and reading them back.

mp4, mov, mkv and webm keep every tag; AVI keeps only `comment`, so the comment alone says
it all in a fixed form that `read_disclosure` parses.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from recyclegan import __version__

_COMMENT = "Synthetic video made with recyclegan {version} (Recycle-GAN retargeting), run {run}"
_PARSE = re.compile(r"synthetic video made with recyclegan (\S+) .*run ([0-9a-f]+)", re.I)


@dataclass(frozen=True)
class Disclosure:
    """What a video's tags say about its making."""

    synthetic: bool
    tool: str
    version: str | None
    run: str | None  # the run hash (see inference.load.weights_hash), 16 hex digits
    direction: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def disclosure_tags(run_hash: str, direction: str) -> dict[str, str]:
    """Tags for a video `retarget` writes: synthetic, the tool, its version, run and direction."""
    run = run_hash[:16]
    return {
        "comment": _COMMENT.format(version=__version__, run=run),
        "synthetic": "true",
        "generator": f"recyclegan {__version__}",
        "recyclegan_run": run,
        "recyclegan_direction": direction,
    }


def read_disclosure(tags: dict[str, str]) -> Disclosure | None:
    """The disclosure in a container's tags (any key case), or None if there is none."""
    tags = {key.lower(): value for key, value in tags.items()}
    parsed = _PARSE.search(tags.get("comment", ""))
    generator = tags.get("generator", "")
    if parsed is None and not generator.startswith("recyclegan"):
        return None
    version = parsed.group(1) if parsed else generator.partition(" ")[2] or None
    return Disclosure(
        synthetic=tags.get("synthetic", "true" if parsed else "").lower() == "true",
        tool="recyclegan",
        version=version,
        run=tags.get("recyclegan_run") or (parsed.group(2) if parsed else None),
        direction=tags.get("recyclegan_direction"),
    )
