"""Teeth for the whole allocation path: planted bugs in the model's MtZone are caught by
the spec's predicates (the rmqueue legal-result rule, the pageblock-list invariant)."""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from kmem.model import Machine, api
from kmem.model.mtzone import MtZone
from kmem.spec import buddy, gfp, migrate
from kmem.spec import pcp as pcp_spec

MOVABLE_REQ = gfp.GFP_HIGHUSER_MOVABLE | gfp.__GFP_NOWARN


def pcp_takes_the_tail(self, cpu, order, mt, alloc_flags):
    """rmqueue_pcplist that hands out the coldest page (list tail) instead of the head."""
    p = self.pcp[cpu]
    lst = p.lists[pcp_spec.order_to_pindex(mt, order)]
    if not len(lst):
        n, p.high, p.alloc_factor = pcp_spec.nr_pcp_alloc(
            high=p.high, high_min=p.high_min, high_max=p.high_max, count=p.count,
            batch=p.batch, alloc_factor=p.alloc_factor, order=order, below_high=self.below_high)
        p.count += self.rmqueue_bulk(order, n, mt, alloc_flags, lst) << order
        if not len(lst):
            return None
    pfn = lst.last()
    lst.remove(pfn)
    del self.pcp_pages[pfn]
    p.count -= 1 << order
    return pfn


def merge_ignores_types(self, pfn, order, mt, to_tail):
    """__free_one_page without the migratetype rule: merges across any two pageblocks
    and never retypes the buddy's pageblock."""
    delta = buddy.free_one_page_delta(self.is_free_block, pfn, order, to_tail=to_tail)
    for bpfn, border in delta.merged:
        self._del_mt(bpfn, border)
    self._add_mt(*delta.result, mt, to_tail=delta.to_tail)


@pytest.mark.quality
def test_pcp_tail_mutant_is_caught(monkeypatch):
    from tests.test_path_statemachine import AllocPathMachine

    monkeypatch.setattr(MtZone, "rmqueue_pcplist", pcp_takes_the_tail)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(AllocPathMachine, settings=settings(
            max_examples=60, stateful_step_count=60, deadline=None, database=None,
            phases=(Phase.generate,)))  # no shrinking: finding the bug is the point


@pytest.mark.quality
@pytest.mark.parametrize("other", [migrate.MIGRATE_UNMOVABLE, migrate.MIGRATE_HIGHATOMIC])
def test_merge_rule_mutant_is_caught(monkeypatch, other):
    def run() -> list:
        m = Machine.generic(65536, policy="linux", migratetypes=True, min_free_kbytes=0)
        zone = m.zones[0]
        a, b = api.alloc_pages(m, MOVABLE_REQ, 9), api.alloc_pages(m, MOVABLE_REQ, 9)
        if other == migrate.MIGRATE_HIGHATOMIC:
            zone.reserve_highatomic_pageblock(b.pfn, 9)
        else:
            zone.change_pageblock_range(b.pfn, 9, other)
        api.__free_pages(m, a, 9)
        api.__free_pages(m, b, 9)
        return m.check_invariants()

    assert run() == []
    monkeypatch.setattr(MtZone, "free_one_page_mt", merge_ignores_types)
    assert any(v.invariant == "pageblock-lists" for v in run())
