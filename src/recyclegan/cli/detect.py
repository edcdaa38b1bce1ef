"""`recyclegan detect`: does a video carry recyclegan's disclosure marks?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from recyclegan.cli.args import positive_int
from recyclegan.errors import RecycleganError

EXIT_MARKED, EXIT_UNMARKED, EXIT_ERROR = 0, 1, 2


def add_detect(sub: Any) -> None:
    p = sub.add_parser(
        "detect", help="check videos for recyclegan's watermark, tags and C2PA manifest",
        description="Looks for the invisible watermark that `retarget` puts in every frame "
        "(it survives re-encoding, scaling and cropping; detection votes over the first "
        "--max-frames frames), reads the container's disclosure tags and validates a C2PA "
        "manifest (with the c2pa extra installed). Exit status: 0 when every VIDEO carries "
        "the watermark, 1 when one does not, 2 when one could not be read.")
    p.add_argument("videos", nargs="+", type=Path, metavar="VIDEO",
                   help="video file or folder of frames")
    p.add_argument("--max-frames", type=positive_int, default=300, metavar="N",
                   help="frames examined from the start of each video (default 300)")
    p.add_argument("--run", type=Path, metavar="RUN",
                   help="also say whether the watermark's run hash is this training run's")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="write the findings as JSON to FILE ('-' for stdout, instead of the "
                   "table)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json FILE")
    p.set_defaults(handler=run_detect)


def _run_hashes(run: Path) -> dict[str, str]:
    """direction -> weights hash of the run's newest generators."""
    from recyclegan.inference.load import DIRECTIONS, load_generator, weights_hash

    return {direction: weights_hash(load_generator(run, direction).generator)
            for direction in DIRECTIONS}


def run_detect(args: argparse.Namespace) -> int:
    from recyclegan.provenance.inspect import inspect_file

    if (args.json is not None and str(args.json) != "-" and args.json.exists()
            and not args.overwrite):
        raise RecycleganError(f"{args.json} exists; pass --overwrite to replace it")
    hashes = _run_hashes(args.run) if args.run is not None else None
    findings, status = [], EXIT_MARKED
    for video in args.videos:
        try:
            inspection = inspect_file(video, args.max_frames)
        except RecycleganError as error:
            print(f"recyclegan detect: error: {error}", file=sys.stderr)
            findings.append({"path": str(video), "error": str(error)})
            status = EXIT_ERROR
            continue
        finding = inspection.to_dict()
        if hashes is not None:
            run = inspection.watermark.run_hash
            finding["run_match"] = next((d for d, h in hashes.items()
                                         if run is not None and h.startswith(run)), None)
        findings.append(finding)
        if not inspection.marked and status == EXIT_MARKED:
            status = EXIT_UNMARKED
    if args.json is not None:
        text = json.dumps({"files": findings}, indent=2)
        if str(args.json) == "-":
            print(text)
        else:
            from recyclegan.fileio import atomic_write_text

            atomic_write_text(args.json, text + "\n")
    if args.json is None or str(args.json) != "-":
        _print_table(findings, hashes is not None)
    return status


def _print_table(findings: list[dict[str, Any]], with_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("video", "watermark", "score", "frames decoded", "run", "metadata", "C2PA")
    if with_run:
        table.add_column("matches --run")
    for finding in findings:
        if "error" in finding:
            table.add_row(finding["path"], "[red]error[/red]", *[""] * (5 + with_run))
            continue
        mark, meta, c2pa = finding["watermark"], finding["metadata"], finding["c2pa"]
        row = [
            finding["path"],
            "[green]found[/green]" if mark["found"] else "not found",
            f"{mark['score']:.1f}",
            f"{mark['frames_decoded']}/{mark['frames']}",
            mark["run"] or "-",
            ("synthetic, recyclegan " + (meta["version"] or "?")) if meta else "-",
            c2pa if isinstance(c2pa, str) else (c2pa["state"] if c2pa else "-"),
        ]
        if with_run:
            row.append(finding.get("run_match") or "no")
        table.add_row(*row)
    Console().print(table)
