"""The square window a face is cropped through, in frame pixel coordinates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Square:
    """Centre (cx, cy) and side, in pixels of the full frame; may reach past its borders."""

    cx: float
    cy: float
    side: float

    @property
    def left(self) -> float:
        return self.cx - self.side / 2

    @property
    def top(self) -> float:
        return self.cy - self.side / 2

    def scaled(self, factor: float) -> Square:
        """The same centre with the side times `factor` (a margin around a face box)."""
        return Square(self.cx, self.cy, self.side * factor)
