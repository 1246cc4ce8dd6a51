"""When failure is legal: may_fail and the slow path's sequence (kmem.spec.slowpath)."""

import pytest

from kmem.spec import gfp, slowpath
from kmem.spec.errors import InvalidArgument

K, NOFAIL = gfp.GFP_KERNEL, gfp.__GFP_NOFAIL


@pytest.mark.parametrize(("mask", "order", "reason"), [
    (K, 0, None), (K, 3, None), (gfp.GFP_NOFS, 0, None), (gfp.GFP_NOIO, 2, None),
    (gfp.GFP_USER, 1, None), (gfp.GFP_HIGHUSER_MOVABLE, 0, None),
    (K, 4, "costly order"), (K, 11, "order > MAX_PAGE_ORDER"),
    (K | NOFAIL, 10, None), (K | NOFAIL | gfp.__GFP_NORETRY, 0, None),
    (K | NOFAIL, 11, "order > MAX_PAGE_ORDER"),
    (gfp.GFP_ATOMIC, 0, "no direct reclaim"), (gfp.GFP_NOWAIT, 0, "no direct reclaim"),
    (gfp.GFP_ATOMIC | NOFAIL, 0, "no direct reclaim"),
    (K | gfp.__GFP_NORETRY, 0, "__GFP_NORETRY"),
    (K | gfp.__GFP_RETRY_MAYFAIL, 0, "OOM skipped: __GFP_RETRY_MAYFAIL or __GFP_THISNODE"),
    (K | gfp.__GFP_RETRY_MAYFAIL, 5, "OOM skipped: costly order"),
    (K | gfp.__GFP_THISNODE, 0, "OOM skipped: __GFP_RETRY_MAYFAIL or __GFP_THISNODE"),
])
def test_may_fail_reason(mask, order, reason):
    assert slowpath.may_fail_reason(mask, order) == reason
    assert slowpath.may_fail(mask, order) == (reason is not None)


def test_may_fail_context():
    assert slowpath.may_fail_reason(K, 0, slowpath.Context(pf_memalloc=True)) == "PF_MEMALLOC"
    assert slowpath.may_fail_reason(K, 0, slowpath.Context(oom_victim=True)) == "OOM victim"
    assert not slowpath.may_fail(K | gfp.__GFP_MEMALLOC, 0, slowpath.Context(oom_victim=True))
    assert slowpath.may_fail_reason(gfp.GFP_DMA | K, 0, slowpath.Context(lowmem_only=True)) \
        == "OOM skipped: highest zone below ZONE_NORMAL"
    assert not slowpath.may_fail(K | NOFAIL, 0, slowpath.Context(pf_memalloc=True))
    with pytest.raises(InvalidArgument):
        slowpath.may_fail(-1, 0)


def kinds(result):
    return [(s.kind, s.label) for s in result.steps]


def test_slowpath_gfp_kernel_without_reclaim_or_oom_gives_up_after_oom():
    r = slowpath.slowpath(K, 0, lambda step: False, fast_flags=1)
    assert not r.got_page and r.gave_up == "OOM made no progress" and not r.loops
    # order 0: __alloc_pages_direct_compact returns at "if (!order) return NULL;" (6.12.118
    # mm/page_alloc.c:3761): no compaction step
    assert kinds(r) == [("get_page", "fast"), ("get_page", "slow"), ("get_page", "retry"),
                        ("reclaim", "direct reclaim"),
                        ("unreserve", "should_reclaim_retry"),
                        ("get_page", "oom: high watermark"), ("oom", "out_of_memory")]


def test_slowpath_reclaim_retries_then_unreserves():
    outcomes = slowpath.Outcomes(reclaim_retry_wmark=True)
    r = slowpath.slowpath(K, 0, lambda step: False, fast_flags=1, outcomes=outcomes)
    assert [s.label for s in r.steps].count("retry") == slowpath.MAX_RECLAIM_RETRIES + 1
    assert r.gave_up == "OOM made no progress"


def test_slowpath_progress_drains_and_unreserves():
    seen = []

    def ask(step):
        seen.append(step.kind)
        return step.kind == "get_page" and step.label == "after drain"

    r = slowpath.slowpath(K, 0, ask, fast_flags=1,
                          outcomes=slowpath.Outcomes(reclaim_progress=True))
    assert r.got_page and seen[-3:] == ["unreserve", "drain", "get_page"]


def test_slowpath_nofail_loops_and_oom_kills_loop():
    r = slowpath.slowpath(K | NOFAIL, 0, lambda step: False, fast_flags=1, max_rounds=3)
    assert r.loops and r.gave_up is None
    assert any(s.label == "oom: nofail" for s in r.steps)
    r = slowpath.slowpath(K, 0, lambda step: False, fast_flags=1, max_rounds=3,
                          outcomes=slowpath.Outcomes(oom_progress=True))
    assert r.loops
    # costly: no OOM kill; nopage's NOFAIL loop tries ALLOC_MIN_RESERVE
    r = slowpath.slowpath(K | NOFAIL, 4, lambda step: step.label == "nofail", fast_flags=1)
    assert r.got_page


def test_oom_killer_disabled():
    """``out_of_memory`` returns false with the OOM killer disabled: then even GFP_KERNEL
    gets NULL (and the walk with ``oom_progress=False`` gives up there)."""
    ctx = slowpath.Context(oom_killer_disabled=True)
    assert slowpath.may_fail_reason(K, 0, ctx) == "OOM killer disabled"
    assert not slowpath.may_fail(K | NOFAIL, 0, ctx)


def test_slowpath_agrees_with_may_fail():
    """Whatever reclaim and compaction do, with an OOM killer that works the walk gives up
    only where may_fail says it can, and loops where it says it cannot."""
    masks = [K, gfp.GFP_ATOMIC, gfp.GFP_NOWAIT, gfp.GFP_NOFS, K | NOFAIL,
             K | gfp.__GFP_NORETRY, K | gfp.__GFP_RETRY_MAYFAIL, gfp.GFP_HIGHUSER_MOVABLE,
             gfp.GFP_ATOMIC | NOFAIL, K | gfp.__GFP_THISNODE]
    outcome_sets = [slowpath.Outcomes(oom_progress=True),
                    slowpath.Outcomes(reclaim_progress=True, oom_progress=True),
                    slowpath.Outcomes(reclaim_progress=True, compact_result="success",
                                      reclaim_retry_wmark=True, oom_progress=True)]
    for mask in masks:
        for order in (0, 1, 3, 4, 9):
            for outcomes in outcome_sets:
                r = slowpath.slowpath(mask, order, lambda step: False, fast_flags=1,
                                      outcomes=outcomes, max_rounds=40)
                if r.gave_up is not None:
                    assert slowpath.may_fail(mask, order), (hex(mask), order, r.gave_up)
                if not slowpath.may_fail(mask, order):
                    assert r.loops


# -- issue 17 finding 4: the slow path against 6.12.118's __alloc_pages_slowpath ----------------
def test_oom_victim_skips_the_initial_compaction():
    # 4386-4388: "if (can_direct_reclaim && can_compact && (costly_order || (order > 0 &&
    # ac->migratetype != MIGRATE_MOVABLE)) && !gfp_pfmemalloc_allowed(gfp_mask))";
    # gfp_pfmemalloc_allowed (4163-4166) is !!__gfp_pfmemalloc_flags, which is ALLOC_OOM for an
    # OOM victim in task context (4156-4157): no initial compaction
    victim = slowpath.Context(oom_victim=True)
    r = slowpath.slowpath(K, 2, lambda step: False, fast_flags=1, ctx=victim)
    assert "initial compaction" not in [s.label for s in r.steps]
    r = slowpath.slowpath(K, 2, lambda step: False, fast_flags=1)
    assert ("compact", "initial compaction") in kinds(r)


def test_compaction_retries_reset_when_the_priority_is_raised():
    # should_compact_retry (3812-3872): COMPACT_SUCCESS retries while ++retries <= 16, then
    # raises the priority once (DEF_COMPACT_PRIORITY 1 -> MIN_COMPACT_PRIORITY 0) with
    # "*compaction_retries = 0" (3869): 16 more retries. Rounds of direct compaction before
    # the OOM step: 1 + 16 + 1 + 16 = 34.
    out = slowpath.Outcomes(reclaim_progress=True, compact_result="success")
    r = slowpath.slowpath(K, 2, lambda step: False, fast_flags=1, outcomes=out)
    labels = [s.label for s in r.steps]
    oom_at = labels.index("out_of_memory")
    assert labels[:oom_at].count("direct compaction") == 34


def test_order_0_never_compacts():
    out = slowpath.Outcomes(reclaim_progress=True, compact_result="success")
    r = slowpath.slowpath(K, 0, lambda step: False, fast_flags=1, outcomes=out)
    assert all(s.kind != "compact" for s in r.steps)


@pytest.mark.parametrize("result", ["deferred", "complete", "partial_skipped", "contended",
                                    "success"])
def test_a_page_is_tried_after_any_compaction_result_but_skipped(result):
    # __alloc_pages_direct_compact: "if (*compact_result == COMPACT_SKIPPED) return NULL;"
    # (3775), otherwise "page = get_page_from_freelist(...)" (3789)
    out = slowpath.Outcomes(reclaim_progress=True, compact_result=result)
    r = slowpath.slowpath(K, 2, lambda step: False, fast_flags=1, outcomes=out)
    assert ("get_page", "after compaction") in kinds(r)
    assert ("get_page", "initial compaction") in kinds(r)
    out = slowpath.Outcomes(reclaim_progress=True, compact_result="skipped")
    r = slowpath.slowpath(K, 2, lambda step: False, fast_flags=1, outcomes=out)
    assert ("get_page", "after compaction") not in kinds(r)


# -- issue 17 finding 5: GFP_NOFS / GFP_NOIO loop in the kernel ----------------------------------
@pytest.mark.parametrize("mask", [gfp.GFP_NOFS, gfp.GFP_NOIO])
@pytest.mark.parametrize("path", [{}, {"policy": "linux", "migratetypes": True, "nr_cpus": 1}])
def test_nofs_and_noio_loop_instead_of_returning_null(mask, path):
    # __alloc_pages_may_oom -> out_of_memory: "if (!(oc->gfp_mask & __GFP_FS) &&
    # !is_memcg_oom(oc)) return true;" (6.12.118 mm/oom_kill.c:1143) sets did_some_progress,
    # and the slow path goes back to retry (mm/page_alloc.c:4548-4551): the kernel loops.
    from kmem.model import Machine
    from kmem.spec.errors import AllocationLivelock

    assert not slowpath.may_fail(mask, 0)
    assert slowpath.loops_without_progress(mask, 0)
    m = Machine.generic(2048, min_free_kbytes=0, **path)
    while m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_NOWARN) is not None:
        pass
    state = m.state()
    with pytest.raises(AllocationLivelock, match="__GFP_FS"):
        m.alloc_pages(mask)
    assert m.state() == state
    # __GFP_NORETRY gives up after one round (4500-4501); a costly order too (4507-4509)
    assert m.alloc_pages(mask | gfp.__GFP_NORETRY | gfp.__GFP_NOWARN) is None
    assert m.alloc_pages(mask | gfp.__GFP_NOWARN, 4) is None


def test_loops_without_progress_keeps_the_gfp_kernel_and_lowmem_rules():
    assert not slowpath.loops_without_progress(K, 0)  # the OOM killer freed nothing: NULL
    assert not slowpath.loops_without_progress(gfp.GFP_NOFS, 0, lowmem_only=True)  # 3712
    assert slowpath.loops_without_progress(K | NOFAIL, 0)
    assert not slowpath.loops_without_progress(gfp.GFP_NOFS, 0, ctx=slowpath.Context(
        oom_killer_disabled=True))


def test_61_keeps_counting_compaction_retries_across_the_priority_raise():
    # 6.1.192 should_compact_retry (mm/page_alloc.c:4610-4688): COMPACT_SUCCESS counts
    # "(*compaction_retries)++" and retries while <= 16; check_priority lowers the priority
    # once but leaves the count (no "*compaction_retries = 0"): the next round has 18 > 16
    # and the priority is at its floor: 1 + 16 + 1 = 18 compaction rounds before the OOM step
    out = slowpath.Outcomes(reclaim_progress=True, compact_result="success")
    r = slowpath.slowpath(K, 2, lambda step: False, fast_flags=1, outcomes=out, era="6.1")
    labels = [s.label for s in r.steps]
    assert labels[:labels.index("out_of_memory")].count("direct compaction") == 18
