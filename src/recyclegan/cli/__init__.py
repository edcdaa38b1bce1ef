"""The `recyclegan` command line: parse, build options, call the library, report errors.

Every user-fixable problem is one line on stderr and a non-zero exit (1 for errors, 2 for
bad usage, 130 when interrupted), never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import sys
import warnings

from recyclegan import __version__
from recyclegan.cli.bench import add_bench
from recyclegan.cli.data import add_prepare, add_synth
from recyclegan.cli.detect import add_detect
from recyclegan.cli.infer import add_evaluate, add_export, add_retarget
from recyclegan.cli.train import add_demo, add_train
from recyclegan.errors import RecycleganError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + error
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recyclegan", description="Unsupervised video retargeting with "
                     "Recycle-GAN (Bansal et al., ECCV 2018).")
    parser.add_argument("--version", action="version", version=f"recyclegan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    add_prepare(sub)
    add_train(sub)
    add_retarget(sub)
    add_export(sub)
    add_synth(sub)
    add_evaluate(sub)
    add_demo(sub)
    add_bench(sub)
    add_detect(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"recyclegan {args.command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    try:
        return args.handler(args)
    except RecycleganError as exc:
        print(f"recyclegan {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"recyclegan {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        hint = {errno.ENOSPC: "; free some disk space and run it again",
                errno.EROFS: "; write the output to a writable disk"}.get(exc.errno, "")
        print(f"recyclegan {args.command}: error: {exc.strerror or exc}{where}{hint}",
              file=sys.stderr)
        return 1
