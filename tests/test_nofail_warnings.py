"""Where the __GFP_NOFAIL ``WARN_ON_ONCE`` lines are printed, per kernel, in the model and
in fastimpl (bare core, whole path, ``run_ops``).

Debian 6.12.118 mm/page_alloc.c prints them only at the top of ``__alloc_pages_slowpath``
(lines 4307-4323: ``WARN_ON_ONCE(order > 1)`` at 4312, ``WARN_ON_ONCE(!can_direct_reclaim)``
at 4317), which ``__alloc_pages_noprof`` enters only when the first
``get_page_from_freelist`` returned nothing: a request the fast path satisfies prints
nothing. Debian 6.1.192 mm/page_alloc.c has no check there; its ``rmqueue`` runs
``WARN_ON_ONCE((gfp_flags & __GFP_NOFAIL) && (order > 1))`` on every call (line 3891), so
a fast-path success prints it, and the ``nopage`` block has
``WARN_ON_ONCE_GFP(!can_direct_reclaim, gfp_mask)`` (5367, then ``goto fail``), silent
for __GFP_NOWARN (``WARN_ON_ONCE_GFP``, mm/internal.h:42-51). Each WARN_ON_ONCE prints
once per boot.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from kmem import fastimpl  # noqa: E402
from kmem.fastimpl.batch import OP_ALLOC, run_ops  # noqa: E402
from kmem.model import Machine as ModelMachine  # noqa: E402
from kmem.spec import gfp, page_alloc  # noqa: E402
from kmem.spec.errors import AllocationLivelock  # noqa: E402

NOFAIL2 = gfp.GFP_KERNEL | gfp.__GFP_NOFAIL  # order 2: WARN_ON_ONCE(order > 1)
ORDER_612 = ("WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL with order 2 > 1 "
             "(WARN_ON_ONCE(order > 1))")
ORDER_61 = ("WARNING: mm/page_alloc.c: rmqueue: __GFP_NOFAIL with order 2 > 1 "
            "(WARN_ON_ONCE((gfp_flags & __GFP_NOFAIL) && (order > 1)))")
NORECLAIM_612 = ("WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL without "
                 "__GFP_DIRECT_RECLAIM (WARN_ON_ONCE(!can_direct_reclaim))")
NORECLAIM_61 = ("WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL without "
                "__GFP_DIRECT_RECLAIM (WARN_ON_ONCE_GFP(!can_direct_reclaim, gfp_mask))")

SHAPES = {"bare": {}, "whole-path": {"migratetypes": True, "nr_cpus": 1}}


def machines(shape: str, kernel: str | None = None):
    kw = {"policy": "linux", **SHAPES[shape]}
    if kernel is not None:
        kw["kernel"] = kernel
    return [cls.generic(1024, **kw) for cls in (ModelMachine, fastimpl.Machine)]


def fast_pass_fails(m, mask: int, order: int) -> bool:
    """No zone passes the fast attempt's watermark (ALLOC_WMARK_LOW) for the request."""
    passes = page_alloc.alloc_passes(mask, order)
    hidx = m.config.idx(gfp.gfp_zone(mask, m.config))
    return not any(page_alloc.zone_allows(m.zone_view(z), order, passes[0].alloc_flags, hidx)
                   for z in m.zones if z.managed_pages)


def down_to_the_slow_path(m) -> None:
    """Order-0 allocations until an order-2 GFP_KERNEL request fails the fast attempt's
    LOW watermark (the slow path's MIN one still lets it through)."""
    while not fast_pass_fails(m, NOFAIL2, 2):
        assert m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_NOWARN, 0) is not None


@pytest.mark.parametrize("shape", list(SHAPES))
def test_612_fast_path_success_prints_nothing(shape):
    """6.12.118: the slow path is never entered, so its WARN_ON_ONCEs (4312) never run."""
    for m in machines(shape):
        assert m.alloc_pages(NOFAIL2, 2) is not None
        assert m.dmesg == []


@pytest.mark.parametrize("shape", list(SHAPES))
def test_612_slow_path_prints_the_warning_once(shape):
    """6.12.118: the same request after the fast attempt failed enters
    __alloc_pages_slowpath and prints WARN_ON_ONCE(order > 1) (4312), once per boot."""
    for m in machines(shape):
        down_to_the_slow_path(m)
        assert m.dmesg == []
        assert m.alloc_pages(NOFAIL2, 2) is not None  # the slow pass (MIN) serves it
        assert m.dmesg == [ORDER_612]
        assert m.alloc_pages(NOFAIL2, 2) is not None
        assert m.dmesg == [ORDER_612]


def test_612_livelock_keeps_the_warning():
    """A __GFP_NOFAIL request nothing serves: the slow path's warning, then the loop (kmem
    raises AllocationLivelock); the second time no second warning."""
    for m in machines("whole-path"):  # __GFP_MEMALLOC: below every watermark
        while m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_MEMALLOC | gfp.__GFP_NOWARN, 0):
            pass
        for _ in range(2):
            with pytest.raises(AllocationLivelock):
                m.alloc_pages(NOFAIL2, 2)
        assert m.dmesg == [ORDER_612]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_612_no_direct_reclaim_warns_on_entering_the_slow_path(shape):
    """6.12.118: GFP_NOWAIT | __GFP_NOFAIL warns at 4317 once the fast attempt failed
    (plain WARN_ON_ONCE: __GFP_NOWARN does not silence it), and fails (4573-4574)."""
    mask = gfp.GFP_NOWAIT | gfp.__GFP_NOFAIL | gfp.__GFP_NOWARN
    for m in machines(shape):
        assert m.alloc_pages(mask, 0) is not None
        assert m.dmesg == []
        while m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_NOWARN, 0) is not None:
            pass
        assert m.alloc_pages(mask, 0) is None
        assert m.dmesg == [NORECLAIM_612]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_61_rmqueue_warns_on_a_fast_path_success(shape):
    """6.1.192: rmqueue's WARN_ON_ONCE (3891) runs on every call, fast path included."""
    for m in machines(shape, "6.1"):
        assert m.alloc_pages(NOFAIL2, 2) is not None
        assert m.alloc_pages(NOFAIL2, 2) is not None
        assert m.dmesg == [ORDER_61]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_61_nopage_no_direct_reclaim(shape):
    """6.1.192: a __GFP_NOFAIL request without direct reclaim that nothing serves reaches
    nopage:
    WARN_ON_ONCE_GFP(!can_direct_reclaim) (5367) then fail; silent with __GFP_NOWARN."""
    mask = gfp.__GFP_KSWAPD_RECLAIM | gfp.__GFP_NOFAIL  # GFP_NOWAIT without its __GFP_NOWARN
    for m in machines(shape, "6.1"):
        while m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_NOWARN, 0) is not None:
            pass
        assert m.alloc_pages(mask | gfp.__GFP_NOWARN, 0) is None
        assert m.dmesg == []
        assert m.alloc_pages(mask, 0) is None
        assert m.dmesg[0] == NORECLAIM_61 and m.dmesg.count(NORECLAIM_61) == 1


def test_run_ops_prints_what_alloc_pages_prints():
    """fastimpl's batch runner: the warnings of a __GFP_NOFAIL request depend on where its
    walk gets, so it prints them as the per-call API (and the model) does, in op order."""
    odd = gfp.GFP_KERNEL | gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE
    mm, fm = machines("bare")
    down_to_the_slow_path(mm)
    down_to_the_slow_path(fm)
    assert mm.state() == fm.state()
    ops = [(OP_ALLOC, odd, 0), (OP_ALLOC, NOFAIL2, 2), (OP_ALLOC, NOFAIL2, 2),
           (OP_ALLOC, odd, 0)]
    got = run_ops(fm, np.array(ops, np.int64))
    want = []
    for _, mask, order in ops:
        page = mm.alloc_pages(mask, order)
        want.append(-1 if page is None else page.pfn)
    assert got.tolist() == want
    assert fm.dmesg == mm.dmesg and mm.dmesg.count(ORDER_612) == 1
    assert mm.dmesg.index(ORDER_612) == 1
    assert mm.state() == fm.state()


def test_where_each_kernel_warns():
    """The rule itself, per place and kernel."""
    nw = gfp.__GFP_KSWAPD_RECLAIM | gfp.__GFP_NOFAIL
    assert page_alloc.nofail_warnings(NOFAIL2, 2, "slowpath") == (ORDER_612,)
    assert page_alloc.nofail_warnings(NOFAIL2, 2, "rmqueue") == ()
    assert page_alloc.nofail_warnings(NOFAIL2, 2, "slowpath", era="6.1") == ()
    assert page_alloc.nofail_warnings(NOFAIL2, 2, "rmqueue", era="6.1") == (ORDER_61,)
    assert page_alloc.nofail_warnings(NOFAIL2, 1, "rmqueue", era="6.1") == ()
    assert page_alloc.nofail_warnings(nw, 0, "nopage") == ()
    assert page_alloc.nofail_warnings(nw, 0, "nopage", era="6.1") == (NORECLAIM_61,)
    assert page_alloc.nofail_warnings(nw | gfp.__GFP_NOWARN, 0, "nopage", era="6.1") == ()
    assert page_alloc.nofail_warnings(nw | gfp.__GFP_NOWARN, 0, "slowpath") == (NORECLAIM_612,)
    # nopage of 6.1.192 (5383): WARN_ON_ONCE_GFP(costly_order) for a reclaiming request
    costly = page_alloc.nofail_warnings(NOFAIL2, 4, "nopage", era="6.1")
    assert len(costly) == 1 and "costly order 4" in costly[0]
    assert page_alloc.nofail_warnings(NOFAIL2, 3, "nopage", era="6.1") == ()


def test_run_ops_livelock_after_warnings_prints_each_line_once():
    """A batch that ends in AllocationLivelock on a __GFP_NOFAIL request: the warnings of
    the ops before it are printed once, in op order, as the model prints them (found by
    kmem fuzz's bulk runner, seed 5)."""
    from kmem.spec.errors import AllocationLivelock as Livelock

    ops = [(44224, 9), (1354954, 8), (1412298, 10), (1838282, 10), (3316, 8), (1379546, 3),
           (167108, 10)]
    mm = ModelMachine.generic(4096, min_free_kbytes=0)
    fm = fastimpl.Machine.generic(4096, min_free_kbytes=0)
    with pytest.raises(Livelock) as info:
        run_ops(fm, np.array([(OP_ALLOC, mask, order) for mask, order in ops], np.int64))
    assert info.value.batch_index == 6
    for mask, order in ops[:6]:
        mm.alloc_pages(mask, order)
    with pytest.raises(Livelock):
        mm.alloc_pages(*ops[6])
    assert len(mm.dmesg) == 2 and fm.dmesg == mm.dmesg
