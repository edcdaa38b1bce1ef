"""Training, then inference throughput: the same as `recyclegan bench` with the same flags.

    python benchmarks/throughput.py                       # the device's defaults
    python benchmarks/throughput.py --device cpu --json cpu.json

Results go to BENCHMARKS.md by hand, with the date, the card and the command.
"""

import sys

from recyclegan.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
