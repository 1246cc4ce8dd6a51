"""The whole-path stage's stream shapes (kmem.fuzz.path: PathDeck, the preludes, the machine
families): each shape must reach what it is dealt for, on every machine of its family, so
that a campaign of a few streams reaches every rare rule once. Expected values come from
the kernel's source (cited); only the model runs here (nothing is compiled)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kmem.fuzz import path
from kmem.fuzz.path import PATH_DECK, PathDeck, PathRunner, deck_machines, path_impls


def test_every_round_of_the_deck_deals_every_shape_once():
    deck = PathDeck(random.Random(5))
    for _ in range(3):
        dealt = Counter()
        for _ in PATH_DECK:
            config, prelude = deck.draw()
            # which families may have dealt this machine with this prelude
            fams = [f for f, p in PATH_DECK if p == prelude
                    and (config in deck_machines(f) or f == "any")]
            assert fams, (config, prelude)
            dealt[prelude] += 1
        assert dealt == Counter(p for _, p in PATH_DECK)


def test_a_deck_stream_opens_with_its_prelude():
    deck = PathDeck(random.Random(3))
    for _ in PATH_DECK:
        config, prelude = deck.draw()
        ops = path.path_stream_for(config, 7, 120, prelude)
        assert len(ops) >= 120  # a prelude longer than the stream is kept whole
        if prelude == "highatomic":
            assert [op[0] for op in ops[:2]] == ["exhaust", "exhaust"]
            assert ops[2][0] == "alloc" and ops[2][2] in (1, 2, 3)


def test_an_unknown_prelude_or_family_is_refused():
    with pytest.raises(path.InvalidArgument):
        path.path_stream_for(path.PATH_CONFIGS[0], 1, 10, "compaction")
    with pytest.raises(path.InvalidArgument):
        deck_machines("huge")


@pytest.mark.parametrize("config, reserves", [
    # mm/page_alloc.c of 6.12.118, 2081: no reservation while managed / 100 is below
    # pageblock_nr_pages: 783 managed pages / 100 = 7 < 8 (pageblock_order 3)
    (path.PATH_CONFIGS[2], False),
    (path.PATH_CONFIGS[0], True),  # 4096 / 100 = 40 >= 16
    (path.PATH_CONFIGS[9], False),  # ZONE_NORMAL 16384 / 100 = 163 < 512, DMA 40 < 512
    (path.PATH_CONFIGS[8], True),  # 65536 / 100 = 655 >= 512
    # a min watermark of 0 (min_free_kbytes=0): the fill leaves no page for the requests
    (path.PATH_CONFIGS[1], False),
    # 6.1.192, 2918: the cap is managed / 100 + pageblock_nr_pages, above 0 on any zone
    (path.PATH_CONFIGS_61[2], True),
])
def test_which_machines_reserve_highatomic_pageblocks(config, reserves):
    assert path.reserves_highatomic(config) is reserves


@pytest.mark.parametrize("config", deck_machines("reserving"))
def test_the_highatomic_prelude_reserves_a_pageblock_on_every_reserving_machine(config):
    # mm/page_alloc.c of 6.12.118: below the low watermark an atomic order > 0 request is
    # served by the slow path with ALLOC_HIGHATOMIC (gfp_to_alloc_flags, 4108), and
    # get_page_from_freelist then reserves its pageblock (3565, 2069-2106)
    for seed in range(3):
        ops = path._highatomic_prelude(random.Random(seed))
        runner = PathRunner(config, path_impls("model"))
        for op in ops:
            runner.apply(op)
        assert any(z.nr_reserved_highatomic for z in runner.lead.zones), (config, seed)


def test_the_61_batch_family_holds_the_zones_whose_refill_takes_several_blocks():
    # 6.1.192 mm/page_alloc.c zone_batchsize (7059-7074): batch = managed >> 10, / 4,
    # then rounddown_pow_of_two(batch + batch / 2) - 1: 24576 pages give 24 / 4 = 6 ->
    # 8 - 1 = 7; 4096 pages 4 / 4 = 1 -> 1 - 1 = 0, kept at 1 (max(1, ...), 7209); and
    # rmqueue_pcplist refills max(batch >> order, 2) blocks only when batch > 1 (3814)
    fam = deck_machines("6.1-batch")
    assert path.PATH_CONFIG_61_BATCH in fam
    assert all(c.kernel == "6.1" for c in fam)
    assert path.PATH_CONFIGS_61[0] not in fam  # 4096 pages: batch 1


def test_release_frees_every_strideth_singly_held_block_in_one_step():
    from kmem.spec import gfp

    runner = PathRunner(path.PATH_CONFIGS[0], path_impls("model"))
    runner.apply(("exhaust", gfp.GFP_KERNEL, 1, 6))
    runner.apply(("get", 0))  # held[0] now has two references: release leaves it
    before = list(runner.held)
    runner.apply(("release", 2, 0))  # held[0], held[2], held[4]: all but the shared one
    assert runner.step == 3
    assert runner.held == [before[0], before[1], before[3], before[5]]
    assert runner.held_pages == 4 * 2
    with pytest.raises(path.InvalidArgument):
        runner.apply(("release", 0, 0))


@pytest.mark.parametrize("seed", [1, 2, 3, 17])
def test_the_first_round_deals_the_shapes_in_the_decks_order_whatever_the_seed(seed):
    # a campaign of a few streams must reach every shape's rule in its first round:
    # the order is the deck's, not the seed's; later rounds are shuffled
    deck = PathDeck(random.Random(seed))
    for family, prelude in PATH_DECK:
        config, got = deck.draw()
        assert got == prelude
        assert family == "any" or config in deck_machines(family)
    later = [deck.draw()[1] for _ in range(4 * len(PATH_DECK))]
    rounds = [later[i:i + len(PATH_DECK)] for i in range(0, len(later), len(PATH_DECK))]
    assert any(r != [p for _, p in PATH_DECK] for r in rounds)


@pytest.mark.parametrize("config, decays", [
    (path.PATH_CONFIGS[0], True),  # no percpu_pagelist_high_fraction: high_min < high_max
    # percpu_pagelist_high_fraction set (high_fraction=8): zone_set_pageset_high_and_batch
    # sets high_max = high_min (mm/page_alloc.c 5798-5804 of 6.12.118), nothing to decay
    (path.PATH_CONFIGS[7], False),
    (path.PATH_CONFIGS[6], False),  # no CPUs: no pcp lists
    # 6.1.192 has no decay_pcp_high (its pcp->high is fixed at boot)
    (path.PATH_CONFIGS_61[0], False),
])
def test_which_machines_decay_their_pcp_lists(config, decays):
    assert path.pcp_decays(config) is decays


@pytest.mark.parametrize("config", deck_machines("decaying"))
def test_the_pcp_preludes_decays_drain_past_the_order_0_lists(config):
    # decay_pcp_high (mm/page_alloc.c 2412-2443 of 6.12.118) drains in chunks of
    # pcp->batch, each a free_pcppages_bulk whose round robin starts at pindex 0 (1232:
    # the order-0 lists first, 1242-1246): a chunk frees at least one whole block, so the
    # chunking shows only once a drain reaches a list of order > 0. The prelude's decays
    # must get there on the one-zone machines whose pcp->high decays from 256-1024 pages
    # (zone_highsize, mm/page_alloc.c 5680; a free raises pcp->high towards high_max,
    # nr_pcp_high 2635-2670).
    reached = 0
    for seed in range(3):
        ops = path._prelude(random.Random(seed), config.nr_cpus, False, "pcp",
                            path._booted(config).zones[0].pageblock_order)
        runner = PathRunner(config, path_impls("model"))
        for op in ops:
            before = [[len(lst) for lst in p.lists[3:]] for z in runner.lead.zones
                      for p in z.pcp]
            runner.apply(op)
            after = [[len(lst) for lst in p.lists[3:]] for z in runner.lead.zones
                     for p in z.pcp]
            if op[0] == "decay" and after != before:
                reached += 1
                break
    assert reached == 3, config


def test_the_pcp_prelude_frees_on_another_cpu_half_the_time():
    # free_unref_page puts a block on the freeing CPU's pcp lists (mm/page_alloc.c 2761
    # of 6.12.118: pcp_spin_trylock(zone->per_cpu_pageset), this CPU's), not on the
    # allocating CPU's: after the prelude's frees on CPU 1, CPU 1 holds the parked blocks
    config = path.PATH_CONFIGS[0]  # two CPUs
    other = 0
    for seed in range(8):
        ops = path._prelude(random.Random(seed), config.nr_cpus, False, "pcp", 4)
        if ("cpu", 1) not in ops:
            continue
        other += 1
        runner = PathRunner(config, path_impls("model"))
        for op in ops[:ops.index(("cpu", 1))]:
            runner.apply(op)
        before = [p.count for p in runner.lead.zones[0].pcp]
        runner.apply(("cpu", 1))
        runner.apply(ops[ops.index(("cpu", 1)) + 1])  # the first free
        after = [p.count for p in runner.lead.zones[0].pcp]
        assert after[0] == before[0] and after[1] > before[1], (seed, before, after)
    assert 2 <= other <= 6


def test_the_steal_prelude_steals_single_blocks_from_the_fill_types_pageblocks():
    # a movable order-0 request takes no whole pageblock from a free block below half a
    # pageblock (can_steal_fallback, mm/page_alloc.c 1882-1898 of 6.12.118: order 1 < 4 /
    # 2); __rmqueue_steal splits the smallest such block and leaves its pageblock's type
    # (2275-2285): the prelude's movable pages lie in pageblocks of the fill's type
    from kmem.spec import migrate

    config = path.PATH_CONFIGS[6]  # no pcp lists: each request is one __rmqueue
    for seed in range(3):
        ops = path._prelude(random.Random(seed), config.nr_cpus, False, "steal", 4)
        runner = PathRunner(config, path_impls("model"))
        for op in ops[:-40]:
            runner.apply(op)
        held = {h.pfn for h in runner.held}
        for op in ops[-40:]:
            runner.apply(op)
        z = runner.lead.zones[0]
        stolen = [h.pfn for h in runner.held if h.pfn not in held
                  and z.get_pfnblock_migratetype(h.pfn) != migrate.MIGRATE_MOVABLE]
        assert len(stolen) >= 2, (seed, len(stolen))


@pytest.mark.parametrize("config", deck_machines("stealing"))
def test_the_steal_prelude_leaves_a_split_off_half_on_the_fill_types_list(config):
    # __rmqueue_steal (mm/page_alloc.c 2269-2290 of 6.12.118) takes the smallest free
    # block of a fallback type and puts the halves it splits off on that type's lists
    # (page_del_and_expand(zone, page, order, current_order, fallback_mt), 2283): once a
    # movable order-0 request of the prelude splits an order-1 block of the fill's type,
    # the block's other page is free on the fill type's order-0 list, or, where a pcp
    # refill asked for more than one page, on the pcp list (rmqueue_bulk's next
    # __rmqueue, in RMQUEUE_STEAL mode, steals it from there: 2355-2361, 2376-2390). Every
    # machine of the stealing family must get there within the prelude, in every stream.
    from kmem.spec import gfp, migrate

    for seed in range(3):
        ops = path._prelude(random.Random(seed), config.nr_cpus, False, "steal",
                            path._booted(config).zones[0].pageblock_order)
        fill = (migrate.MIGRATE_RECLAIMABLE if ops[0][1] & gfp.__GFP_RECLAIMABLE
                else migrate.MIGRATE_UNMOVABLE)
        runner = PathRunner(config, path_impls("model"))
        split = False
        for op in ops:
            held = {h.pfn for h in runner.held}
            runner.apply(op)
            if op[0] != "alloc" or op[1] & gfp.__GFP_MOVABLE == 0:
                continue
            z = runner.lead.zones[0]
            got = [h.pfn for h in runner.held if h.pfn not in held]
            parked = {pfn for p in z.pcp for lst in p.lists for pfn in lst}
            if got and (got[0] ^ 1 in set(z.free_list_order(0, fill)) or got[0] ^ 1 in parked):
                split = True
                break
        assert split, (config, seed)
