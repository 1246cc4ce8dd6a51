"""Machine.from_proc: boot a model from /proc texts; recompute the printed watermarks."""

import os
import random
from pathlib import Path

import pytest

from kmem.model import Machine, api
from kmem.spec import buddy, gfp, procfs
from kmem.spec.errors import BadPageState, InvalidArgument
from kmem.spec.from_proc import PlacementError, place_free_blocks, read_sysctls

SYSCTLS = {"min_free_kbytes": "67584\n", "lowmem_reserve_ratio": "256\t256\t32\t0\t0\n",
           "watermark_scale_factor": "10\n"}

# A real x86-64 guest (kernel 6.18): DMA starts at pfn 1 with the BIOS hole below 1 MB.
# (Normal's "pages free" set to the buddyinfo total: the two files were read apart.)
REAL_ZONEINFO = """\
Node 0, zone      DMA
  pages free     3840
        boost    0
        min      68
        low      85
        high     102
        promo    119
        spanned  4095
        present  3998
        managed  3840
        cma      0
        protection: (0, 3019, 3659, 3659, 3659)
      nr_free_pages 3840
  start_pfn:           1
Node 0, zone    DMA32
  pages free     772917
        boost    0
        min      13883
        low      17353
        high     20823
        promo    24293
        spanned  1044480
        present  782336
        managed  772917
        cma      0
        protection: (0, 0, 640, 640, 640)
      nr_free_pages 772917
  start_pfn:           4096
Node 0, zone   Normal
  pages free     104849
        boost    0
        min      2943
        low      3678
        high     4413
        promo    5148
        spanned  5505024
        present  5505024
        managed  163840
        cma      0
        protection: (0, 0, 0, 0, 0)
      nr_free_pages 104849
  start_pfn:           1048576
Node 0, zone  Movable
  pages free     0
        boost    0
        min      32
        low      32
        high     32
        promo    32
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0, 0)
Node 0, zone   Device
  pages free     0
        boost    0
        min      0
        low      0
        high     0
        promo    0
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0, 0)
"""
REAL_BUDDYINFO = """\
Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n\
Node 0, zone    DMA32      1      2      4      2      5      4      3      3      4      2    752 \n\
Node 0, zone   Normal   1293    938    790    505    243    197    129     64     41     18     47 \n\
"""


def test_boots_the_real_sample_exactly():
    m = Machine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, SYSCTLS)
    assert m.buddyinfo() == REAL_BUDDYINFO
    printed = {z.zone: z for z in procfs.parse_zoneinfo(REAL_ZONEINFO)}
    for z in procfs.parse_zoneinfo(m.zoneinfo()):
        want = printed[z.zone]
        for key in ("free", "min", "low", "high", "promo", "spanned", "present", "managed",
                    "protection", "start_pfn"):
            assert getattr(z, key) == getattr(want, key), (z.zone, key)
    assert m.check_invariants() == []
    dma = m.zones[0]
    assert dma.start_pfn == 1 and sorted(dma.free_order.items()) == [(256, 8), (512, 9),
                                                                       (1024, 10), (2048, 10),
                                                                       (3072, 10)]
    page = api.alloc_pages(m, gfp.GFP_KERNEL, 3)  # and it works as an allocator
    assert page is not None and m.check_invariants() == []


def test_round_trip_of_a_used_model():
    src = Machine.x86_32(1536, policy="linux")
    rng = random.Random(7)
    held = []
    for _ in range(3000):
        if held and rng.random() < 0.4:
            page, order = held.pop(rng.randrange(len(held)))
            api.__free_pages(src, page, order)
        else:
            order = rng.choice([0, 0, 0, 1, 2, 3, 5])
            mask = rng.choice([gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_DMA])
            page = api.alloc_pages(src, mask, order)
            if page is not None:
                held.append((page, order))
    ctl = {"min_free_kbytes": src.min_free_kbytes,
           "vm.lowmem_reserve_ratio": src.lowmem_reserve_ratio}
    m = Machine.from_proc(src.zoneinfo(), src.buddyinfo(), ctl)
    assert m.buddyinfo() == src.buddyinfo()
    assert m.zoneinfo() == src.zoneinfo()


def test_watermark_mismatch_is_reported():
    bad = REAL_ZONEINFO.replace("min      2943", "min      2944")
    with pytest.raises(procfs.ZoneinfoMismatch, match="Normal: min printed 2944"):
        Machine.from_proc(bad, REAL_BUDDYINFO, SYSCTLS)
    with pytest.raises(procfs.ZoneinfoMismatch):
        Machine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, dict(SYSCTLS, min_free_kbytes=1024))


def test_free_count_mismatch_needs_consent():
    racy = REAL_BUDDYINFO.replace("   1293 ", "   1292 ")
    with pytest.raises(procfs.ZoneinfoMismatch, match="allow_free_mismatch"):
        Machine.from_proc(REAL_ZONEINFO, racy, SYSCTLS)
    m = Machine.from_proc(REAL_ZONEINFO, racy, SYSCTLS, allow_free_mismatch=True)
    assert m.buddyinfo() == racy and m.check_invariants() == []


def test_bad_inputs():
    with pytest.raises(InvalidArgument, match="min_free_kbytes is required"):
        read_sysctls({"watermark_scale_factor": 10})
    ignored: list[str] = []  # every other /proc/sys/vm file is accepted and ignored
    assert read_sysctls({"min_free_kbytes": 1, "swappiness": 60}, ignored) == \
        {"min_free_kbytes": 1}
    assert ignored == ["swappiness"]
    with pytest.raises(procfs.ProcParseError):
        Machine.from_proc(REAL_ZONEINFO, "garbage\n", SYSCTLS)
    too_many = REAL_BUDDYINFO.replace("      3 \n", "     30 \n", 1)
    with pytest.raises(InvalidArgument):
        Machine.from_proc(REAL_ZONEINFO, too_many, SYSCTLS, allow_free_mismatch=True)


def test_place_free_blocks_respects_the_invariants():
    blocks = place_free_blocks(0, 4096, [3, 2, 2, 1, 0, 0, 0, 0, 0, 1, 2])
    zs = buddy.ZoneState(0, 4096, free=frozenset(blocks)).counted()
    assert buddy.inv_maximal_coalescing(zs) == [] and buddy.inv_disjoint(zs) == []
    assert buddy.inv_alignment_and_bounds(zs) == []
    with pytest.raises(PlacementError):
        place_free_blocks(0, 1024, [0] * 9 + [2, 0])  # two order-9 blocks would merge


LIVE = Path("/proc/zoneinfo")


@pytest.mark.live
@pytest.mark.skipif(not (LIVE.exists() and Path("/proc/buddyinfo").exists()
                         and os.access("/proc/sys/vm/min_free_kbytes", os.R_OK)),
                    reason="needs a Linux /proc")
def test_live_machine():
    zoneinfo = LIVE.read_text()
    buddyinfo = Path("/proc/buddyinfo").read_text()
    ctl = {k: Path("/proc/sys/vm", k).read_text()
           for k in ("min_free_kbytes", "lowmem_reserve_ratio", "watermark_scale_factor")}
    nodes = {z.node for z in procfs.parse_zoneinfo(zoneinfo)}
    if len(nodes) > 1:
        pytest.skip("multi-node machine: kmem boots one node at a time")
    m = Machine.from_proc(zoneinfo, buddyinfo, ctl, allow_free_mismatch=True)
    assert m.buddyinfo() == buddyinfo
    printed = procfs.parse_zoneinfo(zoneinfo)
    for ours, theirs in zip(procfs.parse_zoneinfo(m.zoneinfo()), printed, strict=True):
        for key in ("min", "low", "high", "spanned", "present", "managed", "protection"):
            assert getattr(ours, key) == getattr(theirs, key), (theirs.zone, key)


def _place_one_at_a_time(start, end, counts):
    """The placement rule read literally, one block at a time (slow): the oracle for
    place_free_blocks, which computes it a whole order at a time."""
    pool = [[] for _ in range(len(counts))]
    for pfn, order in buddy.free_pages_memory_chunks(start, end):
        pool[order].append(pfn)
    placed, out = set(), []
    top = len(counts) - 1
    for order in range(top, -1, -1):
        for _ in range(counts[order]):
            spot = next((p for p in sorted(pool[order])
                         if order == top or (buddy.find_buddy_pfn(p, order), order) not in placed),
                        None)
            if spot is not None:
                pool[order].remove(spot)
            else:
                bigger = next((o for o in range(order + 1, len(counts)) if pool[o]), None)
                if bigger is None:
                    return None
                spot = min(pool[bigger])
                pool[bigger].remove(spot)
                for half, half_order in buddy.expand(spot, order, bigger):
                    pool[half_order].append(half)
            placed.add((spot, order))
            out.append((spot, order))
    return out


def _random_counts(rng, start, end):
    """Counts of a plausible free state: each boot chunk kept free, split (one or both
    halves recursed into) or allocated."""
    counts = [0] * 11

    def visit(pfn, order):
        r = rng.random()
        if r < 0.3:
            counts[order] += 1
        elif r >= 0.45 and order:
            visit(pfn, order - 1)
            if rng.random() < 0.5:
                visit(pfn + (1 << (order - 1)), order - 1)

    for pfn, order in buddy.free_pages_memory_chunks(start, end):
        visit(pfn, order)
    return counts


def test_place_free_blocks_matches_the_rule_one_block_at_a_time():
    rng = random.Random(12)
    placed = failed = 0
    for _ in range(400):
        start = rng.randrange(0, 5000)
        end = start + rng.randrange(1, 1 << rng.randrange(1, 14))
        counts = (_random_counts(rng, start, end) if rng.random() < 0.8
                  else [rng.randrange(0, 1 + (20 >> min(o, 4))) for o in range(11)])
        want = _place_one_at_a_time(start, end, counts)
        if want is None:
            failed += 1
            with pytest.raises(PlacementError, match=r"cannot place \d+ free blocks of order"):
                place_free_blocks(start, end, counts)
        else:
            placed += 1
            assert place_free_blocks(start, end, counts) == want, (start, end, counts)
    assert placed > 250 and failed > 20  # both outcomes exercised


def test_place_free_blocks_rejects_bad_counts():
    with pytest.raises(InvalidArgument, match="negative count"):
        place_free_blocks(0, 1024, [1, -1, 0])
    with pytest.raises(InvalidArgument, match="12 orders"):
        place_free_blocks(0, 1024, [0] * 12)


#: Normal of a busy 24 GiB machine (the report in issue 12): about 50,000 free blocks.
BUSY_NORMAL = (8878, 14750, 8320, 6466, 2604, 2204, 954, 895, 500, 344, 1416)


def busy_machine_proc() -> tuple[str, str, dict]:
    """/proc texts of a 24 GiB x86-64 machine whose Normal zone holds BUSY_NORMAL."""
    m = Machine.x86_64(mem_mb=24576)
    free = sum(n << o for o, n in enumerate(BUSY_NORMAL))
    zones = [z if z.zone != "Normal" else
             procfs.ZoneinfoZone(**{**z.__dict__, "free": free, "nr_free_pages": free})
             for z in m.zoneinfo_zones()]
    rows = [procfs.BuddyinfoRow(0, z.name, BUSY_NORMAL if z.name == "Normal" else z.nr_free())
            for z in m.zones if z.present_pages]
    return (procfs.format_zoneinfo(zones), procfs.format_buddyinfo(rows),
            {"min_free_kbytes": m.min_free_kbytes})


def test_busy_machine_boots():
    zoneinfo, buddyinfo, ctl = busy_machine_proc()
    m = Machine.from_proc(zoneinfo, buddyinfo, ctl)
    assert m.buddyinfo() == buddyinfo
    assert m.zoneinfo() == zoneinfo
    normal = m.zones[2]
    assert normal.nr_free() == BUSY_NORMAL and len(normal.free_order) == sum(BUSY_NORMAL)
    assert api.alloc_pages(m, gfp.GFP_KERNEL, 4) is not None and m.check_invariants() == []


def test_bytes_and_crlf_boot_the_same_machine():
    want = Machine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, SYSCTLS)
    crlf = {k: v.replace("\n", "\r\n").encode() for k, v in SYSCTLS.items()}
    for zi, bi, ctl in ((REAL_ZONEINFO.encode(), REAL_BUDDYINFO.encode(), SYSCTLS),
                        (REAL_ZONEINFO.replace("\n", "\r\n"),
                         REAL_BUDDYINFO.replace("\n", "\r\n").encode(), crlf)):
        m = Machine.from_proc(zi, bi, ctl)
        assert m.buddyinfo() == want.buddyinfo() and m.zoneinfo() == want.zoneinfo()


def test_malformed_lines_are_reported_not_skipped():
    bad = REAL_BUDDYINFO.replace("   1293 ", "   12x3 ").replace("      0      0", " 0 ? 0", 1)
    with pytest.raises(procfs.ProcParseError) as exc:
        Machine.from_proc(REAL_ZONEINFO, bad, SYSCTLS)
    assert [n for n, _ in exc.value.problems] == [1, 3]
    bad = REAL_ZONEINFO.replace("high     4413", "high     44 13")
    with pytest.raises(procfs.ProcParseError, match="zoneinfo line 34: malformed line '        high"):
        Machine.from_proc(bad, REAL_BUDDYINFO, SYSCTLS)


def test_reserved_pages_after_from_proc_are_reserved_and_held():
    m = Machine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, SYSCTLS)
    printed = {z.zone: z for z in procfs.parse_zoneinfo(REAL_ZONEINFO)}
    for z in m.zones:
        if not z.present_pages:
            continue
        reserved = [p for s, e in z.span.reserved for p in range(s, e)]
        assert len(reserved) == printed[z.name].present - printed[z.name].managed
        for pfn in reserved[:3] + reserved[-3:]:
            page = api.pfn_to_page(m, pfn)
            assert page.reserved and api.page_count(m, page) == 1, (z.name, pfn)
            with pytest.raises(BadPageState, match="PG_reserved"):
                api.__free_pages(m, page, 0)
        for pfn in sorted(z.allocated)[:3]:
            page = api.pfn_to_page(m, pfn)
            assert not page.reserved and api.page_count(m, page) == 1
        for pfn in sorted(z.free_order)[:3]:
            assert api.page_count(m, api.pfn_to_page(m, pfn)) == 0
    dma = m.zones[0]
    assert dma.span.reserved[0][0] == 1 and api.pfn_to_page(m, 1).reserved
