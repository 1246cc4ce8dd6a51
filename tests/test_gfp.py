"""gfp flag values, gfp_zone, zone fallback, ALLOC_* flags and migratetypes (facts 4a, 4b, 5a, 5d)."""

import random

import pytest

from kmem.spec import alloc_flags as af
from kmem.spec import gfp
from kmem.spec.errors import BadGfpZone, InvalidArgument, KernelBug
from kmem.spec.zones import MINIMAL_CONFIG, X86_32_CONFIG, X86_64_CONFIG, ZONE_CONFIGS, ZoneConfig
from kmem.spec.zones import ZoneType as Z

# --- 4a: every single bit and composite, from the facts table ---------------------------

FLAG_VALUES = {
    "__GFP_DMA": 0x01, "__GFP_HIGHMEM": 0x02, "__GFP_DMA32": 0x04, "__GFP_MOVABLE": 0x08,
    "__GFP_RECLAIMABLE": 0x10, "__GFP_HIGH": 0x20, "__GFP_IO": 0x40, "__GFP_FS": 0x80,
    "__GFP_ZERO": 0x100, "__GFP_DIRECT_RECLAIM": 0x400, "__GFP_KSWAPD_RECLAIM": 0x800,
    "__GFP_WRITE": 0x1000, "__GFP_NOWARN": 0x2000, "__GFP_RETRY_MAYFAIL": 0x4000,
    "__GFP_NOFAIL": 0x8000, "__GFP_NORETRY": 0x10000, "__GFP_MEMALLOC": 0x20000,
    "__GFP_COMP": 0x40000, "__GFP_NOMEMALLOC": 0x80000, "__GFP_HARDWALL": 0x100000,
    "__GFP_THISNODE": 0x200000, "__GFP_ACCOUNT": 0x400000, "__GFP_ZEROTAGS": 0x800000,
}

COMPOSITE_VALUES = {
    "GFP_ATOMIC": 0x820, "GFP_KERNEL": 0xcc0, "GFP_KERNEL_ACCOUNT": 0x400cc0,
    "GFP_NOWAIT": 0x2800, "GFP_NOIO": 0xc00, "GFP_NOFS": 0xc40, "GFP_USER": 0x100cc0,
    "GFP_DMA": 0x01, "GFP_DMA32": 0x04, "GFP_HIGHUSER": 0x100cc2,
    "GFP_HIGHUSER_MOVABLE": 0x100cca, "GFP_TRANSHUGE_LIGHT": 0x1c20ca,
    "GFP_TRANSHUGE": 0x1c24ca, "__GFP_RECLAIM": 0xc00,
}


@pytest.mark.parametrize(("name", "value"), sorted({**FLAG_VALUES, **COMPOSITE_VALUES}.items()))
def test_module_constant_values(name, value):
    assert getattr(gfp, name) == value


def test_modern_profile_tables_match_facts():
    prof = gfp.PROFILES["modern"]
    assert {f.name: f.value for f in prof.flags} == FLAG_VALUES
    assert dict(prof.composites) == COMPOSITE_VALUES
    assert gfp.GFP_ZONEMASK == 0x0f
    # 0x200 (the old __GFP_ATOMIC) is the only hole below __GFP_ZEROTAGS
    assert prof.known_mask == 0xffffff & ~0x200


def test_single_bits_are_distinct_powers_of_two():
    values = list(FLAG_VALUES.values())
    assert len(set(values)) == len(values)
    assert all(v & (v - 1) == 0 for v in values)


def test_config_dependent_bits_are_zero():
    assert gfp.__GFP_SKIP_ZERO == gfp.__GFP_SKIP_KASAN == gfp.__GFP_NOLOCKDEP == 0


def test_6x_profile_differs_only_in_gfp_nowait():
    six = dict(gfp.PROFILES["6.x"].composites)
    modern = dict(gfp.PROFILES["modern"].composites)
    assert six["GFP_NOWAIT"] == 0x800
    assert {k: v for k, v in six.items() if k != "GFP_NOWAIT"} == \
        {k: v for k, v in modern.items() if k != "GFP_NOWAIT"}


def test_old_profile_values():
    p2611 = gfp.PROFILES["2.6.11"].definitions()
    assert p2611["__GFP_WAIT"] == 0x10
    assert p2611["GFP_KERNEL"] == 0xd0
    assert p2611["GFP_ATOMIC"] == 0x20
    assert p2611["GFP_NOFS"] == 0x50
    assert p2611["GFP_HIGHUSER"] == 0xd2
    assert p2611["__GFP_ZERO"] == 0x8000
    assert p2611["__GFP_COMP"] == 0x4000
    p240 = gfp.PROFILES["2.4.0"].definitions()
    assert (p240["__GFP_WAIT"], p240["__GFP_HIGH"], p240["__GFP_IO"], p240["__GFP_DMA"],
            p240["__GFP_HIGHMEM"]) == (0x01, 0x02, 0x04, 0x08, 0x10)
    assert p240["GFP_KERNEL"] == 0x07  # includes __GFP_HIGH
    assert p240["GFP_ATOMIC"] == 0x02
    p3 = gfp.PROFILES["3.x"].definitions()
    assert (p3["GFP_KERNEL"], p3["GFP_ATOMIC"], p3["GFP_NOWAIT"]) == (0xd0, 0x20, 0)
    assert (p3["GFP_USER"], p3["GFP_HIGHUSER"], p3["GFP_HIGHUSER_MOVABLE"]) == \
        (0x200d0, 0x200d2, 0x200da)
    p5 = gfp.PROFILES["5.x"].definitions()
    assert (p5["__GFP_ATOMIC"], p5["GFP_ATOMIC"], p5["GFP_NOWAIT"]) == (0x200, 0xa20, 0x800)


@pytest.mark.parametrize("name", list(gfp.PROFILES))
def test_every_profile_composite_is_made_of_its_flags(name):
    prof = gfp.PROFILES[name]
    for cname, value in prof.composites:
        assert value & ~prof.known_mask == 0, cname


def test_alloc_flag_identities_the_kernel_asserts():
    assert af.ALLOC_MIN_RESERVE == gfp.__GFP_HIGH
    assert af.ALLOC_KSWAPD == gfp.__GFP_KSWAPD_RECLAIM


# --- 4b: GFP_ZONE_TABLE --------------------------------------------------------------------

BAD = {0x3, 0x5, 0x6, 0x7, 0xb, 0xd, 0xe, 0xf}


def _by_hand_table(slots: dict[int, int], shift: int) -> int:
    return sum(zone_idx << (index * shift) for index, zone_idx in slots.items())


def test_zone_table_x86_64_by_hand():
    # x86_64: DMA=0 DMA32=1 NORMAL=2 MOVABLE=3 DEVICE=4; DEVICE and 5-1 <= 4 -> shift 2
    slots = {0x0: 2, 0x1: 0, 0x2: 2, 0x4: 1, 0x8: 2, 0x9: 0, 0xa: 3, 0xc: 1}
    t = gfp.gfp_zone_table(X86_64_CONFIG)
    assert t.shift == 2
    assert t.table == _by_hand_table(slots, 2) == 0x1320122
    assert t.bad == 0xe8e8


def test_zone_table_x86_32_by_hand():
    # x86_32: DMA=0 NORMAL=1 HIGHMEM=2 MOVABLE=3; 4 zones -> ZONES_SHIFT 2
    slots = {0x0: 1, 0x1: 0, 0x2: 2, 0x4: 1, 0x8: 1, 0x9: 0, 0xa: 3, 0xc: 1}
    t = gfp.gfp_zone_table(X86_32_CONFIG)
    assert (t.shift, t.table, t.bad) == (2, _by_hand_table(slots, 2), 0xe8e8)


def test_zone_table_minimal_by_hand():
    # NORMAL=0 MOVABLE=1: every OPT_ZONE_* is NORMAL; only HIGHMEM|MOVABLE is 1
    t = gfp.gfp_zone_table(MINIMAL_CONFIG)
    assert (t.shift, t.table) == (1, 1 << 0xa)


def test_zone_bad_set_is_exact():
    for config in ZONE_CONFIGS.values():
        t = gfp.gfp_zone_table(config)
        assert {i for i in range(16) if t.is_bad(i)} == BAD
        assert all(t.slot(i) == 0 for i in BAD)


@pytest.mark.parametrize(("max_nr", "shift"), [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3)])
def test_zones_shift(max_nr, shift):
    assert gfp.zones_shift(max_nr) == shift


@pytest.mark.parametrize("bad", [0, 9])
def test_zones_shift_rejects(bad):
    with pytest.raises(InvalidArgument, match="MAX_NR_ZONES"):
        gfp.zones_shift(bad)


ALL_SIX = ZoneConfig((Z.DMA, Z.DMA32, Z.NORMAL, Z.HIGHMEM, Z.MOVABLE, Z.DEVICE))
EXTRA_CONFIGS = [
    ZoneConfig((Z.NORMAL, Z.MOVABLE, Z.DEVICE)),  # no DMA at all, with DEVICE
    ZoneConfig((Z.DMA32, Z.NORMAL, Z.MOVABLE)),  # arm64-like: no ZONE_DMA
    ZoneConfig((Z.NORMAL, Z.HIGHMEM, Z.MOVABLE)),  # 32-bit without ZONE_DMA
    ZoneConfig((Z.DMA, Z.DMA32, Z.NORMAL, Z.HIGHMEM, Z.MOVABLE)),
    ALL_SIX,
]
CONFIGS = list(ZONE_CONFIGS.values()) + EXTRA_CONFIGS


def test_gfp_zones_shift_device_exception():
    assert gfp.gfp_zones_shift(X86_64_CONFIG) == 2  # ZONES_SHIFT would be 3
    assert gfp.gfp_zones_shift(ALL_SIX) == 3  # 6 - 1 > 4: no exception
    assert gfp.gfp_zones_shift(EXTRA_CONFIGS[0]) == 2


def test_zone_table_too_wide_for_32bit_long():
    with pytest.raises(InvalidArgument, match="too large"):
        gfp.gfp_zone_table(ALL_SIX, bits_per_long=32)
    assert gfp.gfp_zone_table(ALL_SIX, bits_per_long=64).shift == 3
    with pytest.raises(InvalidArgument, match="BITS_PER_LONG"):
        gfp.gfp_zone_table(X86_32_CONFIG, bits_per_long=16)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_table_and_plain_rules_agree_on_all_indexes(config):
    for index in range(16):
        if index in BAD:
            with pytest.raises(BadGfpZone):
                gfp.gfp_zone(index, config)
            with pytest.raises(BadGfpZone):
                gfp.gfp_zone_plain(index, config)
        else:
            assert gfp.gfp_zone(index, config) == gfp.gfp_zone_plain(index, config)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_table_and_plain_rules_agree_on_random_masks(config):
    rng = random.Random(1234)
    masks = [rng.getrandbits(32) for _ in range(500)] + [0xffffffff, 0xfffffff0]
    for mask in masks:
        try:
            expected = gfp.gfp_zone_plain(mask, config)
        except BadGfpZone:
            with pytest.raises(BadGfpZone):
                gfp.gfp_zone(mask, config)
            continue
        assert gfp.gfp_zone(mask, config) == expected


def test_gfp_zone_facts_rows():
    c = X86_64_CONFIG
    assert gfp.gfp_zone(gfp.GFP_KERNEL, c) is Z.NORMAL
    assert gfp.gfp_zone(gfp.__GFP_MOVABLE, c) is Z.NORMAL  # MOVABLE alone is not ZONE_MOVABLE
    assert gfp.gfp_zone(gfp.GFP_HIGHUSER_MOVABLE, c) is Z.MOVABLE
    assert gfp.gfp_zone(gfp.GFP_HIGHUSER, c) is Z.NORMAL  # no HIGHMEM on 64-bit: OPT_ZONE
    assert gfp.gfp_zone(gfp.GFP_DMA32, c) is Z.DMA32
    assert gfp.gfp_zone(gfp.GFP_DMA | gfp.__GFP_MOVABLE, c) is Z.DMA
    assert gfp.gfp_zone(gfp.GFP_HIGHUSER, X86_32_CONFIG) is Z.HIGHMEM
    assert gfp.gfp_zone(gfp.GFP_DMA32, X86_32_CONFIG) is Z.NORMAL  # no DMA32 on 32-bit
    assert gfp.gfp_zone(gfp.GFP_DMA, MINIMAL_CONFIG) is Z.NORMAL


def test_bad_zone_message_and_nodebug():
    with pytest.raises(BadGfpZone, match=r"gfp_zone\(0xcc5\): zone modifiers "
                                         r"__GFP_DMA\|__GFP_DMA32 \(index 0x5\)"):
        gfp.gfp_zone(gfp.GFP_KERNEL | gfp.__GFP_DMA | gfp.__GFP_DMA32, X86_64_CONFIG)
    assert issubclass(BadGfpZone, KernelBug)
    for config in CONFIGS:
        for index in BAD:
            assert gfp.gfp_zone_nodebug(index, config) == config.zones[0]
        assert gfp.gfp_zone_nodebug(gfp.GFP_KERNEL, config) is Z.NORMAL


@pytest.mark.parametrize("bad", [-1, 2**32, True, 1.0, "0xcc0", None])
def test_mask_validation(bad):
    with pytest.raises(InvalidArgument):
        gfp.gfp_zone(bad, X86_64_CONFIG)
    with pytest.raises(InvalidArgument):
        gfp.gfpflags_allow_blocking(bad)


# --- 5a: zonelists ---------------------------------------------------------------------------


def test_zonelist_examples_from_facts():
    c = X86_64_CONFIG
    assert gfp.zonelist_for_gfp(gfp.GFP_HIGHUSER_MOVABLE, c) == (Z.MOVABLE, Z.NORMAL, Z.DMA32,
                                                                  Z.DMA)
    assert gfp.zonelist_for_gfp(gfp.GFP_KERNEL, c) == (Z.NORMAL, Z.DMA32, Z.DMA)
    assert gfp.zonelist_for_gfp(gfp.GFP_USER, c) == (Z.NORMAL, Z.DMA32, Z.DMA)
    assert gfp.zonelist_for_gfp(gfp.GFP_DMA32, c) == (Z.DMA32, Z.DMA)
    assert gfp.zonelist_for_gfp(gfp.GFP_DMA, c) == (Z.DMA,)
    assert gfp.zonelist_for_gfp(gfp.GFP_HIGHUSER, X86_32_CONFIG) == (Z.HIGHMEM, Z.NORMAL, Z.DMA)


def test_zonelist_skips_unpopulated_and_never_lists_device():
    c = X86_64_CONFIG
    assert gfp.zonelist(c, Z.MOVABLE, populated={Z.DMA, Z.NORMAL}) == (Z.NORMAL, Z.DMA)
    assert gfp.zonelist(c, Z.MOVABLE, populated=()) == ()
    assert Z.DEVICE not in gfp.zonelist(ALL_SIX, Z.MOVABLE)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_zonelist_only_descends(config):
    for highest in config.zones:
        if highest is Z.DEVICE:
            continue
        zl = gfp.zonelist(config, highest)
        idxs = [config.idx(z) for z in zl]
        assert zl[0] is highest
        assert idxs == sorted(idxs, reverse=True)
        assert all(i <= config.idx(highest) for i in idxs)
        assert len(zl) == config.idx(highest) + 1


def test_zonelist_errors():
    with pytest.raises(InvalidArgument, match="ZONE_HIGHMEM is not configured"):
        gfp.zonelist(X86_64_CONFIG, Z.HIGHMEM)
    with pytest.raises(InvalidArgument, match="ZONE_DEVICE is never"):
        gfp.zonelist(X86_64_CONFIG, Z.DEVICE)
    with pytest.raises(InvalidArgument, match="ZoneType"):
        gfp.zonelist(X86_64_CONFIG, Z.NORMAL, populated=["Normal"])
    with pytest.raises(InvalidArgument, match="ZONE_DMA32 is not configured"):
        gfp.zonelist(X86_32_CONFIG, Z.NORMAL, populated=[Z.DMA32])
    with pytest.raises(BadGfpZone):
        gfp.zonelist_for_gfp(0x3, X86_64_CONFIG)


def test_gfp_zonelist():
    assert gfp.gfp_zonelist(gfp.GFP_KERNEL) == gfp.ZONELIST_FALLBACK == 0
    assert gfp.gfp_zonelist(gfp.GFP_KERNEL | gfp.__GFP_THISNODE) == gfp.ZONELIST_NOFALLBACK == 1


# --- migratetype and blocking -------------------------------------------------------------


def test_gfp_migratetype():
    assert gfp.gfp_migratetype(gfp.GFP_KERNEL) == gfp.MIGRATE_UNMOVABLE == 0
    assert gfp.gfp_migratetype(gfp.GFP_HIGHUSER_MOVABLE) == gfp.MIGRATE_MOVABLE == 1
    assert gfp.gfp_migratetype(gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE) == \
        gfp.MIGRATE_RECLAIMABLE == 2
    assert gfp.gfp_migratetype(gfp.GFP_HIGHUSER_MOVABLE, group_by_mobility_disabled=True) == 0
    # both bits: a VM_WARN_ON, not a BUG (see tests/test_fidelity_612.py)
    assert gfp.gfp_migratetype(gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE) == 3


def test_allow_blocking():
    assert gfp.gfpflags_allow_blocking(gfp.GFP_KERNEL)
    assert gfp.gfpflags_allow_blocking(gfp.__GFP_DIRECT_RECLAIM)
    assert not gfp.gfpflags_allow_blocking(gfp.GFP_ATOMIC)
    assert not gfp.gfpflags_allow_blocking(gfp.GFP_NOWAIT)
    assert not gfp.gfpflags_allow_blocking(gfp.GFP_TRANSHUGE_LIGHT)
    assert gfp.gfpflags_allow_blocking(gfp.GFP_TRANSHUGE)


# --- 5d: gfp_to_alloc_flags and __gfp_pfmemalloc_flags ------------------------------------

W_MIN, CPUSET, KSWAPD = af.ALLOC_WMARK_MIN, af.ALLOC_CPUSET, af.ALLOC_KSWAPD
NB, MR, HA, CMA = af.ALLOC_NON_BLOCK, af.ALLOC_MIN_RESERVE, af.ALLOC_HIGHATOMIC, af.ALLOC_CMA


@pytest.mark.parametrize(("mask", "order", "expected"), [
    (gfp.GFP_KERNEL, 0, W_MIN | CPUSET | KSWAPD),
    (gfp.GFP_KERNEL, 3, W_MIN | CPUSET | KSWAPD),
    (gfp.GFP_ATOMIC, 0, W_MIN | MR | KSWAPD | NB),  # cpuset dropped
    (gfp.GFP_ATOMIC, 2, W_MIN | MR | KSWAPD | NB | HA),
    (gfp.GFP_NOWAIT, 0, W_MIN | CPUSET | KSWAPD | NB),  # no MIN_RESERVE: keeps cpuset
    # no ALLOC_HIGHATOMIC without __GFP_HIGH (6.17, 6.12.y: commit 6a204d4b14c9)
    (gfp.GFP_NOWAIT, 1, W_MIN | CPUSET | KSWAPD | NB),
    (gfp.GFP_ATOMIC | gfp.__GFP_NOMEMALLOC, 1, W_MIN | MR | KSWAPD),
    (0, 0, W_MIN | CPUSET | NB),
    (gfp.GFP_HIGHUSER_MOVABLE, 0, W_MIN | CPUSET | KSWAPD | CMA),
    (gfp.GFP_TRANSHUGE_LIGHT, 9, W_MIN | CPUSET | CMA),  # NOMEMALLOC: no NON_BLOCK
    (gfp.GFP_KERNEL | gfp.__GFP_HIGH, 0, W_MIN | CPUSET | KSWAPD | MR),
])
def test_gfp_to_alloc_flags(mask, order, expected):
    assert gfp.gfp_to_alloc_flags(mask, order) == expected


def test_gfp_to_alloc_flags_rt_task_and_cma():
    assert gfp.gfp_to_alloc_flags(gfp.GFP_KERNEL, 0, rt_task=True) & MR
    assert not gfp.gfp_to_alloc_flags(gfp.GFP_KERNEL, 0, rt_task=True, in_task=False) & MR
    # the rt rule is the else branch: a non-blocking request does not get it
    assert not gfp.gfp_to_alloc_flags(gfp.GFP_NOWAIT, 0, rt_task=True) & MR
    assert not gfp.gfp_to_alloc_flags(gfp.GFP_HIGHUSER_MOVABLE, 0, cma=False) & CMA
    assert not gfp.gfp_to_alloc_flags(gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE | gfp.GFP_KERNEL,
                                      0) & CMA


@pytest.mark.parametrize("order", [-1, 11, True, 1.5])
def test_gfp_to_alloc_flags_bad_order(order):
    with pytest.raises(InvalidArgument, match="order must be"):
        gfp.gfp_to_alloc_flags(gfp.GFP_KERNEL, order)


def test_gfp_pfmemalloc_flags():
    f = gfp.gfp_pfmemalloc_flags
    NOWM, OOM = af.ALLOC_NO_WATERMARKS, af.ALLOC_OOM
    assert f(gfp.GFP_KERNEL) == 0
    assert f(gfp.GFP_KERNEL | gfp.__GFP_MEMALLOC) == NOWM
    assert f(gfp.GFP_KERNEL | gfp.__GFP_MEMALLOC | gfp.__GFP_NOMEMALLOC) == 0
    assert f(gfp.GFP_KERNEL | gfp.__GFP_NOMEMALLOC, pf_memalloc=True) == 0
    assert f(gfp.GFP_KERNEL, pf_memalloc=True) == NOWM
    assert f(gfp.GFP_ATOMIC, pf_memalloc=True, in_interrupt=True) == 0
    assert f(gfp.GFP_ATOMIC, pf_memalloc=True, in_serving_softirq=True) == NOWM
    assert f(gfp.GFP_KERNEL, oom_victim=True) == OOM
    assert f(gfp.GFP_KERNEL, oom_victim=True, in_interrupt=True) == 0
    assert f(gfp.GFP_KERNEL, oom_victim=True, in_serving_softirq=True) == 0
    assert f(gfp.GFP_KERNEL, oom_victim=True, pf_memalloc=True) == NOWM
