"""The training progress bar: step, steps/s, ETA and the main losses."""

from __future__ import annotations

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
    def __init__(self, start: int, total: int, enabled: bool = True) -> None:
        self.progress = Progress(
            TextColumn("[bold]step"), MofNCompleteColumn(), BarColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            disable=not enabled,
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
        speed = self.progress.tasks[0].speed
        self.progress.update(self.task, rate=f"{speed:.2f} steps/s" if speed else "")
