"""The whole-path runner's operations do what they name, and the deck deals a seed's
streams alike: checks written for the survivors of a mutation sample of kmem.fuzz.path
(2026-12-07), so that a runner that skips a step, or a deck that forgets its seed, fails
here rather than passing every stream silently."""

from __future__ import annotations

from collections import Counter

from kmem.fuzz.path import (
    NOWARN,
    PATH_CONFIGS,
    PathConfig,
    PathDeck,
    PathRunner,
    deck_machines,
    path_impls,
    random_stream,
)
from kmem.model import Machine
from kmem.spec import gfp as g

SMALL = PathConfig("generic", 4096, nr_cpus=1, pageblock_order=4, min_free_kbytes=0)


def _runner(config: PathConfig) -> PathRunner:
    return PathRunner(config, path_impls("model"))


def _free_pages(r: PathRunner) -> int:
    m = r.lead
    return m.free_pages_total + m.pcp_pages_total


def test_a_double_free_frees_once_then_is_refused():
    """misfree "twice": the first __free_pages returns the block, the second is a double
    free the kernel reports (bad_page: "nonzero mapcount"), which every implementation
    must refuse; the runner holds nothing afterwards and no page is lost."""
    r = _runner(SMALL)
    full = _free_pages(r)
    r.apply(("alloc", g.GFP_KERNEL | NOWARN, 2))
    assert _free_pages(r) == full - 4 and len(r.held) == 1
    r.apply(("misfree", 0, "twice"))
    assert not r.held and r.held_pages == 0
    assert _free_pages(r) == full


def test_a_free_returns_the_block_to_every_implementation():
    r = _runner(SMALL)
    full = _free_pages(r)
    r.apply(("alloc", g.GFP_KERNEL | NOWARN, 3))
    r.apply(("free", 0))
    assert not r.held and _free_pages(r) == full


def test_alloc_node_passes_its_order_and_node():
    """alloc_pages_node(nid, gfp, order): an order-3 block from node 1's zones."""
    config = next(c for c in PATH_CONFIGS if len(c.nodes_mb) > 1)
    r = _runner(config)
    r.apply(("alloc_node", 1, g.GFP_KERNEL | NOWARN, 3))
    (h,) = r.held
    assert h.order == 3 and h.pfn % 8 == 0
    assert r.lead.zone_of(h.pfn).node == 1


def test_random_streams_deal_every_kind_of_operation():
    """Over a few seeds the mix holds misfrees of every kind, exhausts of each size, and
    the other operations its weights name (a kind never dealt is a check never made)."""
    kinds: Counter[str] = Counter()
    misfrees: set[object] = set()
    sizes: set[int] = set()
    for seed in range(40):
        for op in random_stream(seed, 300, nr_cpus=2, nr_nodes=2):
            kinds[op[0]] += 1
            if op[0] == "misfree":
                misfrees.add(op[2])
            if op[0] == "exhaust":
                sizes.add(op[3])
    assert set(kinds) >= {"alloc", "alloc_node", "exhaust", "free", "release", "get", "put",
                          "misfree", "drain", "cpu", "decay", "clock"}, kinds
    assert misfrees == {-1, 1, 2, "inner", "twice"}
    assert {64, 256, 1024} <= sizes


def test_a_seeded_deck_deals_the_same_streams_and_another_seed_others():
    a, b, c = PathDeck.seeded(7), PathDeck.seeded(7), PathDeck.seeded(8)
    sa = [a.stream(50) for _ in range(6)]
    assert sa == [b.stream(50) for _ in range(6)]
    assert sa != [c.stream(50) for _ in range(6)]


def test_the_thp_family_is_the_machine_whose_pcp_lists_hold_thp_blocks():
    """The THP pindex needs a pcp high above a THP block (order 9, 512 pages): only the
    65536-page machine's lists hold one (high_max 4096 pages per CPU)."""
    (config,) = deck_machines("thp")
    m = config.build(Machine)
    assert config.pageblock_order == 9 and config.size == 65536
    assert all(p.high_max >= 512 for z in m.zones if z.managed_pages for p in z.pcp)


def test_a_drawn_prelude_is_each_of_the_shapes_now_and_then():
    """With no shape asked for, streams open with each drawn shape over a few dozen
    seeds ("nofragment" is kept for the machines it needs, "steal" for the deck's
    stealing family): identified by dealing each shape from the same generator state."""
    import random

    from kmem.fuzz.path import PRELUDES, _prelude

    drawn = Counter()
    for seed in range(80):
        got = _prelude(random.Random(seed), 2)
        for kind in PRELUDES:
            rng = random.Random(seed)
            rng.random()  # the draw of the shape
            if _prelude(rng, 2, kind=kind) == got:
                drawn[kind] += 1
                break
    assert set(drawn) == {"claim", "pcp", "highatomic", "none"}, drawn
