"""Argument types shared by the subcommands: each names what it expected in its error."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def _number(text: str, fits: Callable[[float], bool], wanted: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not fits(value):  # NaN fits nothing
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
    return value


def positive_float(text: str) -> float:
    return _number(text, lambda v: 0 < v < math.inf, "a positive number")


def non_negative_float(text: str) -> float:
    return _number(text, lambda v: 0 <= v < math.inf, "a number >= 0")


def crf(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 51:
        raise argparse.ArgumentTypeError(f"must be between 0 (lossless) and 51, got {value}")
    return value


def unit_fraction(text: str) -> float:
    """A number in [0, 1)."""
    return _number(text, lambda v: 0 <= v < 1, "at least 0 and below 1")


def add_stabilize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stabilize", choices=["none", "flow"], default="none",
        help="flow: blend each output frame with the previous one carried along the input's "
        "optical flow, where that flow is reliable; less flicker, slower (default none)")
    parser.add_argument(
        "--stabilize-strength", type=unit_fraction, default=0.5, metavar="S",
        help="weight of the previous frame in [0, 1) (default 0.5; higher is smoother but "
        "lags more)")
