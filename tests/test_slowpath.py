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
    assert kinds(r) == [("get_page", "fast"), ("get_page", "slow"), ("get_page", "retry"),
                        ("reclaim", "direct reclaim"), ("compact", "direct compaction"),
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
