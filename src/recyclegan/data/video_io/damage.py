"""Working out which frames of a damaged video were lost, and where."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recyclegan.errors import RecycleganError


@dataclass(frozen=True)
class DecodeError:
    """`frames` frames lost from `time` seconds on, just before the reader's frame `index`."""

    index: int
    time: float
    frames: int
    message: str


def format_time(seconds: float) -> str:
    """00:01.2 style, with hours only when needed."""
    minutes, seconds = divmod(round(max(seconds, 0.0), 1), 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{minutes:02d}:{seconds:04.1f}"
    return f"{hours}:{text}" if hours else text


def describe_decode_errors(errors: Sequence[DecodeError], shown: int = 5) -> str:
    """One line for a warning: 'N frames could not be decoded (around 00:01.2, 00:07.9)'."""
    total = sum(error.frames for error in errors)
    places = ", ".join(format_time(error.time) for error in errors[:shown])
    more = ", ..." if len(errors) > shown else ""
    return f"{total} frame{'s' if total != 1 else ''} could not be decoded (around {places}{more})"


class LossTracker:
    """Turns decode failures and the timestamps of the frames that did come out into losses.

    Decoders drop frames silently as often as they fail loudly (the Matroska demuxer skips
    past damaged bytes; an H.264 decoder skips frames whose references are gone), so losses
    are read off the timeline: a gap of about k frame durations (as the container gives it,
    else the nominal period) between two frames means k - 1 frames are missing.
    Variable-frame-rate video has such gaps by design, so a gap counts
    only where the stream is known to be constant-rate (`constant_rate`: a container that
    indexes every frame and whose average rate equals its nominal one) or where there are
    signs of damage near it: a failed packet, a frame flagged corrupt, bytes the demuxer
    skipped. Failures that no gap explains count as one frame each. Frames that arrive out of
    order after damage are dropped. With `strict`, the first loss raises RecycleganError.
    """

    def __init__(
        self,
        path: Path,
        period: float | None,
        constant_rate: bool,
        start: float | None,
        end: float | None,
        strict: bool,
    ) -> None:
        self.errors: list[DecodeError] = []
        self._path = path
        self._period = period
        self._constant_rate = constant_rate
        self._end = end
        self._strict = strict
        # Damage shows up to a decoder delay away from the gap it causes.
        self._slack = max(1.0, 16 * (period or 0.0))
        self._failures: list[tuple[float, str]] = []  # not yet explained by a gap
        self._signs: list[float] = []  # times of other signs of damage
        # A virtual frame one period before the start, so frames lost at the head show as a gap.
        self._last = start - period if start is not None and period else None
        self._last_end = start or 0.0
        self._last_duration = period
        self._gap = (0.0, 0.0)
        self._count = 0

    def failed(self, time: float | None, message: str) -> None:
        """A packet could not be read or decoded."""
        if time is None:
            time = self._last_end
        if self._strict:
            self._record(time, 1, message)
        self._failures.append((time, message))

    def suspect(self, time: float | None) -> None:
        """Something looks damaged around `time` (bytes skipped), though nothing failed."""
        self._signs.append(time if time is not None else self._last_end)

    def accept(self, time: float, duration: float | None, corrupt: bool) -> bool:
        """Account for a decoded frame; False if it comes out of order and must be dropped."""
        last = self._last
        if last is not None and time <= last:
            if not self._gap[0] <= time < self._gap[1]:
                self._record(time, 1, "frame out of order after damage")
            return False
        if corrupt:
            self._signs.append(time)
        if last is not None and self._last_duration:
            low, high = last - self._slack, time + self._slack
            self._signs = [sign for sign in self._signs if sign >= low]
            missing = round((time - last) / self._last_duration) - 1
            near = [failure for failure in self._failures if low <= failure[0] <= high]
            signs = any(sign <= high for sign in self._signs)
            if missing >= 1 and (self._constant_rate or near or signs):
                self._failures = [failure for failure in self._failures if failure not in near]
                self._gap = (last, time)
                message = near[0][1] if near else "frames missing"
                self._record(last + self._last_duration, missing, message)
        self._last = time
        self._last_duration = duration or self._period
        self._last_end = time + (self._last_duration or 0.0)
        self._count += 1
        return True

    def finish(self) -> None:
        """Count what is missing at the end: a truncated tail, failures no gap explained."""
        tail = 0
        if self._end is not None and self._period:
            tail = round((self._end - self._last_end) / self._period)
        message = "the file ends early (truncated?)"
        if tail >= 1:
            start = self._last_end - self._slack
            in_tail = [failure for failure in self._failures if failure[0] >= start]
            if in_tail:
                message = f"{in_tail[0][1]}, and no frame decoded after it"
                self._failures = [failure for failure in self._failures if failure not in in_tail]
        for time, failure in self._failures:
            self._record(time, 1, failure)
        self._failures.clear()
        if tail >= 1:
            self._record(self._last_end, tail, message)

    def _record(self, time: float, frames: int, message: str) -> None:
        if self._strict:
            raise RecycleganError(
                f"{self._path}: decoding failed after {self._count} frames, at "
                f"{format_time(time)} ({message}); re-encode or trim the file"
            )
        self.errors.append(DecodeError(self._count, time, frames, message))
