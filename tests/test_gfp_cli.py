"""``kmem gfp MASK``."""

from kmem.cli import main


def run(capsys, *argv):
    rc = main(["gfp", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_gfp_kernel(capsys):
    rc, out, err = run(capsys, "0xcc0")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "mask: 0xcc0 (modern numbering)"
    assert lines[1] == "printed: GFP_KERNEL"
    assert "  0x00000400 __GFP_DIRECT_RECLAIM   may enter direct reclaim, i.e. may sleep " \
           "(was __GFP_WAIT)" in lines
    assert "gfp_zone[x86_64]: ZONE_NORMAL (zone index 2)" in lines
    assert "  fallback: Normal -> DMA32 -> DMA" in lines
    assert "gfp_zone[x86_32]: ZONE_NORMAL (zone index 1)" in lines
    assert "  fallback: Normal -> DMA" in lines
    assert "alloc_flags (order 0): 0x840 ALLOC_WMARK_MIN|ALLOC_CPUSET|ALLOC_KSWAPD" in lines
    assert "migratetype: 0 MIGRATE_UNMOVABLE" in lines
    assert lines[-1] == "may block: yes (__GFP_DIRECT_RECLAIM)"


def test_symbolic_mask_and_config(capsys):
    rc, out, _ = run(capsys, "GFP_HIGHUSER_MOVABLE|__GFP_COMP", "--config", "x86_32",
                     "--order", "3")
    assert rc == 0
    assert "printed: GFP_HIGHUSER_MOVABLE|__GFP_COMP" in out
    assert "gfp_zone[x86_32]: ZONE_MOVABLE (zone index 3)" in out
    assert "  fallback: Movable -> HighMem -> Normal -> DMA" in out
    assert "x86_64" not in out
    assert "alloc_flags (order 3): 0x8c0 " in out
    assert "migratetype: 1 MIGRATE_MOVABLE" in out


def test_atomic_cannot_block(capsys):
    rc, out, _ = run(capsys, "GFP_ATOMIC", "--order", "1")
    assert rc == 0
    assert "alloc_flags (order 1): 0xa30 " in out  # NON_BLOCK|MIN_RESERVE|HIGHATOMIC|KSWAPD
    assert "may block: no (no __GFP_DIRECT_RECLAIM)" in out


def test_bad_zone_is_reported_not_fatal(capsys):
    rc, out, _ = run(capsys, "__GFP_DMA|__GFP_DMA32")
    assert rc == 0
    assert "gfp_zone[x86_64]: BAD: gfp_zone(0x5): zone modifiers __GFP_DMA|__GFP_DMA32" in out
    assert "  without CONFIG_DEBUG_VM: ZONE_DMA (zone index 0)" in out


def test_bad_migratetype_reported(capsys):
    rc, out, _ = run(capsys, "0x18")
    assert rc == 0
    assert "migratetype: 3 MIGRATE_HIGHATOMIC (WARNING: __GFP_MOVABLE and __GFP_RECLAIMABLE" in out


def test_unknown_bits_listed(capsys):
    rc, out, _ = run(capsys, "0x80000cc0")
    assert rc == 0
    assert "printed: GFP_KERNEL|0x80000000" in out
    assert "  0x80000000 (unknown bits)         no name in the modern profile" in out


def test_old_profile(capsys):
    rc, out, _ = run(capsys, "0xd0", "--profile", "2.6.11")
    assert rc == 0
    assert "mask: 0xd0 (2.6.11 numbering)" in out
    assert "printed: GFP_KERNEL  (kmem's table: this kernel had no gfp printer)" in out
    assert "  0x00000010 __GFP_WAIT " in out
    assert "modern equivalent: 0x4c0 __GFP_IO|__GFP_FS|__GFP_DIRECT_RECLAIM" in out


def test_old_profile_dropped_bits(capsys):
    rc, out, _ = run(capsys, "GFP_ATOMIC", "--profile", "5.x")
    assert rc == 0
    assert "mask: 0xa20 (5.x numbering)" in out
    assert "modern equivalent: 0x820 GFP_ATOMIC (dropped: __GFP_ATOMIC)" in out


def test_invalid_text_exits_2(capsys):
    rc, out, err = run(capsys, "GFP_BOGUS")
    assert rc == 2 and out == ""
    assert err == ("kmem gfp: error: unknown gfp flag name 'GFP_BOGUS' in the modern profile; "
                   "expected a GFP_*/__GFP_* name, a number such as 0xcc0, or 'none'\n")


def test_invalid_order_exits_2(capsys):
    rc, _, err = run(capsys, "0xcc0", "--order", "11")
    assert rc == 2
    assert "order must be an int in 0..10" in err
