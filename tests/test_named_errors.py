"""Hostile calls get the project's own exceptions with a message that says what was expected,
and leave the machine as it was (issue 13)."""

from __future__ import annotations

import pytest

from kmem.model import Machine, api
from kmem.spec import procfs
from kmem.spec.buddy import (
    combined_pfn,
    combined_pfn_arith,
    find_buddy_pfn,
    find_buddy_pfn_arith,
)
from kmem.spec.errors import InvalidArgument
from kmem.spec.gfp import GFP_KERNEL, gfp_zone, gfp_zone_nodebug, gfp_zone_plain, zonelist
from kmem.spec.zones import X86_64_CONFIG, ZoneType


@pytest.mark.parametrize("fn", [api.get_zeroed_page, api.__get_free_page])
@pytest.mark.parametrize("bad", ["x", None, 1.5, -1, 2**32, True])
def test_page_api_masks(fn, bad):
    m = Machine.generic(64)
    before = m.buddyinfo()
    with pytest.raises(InvalidArgument, match="gfp mask must be an int in 0..0xffffffff"):
        fn(m, bad)
    assert m.buddyinfo() == before and m.dmesg == []


@pytest.mark.parametrize("fn", [api.__get_free_pages, api.__get_dma_pages])
def test_page_api_masks_with_order(fn):
    m = Machine.x86_64(64)
    with pytest.raises(InvalidArgument, match="gfp mask must be an int"):
        fn(m, "GFP_KERNEL", 0)


@pytest.mark.parametrize(("zoneinfo", "buddyinfo", "sysctls", "message"), [
    (None, "", {}, "zoneinfo_text must be the file's contents \\(a str or bytes\\), got "
                   "NoneType"),
    ("", 3, {}, "buddyinfo_text must be the file's contents"),
    ("", "", None, "sysctls must be a mapping"),
    ("", "", [("min_free_kbytes", 1)], "sysctls must be a mapping"),
])
def test_from_proc_inputs(zoneinfo, buddyinfo, sysctls, message):
    with pytest.raises(InvalidArgument, match=message):
        Machine.from_proc(zoneinfo, buddyinfo, sysctls)


def test_procfs_parsers_want_text():
    # bytes are read as the kernel's ASCII (issue 12); anything else is refused
    with pytest.raises(InvalidArgument, match="zoneinfo text must be a str or bytes"):
        procfs.parse_zoneinfo(["Node 0, zone DMA\n"])
    with pytest.raises(InvalidArgument, match="buddyinfo text must be a str or bytes .*, got "
                                              "NoneType"):
        procfs.parse_buddyinfo(None)
    with pytest.raises(InvalidArgument, match="vm.min_free_kbytes text must be a str"):
        procfs.parse_sysctl_ints(5, "vm.min_free_kbytes")


@pytest.mark.parametrize("fn", [gfp_zone, gfp_zone_nodebug, gfp_zone_plain])
@pytest.mark.parametrize("config", [None, "x86_64", 3])
def test_gfp_zone_config(fn, config):
    with pytest.raises(InvalidArgument, match="config must be a ZoneConfig \\(one of kmem.spec"):
        fn(GFP_KERNEL, config)


def test_zonelist_arguments():
    with pytest.raises(InvalidArgument, match="config must be a ZoneConfig"):
        zonelist(None, ZoneType.NORMAL)
    with pytest.raises(InvalidArgument, match="highest must be a ZoneType, got 'NORMAL'"):
        zonelist(X86_64_CONFIG, "NORMAL")


@pytest.mark.parametrize("fn", [find_buddy_pfn, find_buddy_pfn_arith, combined_pfn,
                                combined_pfn_arith])
@pytest.mark.parametrize(("pfn", "order", "message"), [
    (0, -1, "order must be an int in 0..10, got -1"),
    (0, 11, "order must be an int in 0..10, got 11"),
    (0, 1.0, "order must be an int in 0..10, got 1.0"),
    (0, True, "order must be an int in 0..10, got True"),
    (-4, 1, "pfn must be an int >= 0, got -4"),
    ("a", 1, "pfn must be an int >= 0, got 'a'"),
    (None, 1, "pfn must be an int >= 0, got None"),
])
def test_buddy_arithmetic_domain(fn, pfn, order, message):
    with pytest.raises(InvalidArgument, match=message):
        fn(pfn, order)


def test_buddy_arithmetic_still_works():
    assert find_buddy_pfn(8, 3) == 0 and combined_pfn(12, 2) == 8
    assert find_buddy_pfn_arith(8, 3) == 0 and combined_pfn_arith(12, 2) == 8
