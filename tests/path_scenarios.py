"""Directed scenarios of the whole allocation path and their golden transcripts, recorded from
the kernel's own compiled code (``kmem conform``'s whole-path harness: mm/page_alloc.c of
Debian's 6.12.118 and 6.1.192, extracted by function name and compiled against kmem's shim).

Each scenario drives one zone through allocations (order, migratetype, ALLOC_* bits, CPU),
frees of an earlier allocation (by its index), pcp drains, decays and unreserves, built to
reach one branch that random streams rarely pin: a steal of single pages, the
ALLOC_NOFRAGMENT claim, the "half of the pageblock" claim rule on both sides of its
boundary, the highatomic reserve (reserve, free into it, unreserve, allocate from it
first), the pcp refill and drain amounts, and pageblock moves that straddle the zone's
end. The transcript holds, per operation, the kernel's result (the pfn, or -1) and a hash
of its whole state line (free lists in list order, pageblock types, every pcp list and
pageset field, zone counters); the last state in full.

``python tests/path_scenarios.py --write`` re-records the transcripts from the kernel (it
needs the harness: a C compiler and the linux-source package in kmem's cache);
tests/test_path_teeth.py replays them through the model (fast) and, in the slow tier,
checks that the kernel still gives the recorded transcript.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kmem.fuzz.conform.path import FLAG_BITS, ModelSide, Op, StreamConfig
from kmem.spec.alloc_flags import ALLOC_HIGHATOMIC, ALLOC_NOFRAGMENT

GOLDEN = Path(__file__).with_name("path_golden")
ERAS = ("6.12", "6.1")

# the harness's flag bits (path_harness.c; FLAG_BITS in kmem.fuzz.conform.path)
HIGHATOMIC, OOM, NON_BLOCK, NOFRAG, KSWAPD = 1, 2, 4, 8, 16
UNMOV, MOV, RECL = 0, 1, 2
assert dict(FLAG_BITS)[HIGHATOMIC] == ALLOC_HIGHATOMIC and dict(FLAG_BITS)[NOFRAG] == ALLOC_NOFRAGMENT


@dataclass(frozen=True)
class Step:
    """``a`` order mt flags cpu | ``f`` index cpu (free allocation #index) | ``d`` cpu |
    ``y`` cpu (decay) | ``u`` mt force."""

    kind: str
    a: int = 0
    b: int = 0
    c: int = 0
    cpu: int = 0

    def text(self) -> str:
        return f"{self.kind} {self.a} {self.b} {self.c} {self.cpu}"


class Builder:
    """Writes a scenario: keeps the allocation indices so that frees can name them."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.nallocs = 0

    def alloc(self, order: int, mt: int, flags: int = 0, cpu: int = 0, n: int = 1) -> list[int]:
        out = []
        for _ in range(n):
            self.steps.append(Step("a", order, mt, flags, cpu))
            out.append(self.nallocs)
            self.nallocs += 1
        return out

    def free(self, indices: list[int] | range | int, cpu: int = 0) -> None:
        for i in [indices] if isinstance(indices, int) else indices:
            self.steps.append(Step("f", i, cpu=cpu))

    def drain(self, cpu: int = 0) -> None:
        self.steps.append(Step("d", cpu=cpu))

    def decay(self, cpu: int = 0) -> None:
        self.steps.append(Step("y", cpu=cpu))

    def unreserve(self, mt: int, force: bool) -> None:
        self.steps.append(Step("u", mt, int(force)))


# The harness without pcp lists calls rmqueue_buddy, not rmqueue, so ZONE_BOOSTED_WATERMARK
# is not cleared at rmqueue's "out:" there: scenarios without pcp lists use no ALLOC_KSWAPD.
# A zone of 66,000 pages: 128 whole pageblocks and a partial last one of 464 pages (so that
# pageblock moves can straddle the zone's end); 130 pages reserved at its start.
NPAGES = 66_000


def _fill_movable(s: Builder, cpu: int = 0) -> list[int]:
    """Fill the zone with MOVABLE order-9 blocks, then order-0 pages (a failure of each
    ends its run: the kernel's zone is then full)."""
    nine = s.alloc(9, MOV, cpu=cpu, n=130)  # 128 fit; the last two fail
    s.alloc(0, MOV, cpu=cpu, n=850)  # the partial pageblocks (382 + 464 pages): 4 fail
    return nine


def steal_single() -> tuple[StreamConfig, Builder]:
    """A full zone but one order-9 block, claimed whole by UNMOVABLE order-0 requests
    (try_to_steal_block at current_order >= pageblock_order), filled, then every other page
    freed: 200 free UNMOVABLE order-0 pages and no MOVABLE one. MOVABLE order-0 requests then
    find no block to claim (can_steal_fallback(0, MOVABLE) is false: __rmqueue_claim
    breaks) and __rmqueue_steal takes single pages, leaving the pageblock UNMOVABLE;
    RECLAIMABLE requests claim it (can_steal for RECLAIMABLE; 200 free < 256, and
    alike_pages is 0 between UNMOVABLE and RECLAIMABLE), so they steal too."""
    s = Builder()
    nine = _fill_movable(s)
    s.free(nine[5])
    unmov = s.alloc(0, UNMOV, n=513)  # the 513th fails: the block is full
    s.free(unmov[1:401:2])  # 200 single pages, none with a free buddy
    s.alloc(0, MOV, n=20)
    s.alloc(0, RECL, n=20)
    s.alloc(1, MOV, n=3)  # no order >= 1 free: fails
    return StreamConfig(NPAGES, 1, pcp=False, reserved=130), s


def half_claim() -> tuple[StreamConfig, Builder]:
    """try_to_steal_block's "free_pages + alike_pages >= 1 << (pageblock_order - 1)"
    (6.12.118 mm/page_alloc.c:1999-2003) on both sides of the boundary.

    1. An UNMOVABLE request, a MOVABLE pageblock with 257 pages held by MOVABLE requests
       and 255 free (alike = 512 - free - movable = 0): not claimed, a single-page steal;
       one MOVABLE page freed: 255 free + 1 alike = 256: claimed.
    2. A MOVABLE request, an UNMOVABLE pageblock holding 255 free pages (orders 7..0;
       alike = movable pages = 0): not claimed at orders 7..4 (each attempt boosts the
       watermark), then a single-page steal; two more pages freed (256): claimed."""
    s = Builder()
    nine = _fill_movable(s)
    s.free(nine[20])
    mov = s.alloc(0, MOV, n=257)
    s.alloc(0, UNMOV)  # 255 + alike 0 < 256: no claim; steal
    s.free(mov[0])
    s.alloc(0, UNMOV)  # 255 + alike 1: claim
    s.alloc(0, RECL, n=3)
    s.alloc(0, UNMOV, n=260)  # the rest of that pageblock (then failures: the zone is full)
    s.free(nine[7])
    unmov = s.alloc(0, UNMOV, n=513)  # pageblock of nine[7]: all UNMOVABLE
    s.free(unmov[:255])  # 255 free pages in orders 7..0
    s.alloc(0, MOV)  # steal (no claim: 255 < 256)
    s.free(unmov[255:257])  # 256 free pages
    s.alloc(0, MOV)  # claim
    s.alloc(0, MOV, n=4)
    return StreamConfig(NPAGES, 1, pcp=False, reserved=130), s


def nofragment() -> tuple[StreamConfig, Builder]:
    """ALLOC_NOFRAGMENT: __rmqueue_claim searches only orders >= pageblock_order and
    __rmqueue skips the steal (6.12.118 mm/page_alloc.c:2240-2244, 2355-2360): a whole free
    pageblock of another type is claimed; with only smaller blocks of other types the
    first pass fails and the retry without ALLOC_NOFRAGMENT claims or steals."""
    s = Builder()
    nine = _fill_movable(s)
    s.free(nine[3])
    s.alloc(0, UNMOV, flags=NOFRAG)  # claims the whole free pageblock (order 9 >= 9)
    s.alloc(0, UNMOV, flags=NOFRAG, n=515)  # the pageblock fills; NOFRAGMENT then fails
    s.free(nine[9])
    s.alloc(3, MOV, n=20)  # MOVABLE order-3 blocks out of nine[9]'s pageblock
    s.alloc(0, RECL, flags=NOFRAG, n=5)  # only fragments of other types: fail, retry, claim
    s.alloc(2, UNMOV, flags=NOFRAG, n=5)
    s.free(nine[40])
    s.alloc(1, RECL, flags=NOFRAG, n=3)  # a whole free MOVABLE pageblock: claimed
    return StreamConfig(NPAGES, 1, pcp=False, reserved=130), s


def nofragment_pcp() -> tuple[StreamConfig, Builder]:
    """With pcp lists on (2 CPUs): a NOFRAGMENT refill of an empty pcp list (rmqueue_bulk,
    6.12.118 mm/page_alloc.c:2376-2410) takes what its own type's lists hold and stops at
    the first failure of __rmqueue (no claim below pageblock order, no steal), so the list
    gets fewer than nr_pcp_alloc's blocks."""
    s = Builder()
    nine = _fill_movable(s)
    s.free(nine[3])
    s.drain(0)
    s.alloc(0, UNMOV, flags=NOFRAG, cpu=1)  # claims the whole pageblock, refills
    s.alloc(0, UNMOV, flags=NOFRAG | KSWAPD, cpu=1, n=530)  # refills run short, then fail
    s.alloc(0, UNMOV, flags=NOFRAG, cpu=0, n=3)
    s.free(nine[9], cpu=1)
    s.drain(1)
    s.alloc(3, MOV, n=20, cpu=1)
    s.alloc(0, RECL, flags=NOFRAG, n=40)  # first pass fails; the retry claims
    s.alloc(2, UNMOV, flags=NOFRAG, n=5, cpu=1)
    s.free(nine[40])
    s.drain(0)
    s.alloc(1, RECL, flags=NOFRAG | KSWAPD, n=30)  # a whole free pageblock: claimed
    s.decay(0)
    s.decay(1)
    s.drain(0)
    s.drain(1)
    return StreamConfig(NPAGES, 2, pcp=True, reserved=130), s


def highatomic() -> tuple[StreamConfig, Builder]:
    """The highatomic reserve: high-order atomic requests (ALLOC_HIGHATOMIC) reserve
    pageblocks up to ALIGN(managed / 100, pageblock_nr_pages) = 1024 pages (6.12.118
    mm/page_alloc.c:2081-2084); frees into a HIGHATOMIC pageblock go to the MOVABLE pcp list
    (free_unref_page: is_migrate_highatomic -> MIGRATE_MOVABLE, 2753-2758) and from there to
    the HIGHATOMIC free list; ALLOC_HIGHATOMIC takes the reserve first (rmqueue_buddy,
    2993-2995), ALLOC_OOM and ALLOC_NON_BLOCK after __rmqueue fails (3000-3003);
    unreserve_highatomic_pageblock keeps one pageblock unless forced, and gives the
    first HIGHATOMIC free block's pageblock to the caller's type."""
    s = Builder()
    s.alloc(0, MOV, n=40)
    ha = s.alloc(2, UNMOV, flags=HIGHATOMIC, n=6)  # reserves pageblock(s)
    s.alloc(3, RECL, flags=HIGHATOMIC, n=4)
    s.alloc(9, MOV, flags=HIGHATOMIC, n=2)  # cap reached: no more reservation
    s.free(ha[:3])  # into the HIGHATOMIC pageblock: MOVABLE pcp list (order 2)
    s.drain()
    s.alloc(4, MOV, flags=HIGHATOMIC, n=2)  # not a pcp order: rmqueue_buddy, reserve first
    s.alloc(2, MOV, flags=HIGHATOMIC, n=3)  # the reserve first
    s.alloc(1, UNMOV, flags=HIGHATOMIC | KSWAPD, n=3)
    s.unreserve(MOV, False)  # 2 pageblocks reserved: one may go
    s.unreserve(MOV, False)  # only one left: kept
    s.unreserve(UNMOV, True)
    s.alloc(1, UNMOV, n=3)
    s.alloc(0, MOV, flags=HIGHATOMIC, n=3)
    fill = _fill_movable(s)
    s.alloc(0, UNMOV, flags=NON_BLOCK, n=5)
    s.alloc(1, MOV, flags=OOM, n=5)
    s.free(fill[:4])
    s.free(ha[3:])
    s.drain()
    s.unreserve(RECL, True)
    s.unreserve(MOV, True)
    s.alloc(3, UNMOV, n=4)
    return StreamConfig(NPAGES, 1, pcp=True, reserved=130), s


def pcp_amounts() -> tuple[StreamConfig, Builder]:
    """The pcp refill and drain amounts (nr_pcp_alloc, nr_pcp_free, nr_pcp_high,
    free_unref_page_commit's free_count and free_high, decay_pcp_high) on 2 CPUs:
    runs of order-0 allocations (the refill grows with alloc_factor), refills of orders 1,
    2, 3 and 9 (max(batch >> order, 2) blocks), order-0 frees past the high mark (drained
    by clamp(free_count, batch, high - batch)), a run of order-1..3 frees (PCPF_PREV_FREE_
    HIGH_ORDER: the free_high drain of batch << PCP_BATCH_SCALE_MAX), frees on the other
    CPU, decays and drains."""
    s = Builder()
    small = s.alloc(0, MOV, n=300)
    s.alloc(0, UNMOV, n=100, cpu=1)
    o1 = s.alloc(1, MOV, n=40)
    o2 = s.alloc(2, RECL, n=30, cpu=1)
    o3 = s.alloc(3, UNMOV, n=30)
    thp = s.alloc(9, MOV, n=6)
    s.free(small[:250])  # count passes high: drains at the mark
    s.free(o1[:30])  # a run of high-order frees: free_high
    s.free(o2, cpu=0)
    s.free(o3[:20], cpu=1)
    s.free(thp[:3])
    s.decay(0)
    s.decay(1)
    s.alloc(0, MOV, n=100)
    s.free(small[250:], cpu=1)
    s.alloc(0, MOV, n=50, cpu=1)
    for _ in range(6):
        s.decay(0)
        s.decay(1)
    s.drain(1)
    s.alloc(2, MOV, n=10)
    s.free(o3[20:])
    s.free(o1[30:], cpu=1)
    s.drain(0)
    big = s.alloc(0, UNMOV, n=700, cpu=1)
    s.free(big, cpu=0)  # order-0 frees past CPU 0's (decayed) high mark
    s.free(o3[20:], cpu=0)
    return StreamConfig(NPAGES, 2, pcp=True, reserved=130), s


def straddle() -> tuple[StreamConfig, Builder]:
    """Pageblock moves at the zone's end: the partial last pageblock (464 pages) cannot be
    claimed below pageblock order (prep_move_freepages_block fails: 6.12.118
    mm/page_alloc.c:1731-1733; try_to_steal_block returns NULL, 1979-1981), so UNMOVABLE
    requests steal from it; a highatomic reservation there is refused
    (move_freepages_block returns -1, 2101-2102)."""
    s = Builder()
    s.alloc(9, MOV, n=130)  # everything but the last, partial pageblock
    s.alloc(0, UNMOV, flags=KSWAPD, n=5)  # steals from the partial pageblock
    s.alloc(0, RECL, n=3)
    s.alloc(2, UNMOV, flags=HIGHATOMIC, n=3)  # no reservation: the pageblock straddles
    s.alloc(1, MOV, n=3)
    s.alloc(5, UNMOV, n=2)
    return StreamConfig(NPAGES, 1, pcp=True), s


def drain_rounds() -> tuple[StreamConfig, Builder]:
    """drain_pages_zone (6.12.118 mm/page_alloc.c:2470-2488; 6.1.192 3221-3238) hands
    ``min(count, batch << CONFIG_PCP_BATCH_SCALE_MAX)`` pages at a time to
    free_pcppages_bulk(zone, to_drain, pcp, 0), which empties the lists round robin from
    pindex 0 (6.12.118 1218-1265): order-0 UNMOVABLE pages (pindex 0) before order-1 ones
    (pindex 3). Buddy pairs of order-0 pages merge into order-1 blocks on the same free
    list as the order-1 blocks freed, so which list goes first decides that list's order
    (each __free_one_page adds at the head). Orders 0 and 1 alternate on the frees, so
    PCPF_PREV_FREE_HIGH_ORDER never holds for two frees in a row (no free_high drain)
    and the pages stay on the lists until the drain."""
    s = Builder()
    o0 = s.alloc(0, UNMOV, n=200)
    o1 = s.alloc(1, UNMOV, n=100)
    mov = s.alloc(0, MOV, n=200)
    recl = s.alloc(1, RECL, n=60)
    o3 = s.alloc(3, UNMOV, n=20)
    for i in range(200):  # every other buddy pair stays allocated: no merge past order 1
        if i % 4 < 2:
            s.free(o0[i])
        if i < 100 and i % 2 == 0:
            s.free(o1[i])
        if i % 4 < 2:
            s.free(mov[i])
        if i < 60:
            s.free(recl[i])
        if i < 20 and i % 2 == 0:
            s.free(o3[i])
    s.drain()
    s.alloc(0, UNMOV, n=20)
    s.alloc(1, UNMOV, n=10)  # the order-1 list's order, as the drain left it
    s.alloc(0, MOV, n=20)
    s.alloc(3, UNMOV, n=10)
    s.alloc(2, RECL, n=5)
    return StreamConfig(NPAGES, 1, pcp=True, reserved=130), s


SCENARIOS: dict[str, Callable[[], tuple[StreamConfig, Builder]]] = {
    "steal_single": steal_single, "half_claim": half_claim, "nofragment": nofragment,
    "nofragment_pcp": nofragment_pcp, "highatomic": highatomic, "pcp_amounts": pcp_amounts,
    "straddle": straddle, "drain_rounds": drain_rounds,
}


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()[:10]


def drive(steps: list[Step], call: Callable[[Step, dict[int, tuple[int, int]]], tuple[int, str]],
          era: str) -> Iterator[tuple[int, str]]:
    """Run ``steps``; a free of an allocation that failed (or was freed) is skipped, and so
    is a decay on 6.1 (decay_pcp_high came in 6.7). ``call(step, live)`` performs one step
    and returns (result, state line)."""
    live: dict[int, tuple[int, int]] = {}  # allocation index -> (pfn, order)
    index = 0
    for step in steps:
        if step.kind == "f" and step.a not in live or step.kind == "y" and era == "6.1":
            continue
        res, state = call(step, live)
        if step.kind == "a":
            if res >= 0:
                live[index] = (res, step.a)
            index += 1
        elif step.kind == "f":
            del live[step.a]
        yield res, state


def model_call(model: ModelSide) -> Callable[[Step, dict[int, tuple[int, int]]], tuple[int, str]]:
    def call(step: Step, live: dict[int, tuple[int, int]]) -> tuple[int, str]:
        res = 0
        if step.kind == "a":
            pfn = model.alloc(Op("alloc", order=step.a, mt=step.b, flags=step.c, cpu=step.cpu))
            res = -1 if pfn is None else pfn
        elif step.kind == "f":
            pfn, order = live[step.a]
            model.free(pfn, order, step.cpu)
        elif step.kind == "d":
            model.drain(step.cpu)
        elif step.kind == "y":
            res = model.decay(step.cpu)
        else:
            res = model.unreserve(step.a, bool(step.b))
        return res, model.dump()
    return call


def model_transcript(era: str, name: str) -> tuple[list[int], list[str], str]:
    """(results, state hashes, last state) of the model on a scenario."""
    config, s = SCENARIOS[name]()
    model = ModelSide(config, era)
    results, hashes, last = [], [], model.dump()
    for res, state in drive(s.steps, model_call(model), era):
        results.append(res)
        hashes.append(state_hash(state))
        last = state
    return results, hashes, last


def kernel_transcript(era: str, name: str) -> tuple[list[int], list[str], str]:
    """The same from the kernel's compiled code (needs the harness)."""
    from kmem.fuzz.conform.path import KernelSide, build_path_harness

    harness = build_path_harness(era, log=lambda _line: None)
    config, s = SCENARIOS[name]()
    kernel = KernelSide(harness, config)
    try:
        _, last = kernel.request(kernel.init_line)

        def call(step: Step, live: dict[int, tuple[int, int]]) -> tuple[int, str]:
            if step.kind == "a":
                line = f"a {step.a} {step.b} {step.c} {step.cpu}"
            elif step.kind == "f":
                pfn, order = live[step.a]
                line = f"f {pfn} {order} {step.cpu}"
            elif step.kind == "d":
                line = f"d {step.cpu}"
            elif step.kind == "y":
                line = f"y {step.cpu}"
            else:
                line = f"u {step.a} {step.b}"
            res, state = kernel.request(line)
            if step.kind in ("f", "d"):
                res = 0
            elif step.kind in ("y", "u"):
                res = int(bool(res))
            return res, state

        results, hashes = [], []
        for res, state in drive(s.steps, call, era):
            results.append(res)
            hashes.append(state_hash(state))
            last = state
        return results, hashes, last
    finally:
        kernel.close()


def steps_hash(name: str) -> str:
    config, s = SCENARIOS[name]()
    text = repr(config) + "\n".join(step.text() for step in s.steps)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load(era: str) -> dict[str, dict[str, object]]:
    return json.loads((GOLDEN / f"{era}.json").read_text())


def write(era: str) -> None:
    out: dict[str, dict[str, object]] = {}
    for name in SCENARIOS:
        results, hashes, last = kernel_transcript(era, name)
        out[name] = {"steps": steps_hash(name), "results": results, "hashes": hashes,
                     "last": last}
    GOLDEN.mkdir(exist_ok=True)
    (GOLDEN / f"{era}.json").write_text(json.dumps(out, separators=(",", ":"), sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/path_scenarios.py --write")
    for era in ERAS:
        write(era)
