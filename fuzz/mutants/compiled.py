"""Planted crashes and hangs in compiled code: teeth for ``kmem fuzz``'s watchdog.

An out-of-bounds store in a numba function (no bounds check, as in C) kills the
process with SIGSEGV; a loop in a numba function that never ends cannot be stopped by
Python (no signal is checked there). Neither raises anything that the differential
checks could see: only the worker's watchdog (:mod:`kmem.fuzz.isolate`) turns them
into findings. Under ``NUMBA_DISABLE_JIT=1`` the store raises IndexError and the loop
spins in Python: still caught, as a failure and a hang.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: far past any array: the store lands in unmapped memory
FAR = 1 << 40


@njit(cache=True, boundscheck=False)
def scribble(buf: np.ndarray, index: int) -> None:
    """``buf[index] = 1`` without a bounds check (the C bug: a wild store)."""
    buf[index] = 1


@njit(cache=True)
def spin(buf: np.ndarray) -> int:
    """Loops while ``buf[0] >= 0`` (always), storing as it goes, so that it is not
    optimized away: the compiled step that never returns."""
    while buf[0] >= 0:
        buf[1] = (buf[1] + 1) & 0xFFFF
    return int(buf[1])


def crash_here() -> None:
    scribble(np.zeros(8, dtype=np.int64), FAR)


def hang_here() -> None:
    spin(np.zeros(8, dtype=np.int64))
