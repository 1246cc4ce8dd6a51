"""Boot keeps the MAX_PAGE_ORDER blocks as runs: same choices as one block at a time, any size
boots at once (issue 13)."""

from __future__ import annotations

import random

import pytest

from kmem.model import Machine, api
from kmem.model.freelists import BlockRuns
from kmem.model.zone import Zone
from kmem.spec import zones
from kmem.spec.buddy import free_pages_memory_chunks, free_pages_memory_runs
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.errors import InvalidArgument
from kmem.spec.gfp import GFP_HIGHUSER_MOVABLE


def chunks_one_by_one(start: int, end: int) -> list[tuple[int, int]]:
    """__free_pages_memory as mm/memblock.c writes it, chunk by chunk."""
    out = []
    while start < end:
        order = min(MAX_PAGE_ORDER, (start & -start).bit_length() - 1 if start else 64)
        while start + (1 << order) > end:
            order -= 1
        out.append((start, order))
        start += 1 << order
    return out


def test_runs_are_the_chunks_grouped():
    rng = random.Random(13)
    cases = [(0, 1), (0, 1024), (1, 5000), (1023, 1025), (4096, 4096 * 3 + 7)]
    cases += [tuple(sorted(rng.sample(range(1 << 16), 2))) for _ in range(300)]
    for s, e in cases:
        expected = chunks_one_by_one(s, e)
        assert list(free_pages_memory_chunks(s, e)) == expected
        runs = free_pages_memory_runs(s, e)
        assert len(runs) <= 2 * MAX_PAGE_ORDER + 1
        assert all(count == 1 for _, order, count in runs if order < MAX_PAGE_ORDER)
        assert [(p + i * (1 << o), o) for p, o, c in runs for i in range(c)] == expected


def test_block_runs_behave_as_an_ascending_list():
    runs = BlockRuns(2)
    runs.append(8, 3)
    runs.append(20, 2)  # joins the run ending at 20
    runs.append(40, 1)
    assert list(runs) == [8, 12, 16, 20, 24, 40] and len(runs) == 6
    assert 16 in runs and 17 not in runs and 28 not in runs and "x" not in runs
    runs.remove(16)
    runs.remove(8)
    runs.remove(40)
    assert list(runs) == [12, 20, 24] and runs.first() == 12 and len(runs) == 3
    with pytest.raises(KeyError):
        runs.remove(16)
    with pytest.raises(InvalidArgument):
        runs.append(0, 1)


def _zone(npages: int, policy: str, holes=(), materialize: bool = False) -> Zone:
    span = zones.generic(npages, holes=holes).zones[0]
    zone = Zone(span, 0, policy=policy)
    zone.boot()
    if materialize:  # the state boot used to build: every block on the list itself
        zone._materialize_boot_runs()
        assert not zone.boot_runs
    return zone


@pytest.mark.parametrize("policy", ["lowest", "linux"])
def test_same_choices_as_one_block_at_a_time(policy):
    """Random allocations and frees: the lazy zone hands out the same pfns and keeps every
    free list in the same order as a zone whose boot blocks are all listed."""
    rng = random.Random(policy)
    holes = ((3000, 3100), (9000, 9500))
    lazy, eager = _zone(16384 + 77, policy, holes), _zone(16384 + 77, policy, holes, True)
    assert len(lazy.boot_runs) > 0
    held: list[tuple[int, int]] = []
    for step in range(3000):
        if held and rng.random() < 0.45:
            pfn, order = held.pop(rng.randrange(len(held)))
            lazy.free_one_page(pfn, order)
            eager.free_one_page(pfn, order)
        else:
            order = rng.choice([0, 0, 1, 2, 3, 5, 9, 10, 10])
            a, b = lazy.rmqueue_smallest(order), eager.rmqueue_smallest(order)
            assert a == b, f"step {step}: order {order}: {a} != {b}"
            if a is not None:
                held.append((a, order))
        if step % 50 == 0:
            for o in range(NR_PAGE_ORDERS):
                assert lazy.free_list_order(o) == eager.free_list_order(o)
            assert lazy.nr_free() == eager.nr_free() and lazy.free_pages == eager.free_pages
            assert sorted(lazy.free_blocks()) == sorted(eager.free_order.items())
    assert lazy.state() == eager.state()


def test_huge_machine_boots_at_once():
    """64 TB boots without listing its 2**24 top-order blocks one by one (no timing here:
    the structure shows it)."""
    small = Machine.x86_64(4096)
    huge = Machine.x86_64(64 * 1024 * 1024)  # 64 TB
    normal = huge.zones[2]
    top = (64 * 2**40 - 4 * 2**30) // 2**22
    assert normal.free_area[MAX_PAGE_ORDER].nr_free == top == len(normal.boot_runs)
    assert len(huge.pages) == 0 and len(normal.free_order) == 0
    assert len(normal.free_area[MAX_PAGE_ORDER].free_list) == 0
    assert len(normal.boot_runs._starts) == 1  # one range stands for all of them
    line = huge.buddyinfo().splitlines()[2]
    assert line.split()[-1] == str((64 * 2**40 - 4 * 2**30) // 2**22)
    page = api.alloc_pages(huge, GFP_HIGHUSER_MOVABLE, MAX_PAGE_ORDER)
    assert api.page_to_pfn(huge, page) == 4 * 2**30 // 4096  # the first block of Normal
    api.__free_pages(huge, page, MAX_PAGE_ORDER)
    assert huge.buddyinfo() != small.buddyinfo()
