"""Machine.from_proc: boot a model from /proc texts; recompute the printed watermarks."""

import os
import random
from pathlib import Path

import pytest

from kmem.model import Machine, api
from kmem.model.from_proc import PlacementError, place_free_blocks, read_sysctls
from kmem.spec import buddy, gfp, procfs
from kmem.spec.errors import InvalidArgument

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
    with pytest.raises(InvalidArgument, match="unknown sysctl"):
        read_sysctls({"min_free_kbytes": 1, "swappiness": 60})
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
