"""The training progress bar: step, steps/s, ETA and the main losses.

Where output is not a terminal (a log file, nohup, CI), a bar cannot redraw, so a plain
line with the same facts is printed every `log_interval_s` seconds instead.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Shown on the bar, in this order, when the run computes them.
SHOWN = {"loss/g_total": "G", "loss/d_a": "D_A", "loss/d_b": "D_B",
         "a2b/recycle": "rec_A", "b2a/recycle": "rec_B", "a2b/cycle": "cyc_A",
         "b2a/cycle": "cyc_B"}


class TrainProgress:
    def __init__(self, start: int, total: int, enabled: bool = True,
                 console: Console | None = None, log_interval_s: float = 60.0) -> None:
        self.console = console or Console(stderr=True)
        self.enabled, self.log_interval_s = enabled, log_interval_s
        self._last_line = time.monotonic()
        self.progress = Progress(
            TextColumn("[bold]step"), MofNCompleteColumn(), BarColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=self.console, disable=not enabled or not self.console.is_terminal,
        )
        self.task = self.progress.add_task("train", total=total, completed=start,
                                           losses="", rate="")

    def __enter__(self) -> TrainProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def show_losses(self, losses: dict[str, float]) -> None:
        text = "  ".join(f"{label} {losses[key]:.3f}" for key, label in SHOWN.items()
                         if key in losses)
        self.progress.update(self.task, losses=text)

    def advance(self) -> None:
        self.progress.advance(self.task)
        task = self.progress.tasks[0]
        rate = f"{task.speed:.2f} steps/s" if task.speed else ""
        self.progress.update(self.task, rate=rate)
        now = time.monotonic()
        if self.enabled and not self.console.is_terminal and (
                now - self._last_line >= self.log_interval_s or task.finished):
            self._last_line = now
            remaining = task.time_remaining
            eta = f"eta {remaining:.0f} s" if remaining is not None and not task.finished else ""
            self.console.print(f"step {int(task.completed)}/{int(task.total)}  {rate}  {eta}  "
                               f"{task.fields['losses']}", highlight=False, soft_wrap=True)
