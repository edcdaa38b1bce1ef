"""The results of `recyclegan bench` as text: markdown rows (what BENCHMARKS.md takes), a
rich table on a terminal, and a spinner on stderr while measuring."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.table import Table

from recyclegan.bench.inference import InferenceResult
from recyclegan.bench.suite import BenchReport
from recyclegan.bench.training import TrainingResult

TRAINING_COLUMNS = ("variant", "batch", "s/step", "triplets/s", "GFLOP/triplet", "TFLOP/s",
                    "of matmul rate", "peak GPU memory", "host syncs", "warm-up s")
INFERENCE_COLUMNS = ("path", "variant", "batch", "encoder", "frames/s")
_TEXT = {"variant", "path", "encoder", "host syncs"}  # left-aligned in the rich tables


def training_cells(row: TrainingResult) -> list[str]:
    return [
        row.variant, str(row.batch), f"{row.s_per_step:.4f}", f"{row.triplets_per_s:.1f}",
        _figure(row.flops_per_triplet / 1e9, 0) if row.flops_per_triplet else "n/a",
        _figure(row.flop_rate / 1e12, 1) if row.flop_rate else "n/a",
        f"{100 * row.matmul_fraction:.1f}%" if row.matmul_fraction else "n/a",
        f"{row.peak_gib:.2f} GiB" if row.peak_gib is not None else "n/a",
        row.syncs, f"{row.warmup_s:.0f}",
    ]


def _figure(value: float, decimals: int) -> str:
    """`decimals` decimals from 1 up; three significant digits below (CPU-sized figures)."""
    return f"{value:.{decimals}f}" if value >= 1 else f"{value:.3g}"


def inference_cells(row: InferenceResult) -> list[str]:
    return [row.path, row.variant, str(row.batch), row.encoder, f"{row.frames_per_s:.1f}"]


def markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_head(columns: Sequence[str]) -> str:
    return markdown_row(columns) + "\n" + markdown_row(["---"] * len(columns))


def header_lines(report: BenchReport) -> list[str]:
    """Date, device, torch and configuration, one per line."""
    c = report.config
    device = report.device_name
    if report.matmul_tflops:
        device += f" (bf16 matmul {report.matmul_tflops:.0f} TFLOP/s, measured)"
    variants = ", ".join(c.variants) + (", each also compiled" if c.compile else "")
    parts = [f"{c.model_size} networks, {c.preset} losses, {c.size}x{c.size}",
             f"variants {variants}"]
    if c.training:
        parts.append(f"training: batch {_sizes(c.train_batch_sizes)}, {c.steps} timed steps "
                     f"after {c.warmup} warm-up")
    if c.inference:
        parts.append(f"generator only: batch {_sizes(c.generator_batch_sizes)}, {c.steps} "
                     "timed batches")
        if c.retarget_batch_sizes:
            parts.append(f"end to end: batch {_sizes(c.retarget_batch_sizes)}, {c.frames} "
                         "frames")
    return [f"date: {report.date.replace('T', ' ').replace('+00:00', '')} UTC",
            f"device: {device}", f"torch: {report.torch_version}",
            "configuration: " + "; ".join(parts)]


def _sizes(sizes: Sequence[int]) -> str:
    return ", ".join(map(str, sizes))


def markdown(report: BenchReport) -> str:
    lines = ["# recyclegan bench", ""] + [f"- {line}" for line in header_lines(report)]
    if report.training:
        lines += ["", "## Training", "", markdown_head(TRAINING_COLUMNS)]
        lines += [markdown_row(training_cells(row)) for row in report.training]
    if report.inference:
        lines += ["", "## Inference", "", markdown_head(INFERENCE_COLUMNS)]
        lines += [markdown_row(inference_cells(row)) for row in report.inference]
    return "\n".join(lines)


def print_report(report: BenchReport, console: Console) -> None:
    """Markdown when the console is not a terminal (to paste into BENCHMARKS.md), else tables."""
    if not console.is_terminal:
        console.print(markdown(report), markup=False, highlight=False, soft_wrap=True)
        return
    console.print("[bold]recyclegan bench[/bold]")
    for line in header_lines(report):
        console.print(line, markup=False, highlight=False)
    for title, columns, rows in (
            ("Training", TRAINING_COLUMNS, [training_cells(r) for r in report.training]),
            ("Inference", INFERENCE_COLUMNS, [inference_cells(r) for r in report.inference])):
        if rows:
            table = Table(title=title)
            for column in columns:
                table.add_column(column, justify="left" if column in _TEXT else "right")
            for cells in rows:
                table.add_row(*cells)
            console.print(table)


@contextlib.contextmanager
def spinner(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A status line on stderr; yields the function that updates it."""
    if not enabled:
        yield lambda message: None
        return
    with Console(stderr=True).status("starting") as status:
        yield lambda message: status.update(f"recyclegan bench: {message}")
