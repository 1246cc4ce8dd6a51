"""model/mtzone.py's own bookkeeping, pinned to the kernel's code (issue 20, mutants of the
whole path that survived the other tests). Expected values are worked from Debian
6.12.118's mm/page_alloc.c (6.1.192 where said), cited line by line."""

from __future__ import annotations

from kmem.model.mtzone import MtZone
from kmem.spec import migrate
from kmem.spec.zones import ZoneSpan, ZoneType

UNMOVABLE, MOVABLE, RECLAIMABLE = (migrate.MIGRATE_UNMOVABLE, migrate.MIGRATE_MOVABLE,
                                   migrate.MIGRATE_RECLAIMABLE)
HIGHATOMIC, ISOLATE = migrate.MIGRATE_HIGHATOMIC, migrate.MIGRATE_ISOLATE


def _zone(kernel: str = "6.12") -> MtZone:
    """64 pages, 16-page pageblocks (pageblock_order 4): 4 pageblocks, no pcp lists."""
    return MtZone(ZoneSpan(ZoneType.NORMAL, 0, 64), ZoneType.NORMAL.value, pageblock_order=4,
                  kernel=kernel)


def test_free_page_counters_follow_account_freepages():
    """account_freepages (663-678): an ISOLATE block is no free page; a HIGHATOMIC block
    counts in NR_FREE_PAGES and in nr_free_highatomic; others only in NR_FREE_PAGES."""
    z = _zone()
    allocated = [(p, 0) for p in range(64) if p not in range(16) and p not in range(32, 40)
                 and p not in range(48, 52)]
    z.load([(0, 3), (8, 2), (32, 3), (48, 2)], allocated,
           free_types={0: MOVABLE, 32: HIGHATOMIC, 48: ISOLATE})
    assert z.free_pages == 8 + 4 + 8  # ISOLATE's 4 pages left out
    assert z.nr_free_highatomic == 8
    # __rmqueue_smallest(HIGHATOMIC) takes 2 of the 8 reserved pages: both counters drop
    assert z.rmqueue_smallest_mt(1, HIGHATOMIC) == 32
    assert (z.free_pages, z.nr_free_highatomic) == (18, 6)
    # the ISOLATE list is a list all the same (nr_free counts it)
    assert z.free_area[2].nr_free == 3  # 8 (MOVABLE), 48 (ISOLATE), 36 (HIGHATOMIC, expand)
