"""Small-scope obligations: the buddy inductive invariants with MAX_PAGE_ORDER scaled down.

The inductive obligations of :mod:`kmem.proofs.buddy_invariants` run on windows of
64 and 128 pages, where orders above 6-7 never occur, so the top-order cap is never
exercised there: ``__free_one_page`` stops merging at MAX_PAGE_ORDER,
``buddy_merge_likely`` is false from MAX_PAGE_ORDER - 1 up, two free order-MAX
buddies may coexist (``inv_maximal_coalescing`` exempts them) and
``__rmqueue_smallest`` searches up to order MAX_PAGE_ORDER inclusive.

The spec is parametric in MAX_PAGE_ORDER: :mod:`kmem.spec.buddy` reads the constant
from its module globals when a function runs, never at import time (except the
``nr_free`` default of ``ZoneState``, which :meth:`ZoneState.counted` replaces). So
the same code with the constant rebound to 3 or 4 is the allocator of a kernel
configured with that MAX_PAGE_ORDER, and its cap lies inside a 32- or 64-page window.
:func:`scaled_max_order` rebinds ``MAX_PAGE_ORDER`` and ``NR_PAGE_ORDERS`` in the
spec module and in the encoding modules that imported them by name, and restores
them in a ``finally``; the obligations build the encoding and run the solver inside
it. The encoding is the one of the full-size obligations (built from the spec's own
functions over every oracle answer), only with the constant rebound.

``kmem.spec.constants`` itself is left alone: a module first imported inside the
block would otherwise capture the scaled value for good. The rebinding is global to
the process; the suite runs one obligation at a time per worker process, and a lock
serialises scaled blocks between threads (run nothing else in other threads meanwhile).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType, SimpleNamespace

from kmem.spec import buddy as spec_buddy
from kmem.spec.constants import MAX_PAGE_ORDER

from . import buddy_invariants, buddy_state
from .buddy_state import (
    StepsFn,
    Window,
    alloc_block_steps,
    alloc_steps,
    free_steps,
    prove_inductive,
)
from .core import Obligation, Prover

Impl = ModuleType | SimpleNamespace

#: the modules that read MAX_PAGE_ORDER / NR_PAGE_ORDERS by name when their functions run
REBOUND_MODULES: tuple[ModuleType, ...] = (spec_buddy, buddy_state, buddy_invariants)
_NAMES = ("MAX_PAGE_ORDER", "NR_PAGE_ORDERS")
_LOCK = threading.RLock()


@contextmanager
def scaled_max_order(max_order: int, *extra: Impl) -> Iterator[None]:
    """Within the block, ``MAX_PAGE_ORDER == max_order`` and ``NR_PAGE_ORDERS ==
    max_order + 1`` in :data:`REBOUND_MODULES` and in each ``extra`` namespace that has
    them (a mutant's copy of the spec module); the previous values come back on exit,
    also when the block raises."""
    if isinstance(max_order, bool) or not isinstance(max_order, int) \
            or not 1 <= max_order <= MAX_PAGE_ORDER:
        raise ValueError(f"max_order must be an int in 1..{MAX_PAGE_ORDER}, got {max_order!r}")
    values = {"MAX_PAGE_ORDER": max_order, "NR_PAGE_ORDERS": max_order + 1}
    with _LOCK:
        saved: list[tuple[object, str, object]] = []
        try:
            for target in (*REBOUND_MODULES, *extra):
                for name in _NAMES:
                    if hasattr(target, name):
                        saved.append((target, name, getattr(target, name)))
                        setattr(target, name, values[name])
            yield
        finally:
            for target, name, old in reversed(saved):
                setattr(target, name, old)


Scales = tuple[tuple[int, tuple[tuple[int, int], ...]], ...]

#: (scaled MAX_PAGE_ORDER, windows): the cap sits inside every window, which holds at
#: least two top-order blocks; pfn 4 starts a window not aligned to the top order
SCALES: Scales = (
    (3, ((0, 32), (4, 36))),
    (4, ((0, 64),)),
)

KINDS: tuple[tuple[str, StepsFn, str, str], ...] = (
    ("alloc", alloc_steps, "__rmqueue_smallest + expand step (every request order up to "
                           "MAX_PAGE_ORDER) and every failure",
     "; the allocation is legal and a request fails only when no block of a large enough "
     "order (up to MAX_PAGE_ORDER) is free"),
    ("free", free_steps, "__free_one_page step (free_one_page_delta, every free-buddy pattern)",
     ": merging stops at the cap (a block above MAX_PAGE_ORDER breaks alignment) and below "
     "it leaves no free buddy pair"),
    ("alloc-block", alloc_block_steps, "alloc_next of any wholly free aligned block "
                                       "(split_around, up to order MAX)", "; it is legal"),
)


def _describe_scales(scales: Scales) -> str:
    parts = []
    for max_order, windows in scales:
        zones = " and ".join(f"{e - s} pages at pfn {s}" for s, e in windows)
        parts.append(f"{max_order} (zones of {zones})")
    return " and to ".join(parts)


def check_scaled(prover: Prover, steps: StepsFn, kind: str, impl: Impl = spec_buddy,
                 scales: Scales = SCALES) -> int:
    """Prove the inductive step of ``steps`` under each scaled MAX_PAGE_ORDER; the windows
    (and their cached slot sets) are built inside the rebinding. Returns the steps checked."""
    count = 0
    for max_order, windows in scales:
        with scaled_max_order(max_order, impl):
            for start, end in windows:
                count += prove_inductive(prover, Window(start, end), steps, impl,
                                         what=f"{kind} (MAX_PAGE_ORDER={max_order})")
    return count


def obligations(impl: Impl = spec_buddy) -> list[Obligation]:
    """The small-scope obligations, checking ``impl`` (the spec, or a mutant of it)."""
    out = []
    for kind, steps, what, extra in KINDS:
        claim = (f"The spec's transitions with MAX_PAGE_ORDER rebound to "
                 f"{_describe_scales(SCALES)}: from every state satisfying the invariants "
                 f"(two free order-MAX buddies allowed), every {what} gives a state satisfying "
                 f"them again{extra}.")
        out.append(Obligation(f"buddy.small-scope.{kind}", "buddy", claim,
                              lambda pr, steps=steps, kind=kind: check_scaled(pr, steps, kind,
                                                                              impl)))
    return out
