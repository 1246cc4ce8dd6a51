"""show_gfp_flags printing, parsing back, old names and era translation (facts 4c, 8b)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmem.spec import gfp
from kmem.spec.errors import InvalidArgument

# --- worked examples and real log lines ---------------------------------------------------


@pytest.mark.parametrize(("mask", "text"), [
    (0xcc0, "GFP_KERNEL"),
    (0xdc0, "GFP_KERNEL|__GFP_ZERO"),
    (0x820, "GFP_ATOMIC"),
    (0x2820, "GFP_ATOMIC|__GFP_NOWARN"),
    (0x100cca, "GFP_HIGHUSER_MOVABLE"),
    (0x140cca, "GFP_HIGHUSER_MOVABLE|__GFP_COMP"),
    (0, "none"),
    # 7.1 log line mode:0xc0de0 (bits printed in bit order in the newest table)
    (0xc0de0, "GFP_KERNEL|__GFP_HIGH|__GFP_ZERO|__GFP_COMP|__GFP_NOMEMALLOC"),
    (0x2800, "GFP_NOWAIT"),
    (0x1c24ca, "GFP_TRANSHUGE"),
    (0x1c20ca, "GFP_TRANSHUGE_LIGHT"),
    (0x400cc0, "GFP_KERNEL_ACCOUNT"),
    (0xc00, "GFP_NOIO"),
    (0x400, "__GFP_DIRECT_RECLAIM"),
    (0x3, "GFP_DMA|__GFP_HIGHMEM"),
])
def test_format_modern(mask, text):
    assert gfp.format_gfp(mask) == text


def test_leftover_bits():
    # no name matched at all: 0x%lx without a leading "|"
    assert gfp.format_gfp(0x200) == "0x200"
    assert gfp.format_gfp(0x80000000) == "0x80000000"
    # after names: "|0x%lx", all leftover bits together
    assert gfp.format_gfp(0xcc0 | 0x200 | 0x1000000) == "GFP_KERNEL|0x1000200"


@pytest.mark.parametrize(("profile", "mask", "text"), [
    # 5.x-era trace (memlatency): 5.x order puts NOWARN before COMP before THISNODE
    ("5.x", 0x342cca, "GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_COMP|__GFP_THISNODE"),
    ("5.x", 0xa20, "GFP_ATOMIC"),
    ("5.x", 0x820, "GFP_NOWAIT|__GFP_HIGH"),
    ("5.x", 0x140dc0, "GFP_USER|__GFP_COMP|__GFP_ZERO"),
    ("6.x", 0xdc0, "GFP_KERNEL|__GFP_ZERO"),  # 6.9-rc7 log line
    ("6.x", 0x140dc0, "GFP_USER|__GFP_COMP|__GFP_ZERO"),
    ("6.x", 0x2800, "GFP_NOWAIT|__GFP_NOWARN"),
    ("6.x", 0x200, "0x200"),
    ("modern", 0x140dc0, "GFP_USER|__GFP_ZERO|__GFP_COMP"),
    # 3.x logs: mode:0xd0, mode:0x10d0 (3.8), mode:0x2080d0 (3.18)
    ("3.x", 0xd0, "GFP_KERNEL"),
    ("3.x", 0x10d0, "GFP_KERNEL|GFP_NORETRY"),
    ("3.x", 0x2080d0, "GFP_KERNEL|GFP_ZERO|GFP_NOTRACK"),
    ("3.x", 0x20 | 0x200 | 0x10000, "GFP_ATOMIC|GFP_NOWARN|GFP_NOMEMALLOC"),
    ("3.x", 0, "GFP_NOWAIT"),
    ("3.x", 0x80, "0x80"),  # the 3.0 table has no entry for __GFP_FS alone
    ("2.6.11", 0xd0, "GFP_KERNEL"),
    ("2.6.11", 0xd2, "GFP_HIGHUSER"),
    ("2.6.11", 0x80d0, "GFP_KERNEL|__GFP_ZERO"),
    ("2.4.0", 0x07, "GFP_KERNEL"),
    ("2.4.0", 0x15, "GFP_HIGHUSER"),
])
def test_format_profiles(profile, mask, text):
    assert gfp.format_gfp(mask, profile) == text
    assert gfp.parse_gfp(text, profile) == mask


def test_newest_and_5x_orders_differ_as_the_facts_say():
    modern = [name for name, _ in gfp.PROFILES["modern"].print_table]
    five = [name for name, _ in gfp.PROFILES["5.x"].print_table]
    assert modern[:14] == ["GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE",
                           "GFP_HIGHUSER", "GFP_USER", "GFP_KERNEL_ACCOUNT", "GFP_KERNEL",
                           "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO", "GFP_NOWAIT", "GFP_DMA",
                           "GFP_DMA32", "__GFP_RECLAIM"]
    singles = [v for name, v in gfp.PROFILES["modern"].print_table[14:]]
    assert singles == sorted(singles)
    assert five.index("__GFP_COMP") < five.index("__GFP_ZERO")
    assert modern.index("__GFP_ZERO") < modern.index("__GFP_COMP")
    assert "__GFP_ATOMIC" in five
    assert "__GFP_ATOMIC" not in [n for n, _ in gfp.PROFILES["6.x"].print_table]


def test_printk_format():
    assert gfp.format_gfp_printk(0) == ""
    assert gfp.format_gfp_printk(0xdc0) == "GFP_KERNEL|__GFP_ZERO"


def test_format_errors():
    with pytest.raises(InvalidArgument, match="unknown gfp profile '4.0'"):
        gfp.format_gfp(0xcc0, "4.0")
    with pytest.raises(InvalidArgument, match="32-bit"):
        gfp.format_gfp(1 << 32)


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "mask"), [
    ("GFP_KERNEL", 0xcc0),
    ("GFP_KERNEL|__GFP_ZERO", 0xdc0),
    (" GFP_KERNEL | __GFP_ZERO ", 0xdc0),
    ("0xcc0", 0xcc0),
    ("0XCC0", 0xcc0),
    ("3264", 0xcc0),
    ("GFP_KERNEL|0x200", 0xec0),
    ("none", 0),
    ("0", 0),
    ("GFP_ZERO", 0x100),  # 2.6.3x-4.5 print style without leading underscores
    ("GFP_KERNEL|GFP_ZERO", 0xdc0),
    ("GFP_ATOMIC|GFP_NOWARN|GFP_NOMEMALLOC", 0x82820),
    ("___GFP_ZERO", 0x100),
    ("__GFP_WAIT", 0x400),  # old name -> __GFP_DIRECT_RECLAIM
    ("GFP_WAIT", 0x400),
    ("__GFP_REPEAT", 0x4000),  # -> __GFP_RETRY_MAYFAIL
    ("GFP_TEMPORARY", 0xcc0),
    ("0xdc0(GFP_KERNEL|__GFP_ZERO)", 0xdc0),  # the kernel's mode:%#x(%pGg) form
    ("0x0()", 0),
])
def test_parse_modern(text, mask):
    assert gfp.parse_gfp(text) == mask


def test_gfp_atomic_keeps_its_composite_meaning():
    # GFP_ATOMIC is a composite: the underscore-less rule must not turn it into __GFP_ATOMIC
    assert gfp.parse_gfp("GFP_ATOMIC") == 0x820
    assert gfp.parse_gfp("GFP_ATOMIC", "5.x") == 0xa20
    assert gfp.parse_gfp("__GFP_ATOMIC", "5.x") == 0x200


@pytest.mark.parametrize(("text", "match"), [
    ("GFP_BOGUS", "unknown gfp flag name 'GFP_BOGUS'"),
    ("", "empty gfp text"),
    ("GFP_KERNEL||__GFP_ZERO", "cannot read ''"),
    ("GFP_KERNEL+1", "cannot read 'GFP_KERNEL\\+1'"),
    ("0xzz", "cannot read '0xzz'"),
    ("__GFP_COLD", "__GFP_COLD does not exist in the modern gfp profile: removed in 4.15"),
    ("GFP_NOTRACK", "__GFP_NOTRACK does not exist.*kmemcheck"),
    ("__GFP_ATOMIC", "removed in 6.3"),
    ("GFP_NO_KSWAPD", "absence of __GFP_KSWAPD_RECLAIM"),
    ("0xcc0(GFP_ATOMIC)", "disagree"),
    ("0x100000000", "32-bit"),
])
def test_parse_errors(text, match):
    with pytest.raises(InvalidArgument, match=match):
        gfp.parse_gfp(text)


def test_parse_rejects_non_str():
    with pytest.raises(InvalidArgument, match="must be a str"):
        gfp.parse_gfp(0xcc0)


def test_parse_old_profiles_own_names():
    assert gfp.parse_gfp("__GFP_WAIT|__GFP_IO|__GFP_FS", "2.6.11") == 0xd0
    assert gfp.parse_gfp("GFP_USER", "2.6.11") == 0xd0
    assert gfp.parse_gfp("GFP_NFS", "2.4.0") == 0x07
    assert gfp.parse_gfp("GFP_HIGH|GFP_WAIT", "3.x") == 0x30
    assert gfp.parse_gfp("GFP_NOWAIT", "3.x") == 0
    with pytest.raises(InvalidArgument, match="unknown gfp flag name '__GFP_ACCOUNT'"):
        gfp.parse_gfp("__GFP_ACCOUNT", "2.6.11")


# --- round trip -----------------------------------------------------------------------------

PROFILE_NAMES = list(gfp.PROFILES)


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_round_trip_every_single_bit(profile):
    for bit in range(32):
        mask = 1 << bit
        assert gfp.parse_gfp(gfp.format_gfp(mask, profile), profile) == mask


@given(st.sampled_from(PROFILE_NAMES), st.integers(0, 2**32 - 1))
def test_round_trip_any_mask(profile, mask):
    assert gfp.parse_gfp(gfp.format_gfp(mask, profile), profile) == mask


@given(st.sampled_from(PROFILE_NAMES), st.data())
def test_round_trip_known_bits(profile, data):
    known = gfp.PROFILES[profile].known_mask
    mask = data.draw(st.integers(0, 2**32 - 1)) & known
    text = gfp.format_gfp(mask, profile)
    if profile != "3.x":  # the 3.0 table leaves __GFP_DMA, __GFP_FS, ... unprinted
        assert "0x" not in text
    assert gfp.parse_gfp(text, profile) == mask


@given(st.integers(0, 2**32 - 1))
def test_printed_names_cover_the_mask_exactly(mask):
    """The printed names are disjoint and together with the leftover give back the mask."""
    text = gfp.format_gfp(mask)
    if mask == 0:
        return
    total = 0
    for part in text.split("|"):
        value = gfp.parse_gfp(part)
        assert total & value == 0
        total |= value
    assert total == mask


# --- decoding and translation ------------------------------------------------------------


def test_decode_and_unknown_bits():
    assert [f.name for f in gfp.decode_gfp(0xdc0)] == [
        "__GFP_IO", "__GFP_FS", "__GFP_ZERO", "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM"]
    assert gfp.unknown_bits(0xcc0 | 0x200 | 0x80000000) == 0x80000200
    assert gfp.unknown_bits(0x200, "5.x") == 0


def test_translate_2611_gfp_kernel():
    # 2.6.11 GFP_KERNEL = __GFP_WAIT|__GFP_IO|__GFP_FS: __GFP_WAIT becomes DIRECT_RECLAIM only
    assert gfp.translate_to_modern(0xd0, "2.6.11") == (0x4c0, ())
    assert gfp.translate_to_modern(0x80d0 | 0x100, "2.6.11") == (0x5c0, ("__GFP_COLD",))
    assert gfp.translate_to_modern(0x10000, "2.6.11") == (0, ("0x10000",))


def test_translate_5x_atomic_and_240():
    assert gfp.translate_to_modern(0xa20, "5.x") == (0x820, ("__GFP_ATOMIC",))
    assert gfp.translate_to_modern(0x07, "2.4.0") == (0x460, ())  # WAIT|HIGH|IO
    assert gfp.translate_to_modern(0x18, "2.4.0") == (0x3, ())  # DMA|HIGHMEM


def test_old_name_aliases_table():
    aliases = gfp.OLD_NAME_ALIASES
    assert aliases["__GFP_WAIT"][0] == "__GFP_DIRECT_RECLAIM"
    assert aliases["__GFP_REPEAT"][0] == "__GFP_RETRY_MAYFAIL"
    for old, (new, note) in aliases.items():
        assert note
        assert new is None or new in gfp.PROFILES["modern"].definitions(), old
