"""The bulk runner: clean streams, divergence found, bisected, shrunk, reproduced."""

from __future__ import annotations

import pytest

from kmem.fuzz import ops as O
from kmem.fuzz.bulk import Divergence, ddmin, replay, run_stream
from kmem.fuzz.configs import STANDARD_CONFIGS, MachineConfig
from kmem.fuzz.impls import fast_available

SMALL = MachineConfig("generic", 1024, min_free_kbytes=0)


@pytest.mark.parametrize("workload", ["a", "b", "c", "d", "mix"])
def test_two_copies_of_the_model_agree(workload):
    ops = O.workload_stream(workload, 5, 600, SMALL.size)
    rep = run_stream(SMALL, ops, "model,kmem.model:Machine")  # two lanes of two
    assert rep.ok, rep.divergence and rep.divergence.explain()
    assert rep.checked_ops == 2 * len(ops)


@pytest.mark.skipif(not fast_available(), reason="kmem.fastimpl.Machine is not built yet")
@pytest.mark.parametrize("config", STANDARD_CONFIGS[:4], ids=lambda c: c.describe())
def test_model_and_fast_agree_on_streams(config):
    ops = O.workload_stream("mix", 9, 3000, config.size)
    rep = run_stream(config, ops, "model,fast")
    assert rep.ok, rep.divergence and rep.divergence.explain()
    assert rep.checked_ops == 2 * len(ops)


def test_divergence_is_bisected_shrunk_and_replayable():
    ops = O.workload_stream("b", 11, 4000, SMALL.size)
    rep = run_stream(SMALL, ops, "model@linux,mutant:rmqueue_list_tail@linux",
                     checkpoint=500, shrink_seconds=20)
    d = rep.divergence
    assert isinstance(d, Divergence)
    assert d.index < len(ops)
    assert len(d.ops) <= 12, d.explain()  # a handful of operations shows the bug
    with pytest.raises(AssertionError):
        replay(d.config, d.ops, list(d.impls))
    # the printed reproducer is runnable Python that fails the same way
    with pytest.raises(AssertionError):
        exec(compile(d.reproducer(), "<reproducer>", "exec"), {})
    replay(d.config, d.ops, "model")  # and the model alone is fine on it


def test_invariant_violation_of_a_single_implementation_is_found():
    ops = O.workload_stream("b", 3, 2000, SMALL.size)
    rep = run_stream(SMALL, ops, "mutant:nr_free_leak_on_merge@lowest", shrink_seconds=10)
    assert rep.divergence is not None and "invariant" in rep.divergence.what


def test_ddmin_is_one_minimal():
    ops = [(O.FREE, i) for i in range(40)]
    out = ddmin(list(ops), lambda c: (O.FREE, 7) in c and (O.FREE, 31) in c, 1e18)
    assert out == [(O.FREE, 7), (O.FREE, 31)]


# -- free-list order judged against the spec (policy "linux") ----------------------------
# Expected lists follow Linux 6.12 (Debian 6.12.118) mm/page_alloc.c: boot frees each
# memblock chunk ascending with FPI_TO_TAIL (__free_pages_core -> __free_pages_ok(page,
# order, FPI_TO_TAIL), :1372); __rmqueue_smallest takes list_first_entry (:746, :1644);
# __free_one_page puts the block at the tail when buddy_merge_likely (:759-773: the
# order+1 buddy of buddy_pfn & pfn is free; never at order >= MAX_PAGE_ORDER - 1), else
# at the head (:886-893, list_add_tail/list_add at :692/:694).
def _oracle_with_two_reserved_pages():
    from kmem.fuzz.oracle import ZoneOracle

    # pfns 1 and 5 reserved: boot chunks [0,1) -> (0,0); [2,5) -> (2,1), (4,0);
    # [6,4096) -> (6,1), (8,3), ..., (1024,10) x 3
    return ZoneOracle(0, 4096, reserved=((1, 2), (5, 6)), rule="linux", lists=True)


def test_spec_lists_after_boot_are_ascending_chunks_at_the_tails():
    o = _oracle_with_two_reserved_pages()
    assert o.list_order(0) == [0x0, 0x4]
    assert o.list_order(1) == [0x2, 0x6]
    assert o.list_order(3) == [0x8]
    assert o.list_order(10) == [0x400, 0x800, 0xC00]


def test_spec_lists_a_merge_likely_free_goes_to_the_tail_and_alloc_takes_the_head():
    from kmem.fuzz.oracle import OracleViolation

    o = _oracle_with_two_reserved_pages()
    o.alloc(0, 0x0)  # the head of free_area[0]
    assert o.list_order(0) == [0x4]
    # 0x0's buddy 0x1 is reserved; the order-1 buddy of 0x0 & 0x1 = 0x0 is (0x2, 1),
    # free: buddy_merge_likely -> the tail
    o.free(0x0, 0)
    assert o.list_order(0) == [0x4, 0x0]
    o.compare_lists([[0x4, 0x0], [0x2, 0x6]] + [o.list_order(k) for k in range(2, 11)])
    with pytest.raises(OracleViolation) as info:
        o.compare_lists([[0x0, 0x4], [0x2, 0x6]] + [o.list_order(k) for k in range(2, 11)])
    assert info.value.kind == "list-order"
    with pytest.raises(OracleViolation) as info:
        o.alloc(0, 0x0)  # a free block of the smallest order, but not the list head
    assert info.value.kind == "not-list-head"


def test_spec_lists_expand_puts_halves_at_the_heads_and_top_order_frees_at_the_head():
    from kmem.fuzz.oracle import ZoneOracle

    o = ZoneOracle(0, 4096, rule="linux", lists=True)
    o.alloc(0, 0x0)  # splits (0x0, 10): (0x200, 9), (0x100, 8), ..., (0x1, 0) at the heads
    assert [o.list_order(k) for k in range(10)] == [[1 << k] for k in range(10)]
    assert o.list_order(10) == [0x400, 0x800, 0xC00]
    o.alloc(2, 0x4)  # the head of free_area[2]
    o.free(0x0, 0)  # buddy 0x1 free: merges to (0x0, 1); (0x2, 1) is free: merges to
    # (0x0, 2); (0x4, 2) is held: stops; the order-3 buddy (0x8, 3) is free: the tail
    assert o.list_order(2) == [0x0]
    o.free(0x4, 2)  # merges all the way to (0x0, 10): order >= MAX_PAGE_ORDER - 1, the head
    assert o.list_order(10) == [0x0, 0x400, 0x800, 0xC00]


@pytest.mark.skipif(not fast_available(), reason="fastimpl needs numba")
def test_a_list_end_bug_shared_by_model_and_fast_is_caught_only_by_the_spec_judge():
    """mutant:free_list_end (model) and mutant:fast_free_list_end (fastimpl) put a freed
    block at the wrong end of its list in the same way: compared with each other they
    agree, judged against the spec's list order they do not."""
    config = MachineConfig("generic", 4096, min_free_kbytes=0)
    ops = O.workload_stream("b", 3, 200, 4096)
    pair = "mutant:free_list_end@linux,mutant:fast_free_list_end@linux"
    assert run_stream(config, ops, pair, spec_order=False).ok  # the differential alone
    rep = run_stream(config, ops, pair, shrink_seconds=60)
    assert not rep.ok and "spec's list order" in rep.divergence.what
    assert len(rep.divergence.ops) <= 4
    with pytest.raises(AssertionError, match="spec's list order"):
        replay(config, rep.divergence.ops, pair)
    assert run_stream(config, ops, "model@linux,fast@linux").ok  # the real pair is clean
