"""The whole allocation path pinned to the kernel's own code: directed scenarios
(tests/path_scenarios.py) replayed through the model must give, step by step, the results
and the states that the kernel's compiled mm/page_alloc.c (6.12.118 and 6.1.192, through
`kmem conform`'s whole-path harness) gave when the transcripts were recorded. The slow test
checks that the kernel still gives them. The expected values are the kernel's, never the
spec's: model/mtzone.py calls the spec, so a spec bug would move both."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from kmem.fuzz.conform.path import ModelSide, parse_state
from kmem.spec import pcp

_spec = importlib.util.spec_from_file_location("path_scenarios",
                                               Path(__file__).with_name("path_scenarios.py"))
assert _spec is not None and _spec.loader is not None
ps = importlib.util.module_from_spec(_spec)
sys.modules["path_scenarios"] = ps
_spec.loader.exec_module(ps)

CASES = [(era, name) for era in ps.ERAS for name in ps.SCENARIOS]


def replay(era: str, name: str) -> list[tuple[ps.Step, int, dict[str, str]]]:
    """The model on a scenario: (step, result, parsed state) for each step run."""
    config, s = ps.SCENARIOS[name]()
    model = ModelSide(config, era)
    run: list[ps.Step] = []
    call = ps.model_call(model)

    def record(step: ps.Step, live: dict[int, tuple[int, int]]) -> tuple[int, str]:
        run.append(step)
        return call(step, live)

    return [(run[-1], res, parse_state(state)) for res, state in ps.drive(s.steps, record, era)]


@pytest.mark.parametrize(("era", "name"), CASES)
def test_the_model_gives_the_kernels_transcript(era, name):
    golden = ps.load(era)[name]
    assert golden["steps"] == ps.steps_hash(name), \
        "the scenario changed: re-record with `python tests/path_scenarios.py --write`"
    config, s = ps.SCENARIOS[name]()
    model = ModelSide(config, era)
    run: list[ps.Step] = []
    call = ps.model_call(model)

    def record(step, live):
        run.append(step)
        return call(step, live)

    last = None
    n = 0
    for i, (res, state) in enumerate(ps.drive(s.steps, record, era)):
        assert res == golden["results"][i], \
            f"{era} {name} step #{i} ({run[-1].text()}): kernel {golden['results'][i]}, kmem {res}"
        assert ps.state_hash(state) == golden["hashes"][i], \
            f"{era} {name} step #{i} ({run[-1].text()}): the state differs from the kernel's"
        last, n = state, i + 1
    assert n == len(golden["results"])
    assert last == golden["last"]


def _blocks(state: dict[str, str]) -> str:
    return state["B"]


def _zone(state: dict[str, str]) -> list[int]:
    """Z: NR_FREE_PAGES, nr_free_highatomic, nr_reserved_highatomic, watermark_boost,
    ZONE_BOOSTED_WATERMARK ("-" for 6.1's missing field read as -1)."""
    return [int(v) if v != "-" else -1 for v in state["Z"].split(",")]


@pytest.mark.parametrize("era", ps.ERAS)
def test_a_steal_of_single_pages_succeeds_and_leaves_the_pageblock_alone(era):
    """6.12: __rmqueue_claim breaks at the first order whose fallback cannot be claimed
    (can_steal_fallback(0, MOVABLE) is false: mm/page_alloc.c:1882-1900, 2249-2250) and
    __rmqueue_steal takes the head of the smallest fallback list (2268-2290); 6.1:
    __rmqueue_fallback's find_smallest path and steal_suitable_fallback's single page."""
    steps = replay(era, "steal_single")
    stolen = [(res, st) for step, res, st in steps if step.kind == "a" and step.b == ps.MOV
              and res >= 0 and _blocks(st)[res >> 9] == "0"]
    assert len(stolen) == 20  # every MOVABLE order-0 request, each from the UNMOVABLE block
    assert all(res >> 9 == stolen[0][0] >> 9 for res, _ in stolen)
    # the RECLAIMABLE requests may claim (can_steal) but 200 free < 256 and alike 0: steal
    recl = [(res, st) for step, res, st in steps if step.kind == "a" and step.b == ps.RECL]
    assert len(recl) == 20 and all(_blocks(st)[res >> 9] == "0" for res, st in recl)


def test_half_a_pageblock_is_the_claim_boundary():
    """try_to_steal_block (6.12.118 mm/page_alloc.c:1999-2003): 255 free + 0 alike pages:
    no claim, a single-page steal; 255 free + 1 alike (an UNMOVABLE request in a MOVABLE
    pageblock: every page neither free nor movable, 1990-1992), or 256 free: the
    pageblock changes type."""
    steps = replay("6.12", "half_claim")
    unmov = [(res, st) for step, res, st in steps
             if step.kind == "a" and step.b == ps.UNMOV and res >> 9 == 21]
    assert _blocks(unmov[0][1])[21] == "1"  # stolen: still MOVABLE
    assert _blocks(unmov[1][1])[21] == "0"  # claimed
    mov = [(res, st) for i, (step, res, st) in enumerate(steps)
           if i > 1000 and step.kind == "a" and step.b == ps.MOV and res >> 9 == 8]
    assert _blocks(mov[0][1])[8] == "0" and _blocks(mov[1][1])[8] == "1"


def _pfns_on(state: dict[str, str], mt: int, lo: int, hi: int) -> int:
    return sum(1 for tag, v in state.items() if tag[0] == "L" and tag.endswith(f".{mt}")
               for pfn in v.split(",") if lo <= int(pfn) < hi)


def test_61_moves_the_free_pages_without_claiming_below_half():
    """6.1.192 steal_suitable_fallback (2832-2866): with can_steal every free page of the
    pageblock moves to the request's list (move_freepages_block), but the pageblock keeps
    its type below half (255 free + 0 alike); later requests take the moved pages from
    their own list, so no second claim attempt happens."""
    steps = replay("6.1", "half_claim")
    i, (step, res, st) = next((i, x) for i, x in enumerate(steps)
                              if x[0].kind == "a" and x[0].b == ps.UNMOV and x[1] >> 9 == 21)
    assert _blocks(st)[21] == "1"
    assert _pfns_on(st, ps.UNMOV, 21 << 9, 22 << 9) > 0
    assert _pfns_on(st, ps.MOV, 21 << 9, 22 << 9) == 0
    assert _pfns_on(steps[i - 1][2], ps.UNMOV, 21 << 9, 22 << 9) == 0


def test_failed_claims_below_pageblock_order_boost_the_watermark():
    """boost_watermark runs before prep_move_freepages_block whether or not the block is
    claimed (6.12.118 mm/page_alloc.c:1973-1977): a pageblock per failed claim, up to
    max(pageblock_nr_pages, high * watermark_boost_factor / 10000) (1936-1944). The
    UNMOVABLE request that steals tries orders 7..0 (8 claims): the cap at once."""
    config, _ = ps.half_claim()
    cap = max(512, config.watermarks()[2] * 15000 // 10000)
    assert cap > 1024  # more than two pageblocks: one request boosted three times or more
    steps = replay("6.12", "half_claim")
    first = next(i for i, (_, _, st) in enumerate(steps) if _zone(st)[3])
    assert _zone(steps[first][2])[3] == cap and _zone(steps[first - 1][2])[3] == 0


@pytest.mark.parametrize("era", ps.ERAS)
def test_a_free_into_a_highatomic_pageblock_lands_on_the_movable_pcp_list(era):
    """free_unref_page (6.12.118 mm/page_alloc.c:2748-2758; 6.1.192 3523-3530): a page of a
    HIGHATOMIC (or CMA) pageblock goes to the MOVABLE list of its order; the drain gives
    it back to the HIGHATOMIC free list (the pageblock's type, or 6.1's cached one)."""
    steps = replay(era, "highatomic")
    frees = [(step, st) for step, _, st in steps if step.kind == "f"][:3]
    movable_order2 = f"Q0.{pcp.order_to_pindex(ps.MOV, 2)}"
    assert movable_order2 == "Q0.7"  # MIGRATE_PCPTYPES * order + mt
    assert all(movable_order2 in st for _, st in frees)
    # the cap: 6.12 ALIGN(65870 / 100, 512) = 1024 (2081-2084); 6.1 reserves while below
    # 65870 / 100 + 512 = 1170 (6.1.192 2917-2919): a third pageblock
    reserved = [_zone(st)[2] for _, _, st in steps]
    assert max(reserved) == (1024 if era == "6.12" else 1536)
    drained = next(st for step, _, st in steps if step.kind == "d")
    if era == "6.12":
        assert _zone(drained)[1] == 1012  # nr_free_highatomic: the pages are free HIGHATOMIC


@pytest.mark.parametrize("era", ps.ERAS)
def test_unreserve_keeps_one_pageblock_unless_forced_and_the_reserve_is_used_first(era):
    """unreserve_highatomic_pageblock (6.12.118 mm/page_alloc.c:2134-2136, 2164-2173; 6.1.192
    2952-2954): without force a zone keeps its last pageblock; with it the pageblock goes to
    the caller's type. rmqueue_buddy takes the HIGHATOMIC list first for ALLOC_HIGHATOMIC
    (2993-2995) - for an order that skips the pcp lists (a pcp order is served from its
    pcp list first)."""
    steps = replay(era, "highatomic")
    unres = [(res, _zone(st)[2]) for step, res, st in steps if step.kind == "u"]
    if era == "6.12":
        assert unres[:3] == [(1, 512), (0, 512), (1, 0)]
    else:
        assert unres[:3] == [(1, 1024), (1, 512), (1, 0)]
    order4 = [i for i, (step, _, _) in enumerate(steps) if step.kind == "a" and step.a == 4]
    assert len(order4) == 2
    for i in order4:
        res, before = steps[i][1], steps[i - 1][2]
        assert _blocks(before)[res >> 9] == "3"  # from the reserve, not a MOVABLE block


@pytest.mark.parametrize("era", ps.ERAS)
def test_a_pageblock_that_straddles_the_zone_end_is_never_claimed(era):
    """prep_move_freepages_block refuses a pageblock past the zone's end (6.12.118
    mm/page_alloc.c:1731-1733): no claim (every request steals from it) and no highatomic
    reservation there (move_freepages_block returns -1, 2101-2102). 6.1 (6.1.192
    2687-2688: move_freepages_block moves nothing) never claims it either, but
    reserve_highatomic_pageblock retypes it and counts the pageblock (2925-2929)."""
    steps = replay(era, "straddle")
    last_pb = ps.NPAGES >> 9
    got = [(step, st) for step, res, st in steps if step.kind == "a" and res >> 9 == last_pb]
    assert len(got) == 16 and all(step.b != ps.MOV or step.c for step, _ in got[:8])
    assert all(_blocks(st)[last_pb] == "1" for step, st in got if not step.c & ps.HIGHATOMIC) \
        or era == "6.1"
    assert _blocks(got[7][1])[last_pb] == "1"  # the steals before the reservation
    if era == "6.12":
        assert all(_zone(st)[2] == 0 and _blocks(st)[last_pb] == "1" for _, _, st in steps)
    else:
        assert _zone(steps[-1][2])[2] == 512 and _blocks(steps[-1][2])[last_pb] == "3"


def _pageset(state: dict[str, str], cpu: int) -> list[int]:
    """count, high, high_min, high_max, batch, free_count, flags, alloc_factor"""
    return [int(v) for v in state[f"P{cpu}"].split(",")]


def test_pcp_refill_and_drain_amounts_are_the_kernels():
    """Values the kernel's code gave (pageset: count, high, high_min, high_max, batch,
    free_count, flags, alloc_factor), 6.12.118 mm/page_alloc.c:
    - nr_pcp_alloc (3021-3070): an order-N refill is max(batch >> N, 2) blocks (batch 15:
      order 1 -> 7, order 2 -> 3, order 3 -> 2, order 9 -> 2), one of them handed out;
    - free_unref_page_commit (2676-2725): the second order-1 free of a run, with
      PCPF_PREV_FREE_HIGH_ORDER set and free_count >= batch, is a free_high: nr_pcp_free
      gives min(count, batch << 5) = 421 (2607-2608), nr_pcp_high lowers high by
      batch << 5 to 665 (2649-2651), free_count grows by 1 << order (2702-2703);
    - decay_pcp_high (2412-2443): high - high / 8 (957 -> 838)."""
    steps = replay("6.12", "pcp_amounts")
    refills = {}
    for i, (step, _, st) in enumerate(steps):
        if step.kind == "a" and step.a in (1, 2, 3, 9) and (step.a, step.cpu) not in refills:
            before, after = _pageset(steps[i - 1][2], step.cpu), _pageset(st, step.cpu)
            refills[(step.a, step.cpu)] = (after[0] - before[0]) >> step.a
    assert refills == {(1, 0): 7 - 1, (2, 1): 3 - 1, (3, 0): 2 - 1, (9, 0): 2 - 1, (2, 0): 3 - 1}
    changes = []
    for i, (step, _, st) in enumerate(steps):
        for cpu in (0, 1):
            before, after = _pageset(steps[i - 1][2], cpu), _pageset(st, cpu)
            if step.kind in "fy" and after[:2] != before[:2] and (after[0] < before[0]
                                                                   or step.kind == "y"):
                changes.append((step.kind, cpu, before[0], before[1], before[5], after[0],
                                after[1], after[5]))
    assert changes[0] == ("f", 0, 421, 1145, 252, 0, 665, 254)  # free_high
    assert changes[1] == ("f", 1, 21, 575, 16, 0, 320, 24)  # free_high of order 3, at high_min
    assert ("y", 0, 0, 957, 942, 0, 838, 942) in changes  # decay: an eighth
    # order-0 frees past the mark: drained by clamp(free_count, batch, high - batch)
    order0 = [c for c in changes if c[0] == "f" and c[2] > c[5] > 0]
    assert order0 and all(c[2] + 1 - c[5] == max(15, min(c[4], c[3] - 15)) for c in order0)


@pytest.mark.slow
@pytest.mark.parametrize("era", ps.ERAS)
def test_the_kernel_still_gives_the_recorded_transcripts(era):
    """The recorded transcripts are the kernel's: rerun them through its compiled code."""
    from kmem.fuzz.cbuild import compiler
    from kmem.fuzz.conform import ConformError

    if compiler() is None:
        pytest.skip("no C compiler")
    golden = ps.load(era)
    for name in ps.SCENARIOS:
        try:
            results, hashes, last = ps.kernel_transcript(era, name)
        except ConformError as exc:
            pytest.skip(f"the {era} harness cannot be built here: {exc}")
        assert golden[name]["steps"] == ps.steps_hash(name)
        assert results == golden[name]["results"], name
        assert hashes == golden[name]["hashes"], name
        assert last == golden[name]["last"], name
