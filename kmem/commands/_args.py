"""The one number reader of the command line, and argparse types built on it.

Every number a ``kmem`` command reads (sizes, counts, addresses, codes, masks)
goes through :func:`read_int`, so all accept the same spellings: Python's integer
literals in any base (``31``, ``0x1f``, ``0o37``, ``0b11111``, ``1_000``). The
argparse types turn a bad value into the usual usage error (exit status 2) before
the command runs.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from kmem.spec.errors import InvalidArgument

NUMBER_FORMS = "a number such as 31, 0x1f, 0o37 or 0b11111"


def read_int(text: str, what: str = "number") -> int:
    """``text`` as an int in any base Python accepts; InvalidArgument names ``what``.

    >>> [read_int(t) for t in ("31", "0x1f", "0o37", "0b11111", "3_1", "031")]
    [31, 31, 31, 31, 31, 31]
    >>> read_int("0xZZ", "address")
    Traceback (most recent call last):
    kmem.spec.errors.InvalidArgument: cannot read address '0xZZ'; expected a number such as 31, 0x1f, 0o37 or 0b11111
    """
    if not isinstance(text, str):
        raise InvalidArgument(f"{what} must be given as text, got {type(text).__name__}")
    stripped = text.strip()
    try:
        return int(stripped, 0)
    except ValueError:
        pass
    if stripped.isdigit():  # leading zeros: int(..., 0) refuses "010"; read it as decimal
        return int(stripped, 10)
    raise InvalidArgument(f"cannot read {what} {text!r}; expected {NUMBER_FORMS}")


def _int_type(lo: int | None, what: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = read_int(text, what)
        except InvalidArgument as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if lo is not None and value < lo:
            raise argparse.ArgumentTypeError(f"{what} must be at least {lo}, got {value}")
        return value

    convert.__name__ = what  # argparse names the type in some messages
    return convert


def int_arg(what: str = "number", minimum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=``: an int (any base) that is at least ``minimum``."""
    return _int_type(minimum, what)


def seconds_arg(what: str = "seconds") -> Callable[[str], float]:
    """An argparse ``type=``: a finite number of seconds greater than 0."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"cannot read {what} {text!r}; expected a number of seconds such as 30 "
                "or 2.5") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(
                f"{what} must be a finite number of seconds greater than 0, got {text!r}")
        return value

    convert.__name__ = what
    return convert
