"""The release where each whole-path rule of spec/kernel.py changes, pinned on both sides
of its boundary (the release history named in each property's docstring: the commit that
made the change and the first release carrying it)."""

from __future__ import annotations

import pytest

from kmem.spec.kernel import UnknownKernel, kernel


@pytest.mark.parametrize(("version", "era"), [
    ("6.1", "6.1"), ("6.1.192", "6.1"), ("6.12", "6.12"), ("6.12.118", "6.12"),
    ("6.13", "6.12"), ("6.18.44", "6.12")])
def test_path_era(version, era):
    """Debian's 6.1.192 for the 6.1 series, 6.12.118 (with the 6.15 claim/steal
    backport) from 6.12 on."""
    assert kernel(version).path_era == era


@pytest.mark.parametrize("version", ["6.0", "6.2", "6.6", "6.11", "5.15", "4.19"])
def test_path_era_of_an_unmodelled_series_is_refused(version):
    with pytest.raises(UnknownKernel, match="6.1"):
        _ = kernel(version).path_era


@pytest.mark.parametrize(("prop", "first"), [
    ("pcp_auto_tune", "6.7"),                 # "mm: tune PCP high automatically"
    ("zoneinfo_pcp_high_min_max", "6.13"),    # "mm: add pcp high_min high_max to proc zoneinfo"
])
def test_pcp_boundaries(prop, first):
    major, minor = map(int, first.split("."))
    assert getattr(kernel(f"{major}.{minor - 1}"), prop) is False
    assert getattr(kernel(first), prop) is True
    assert getattr(kernel(f"{major}.{minor + 1}"), prop) is True


def test_debian_config_init_on_alloc_from_5_3():
    """CONFIG_INIT_ON_ALLOC_DEFAULT_ON appeared in 5.3 (Debian sets it); CONFIG_CMA is unset
    in Debian's amd64 configs."""
    assert kernel("5.2").debian_config.init_on_alloc is False
    assert kernel("5.3").debian_config.init_on_alloc is True
    assert kernel("6.12").debian_config.cma is False and kernel("6.1").debian_config.cma is False


@pytest.mark.parametrize(("field", "first"), [
    ("managed", "3.8"), ("node_unreclaimable", "4.8"), ("boost", "5.0"), ("cma", "5.12"),
    ("promo", "6.1")])
def test_zoneinfo_field_boundaries(field, first):
    major, minor = map(int, first.split("."))
    before = f"{major}.{minor - 1}" if minor else {"5": "4.20", "3": "2.6.39"}[str(major)]
    assert field not in kernel(before).zoneinfo_fields
    assert field in kernel(first).zoneinfo_fields


def test_zoneinfo_before_and_from_2_6_13():
    with pytest.raises(UnknownKernel, match="2.6.13"):
        _ = kernel("2.6.12").zoneinfo_fields
    fields = kernel("2.6.13").zoneinfo_fields
    assert {"free", "min", "low", "high", "spanned", "present", "protection", "start_pfn",
            "all_unreclaimable", "nr_free_pages"} == fields
    assert "all_unreclaimable" in kernel("4.7").zoneinfo_fields
    assert "node_unreclaimable" not in kernel("4.7").zoneinfo_fields


@pytest.mark.parametrize(("name", "before", "first"), [
    ("DMA32", "2.6.14", "2.6.15"), ("Movable", "2.6.22", "2.6.23"), ("Device", "4.5", "4.6")])
def test_zone_boundaries(name, before, first):
    assert not kernel(before).has_zone(name) and kernel(first).has_zone(name)
    assert kernel("2.6.11").has_zone("Normal") and kernel("2.6.11").has_zone("HighMem")


def test_start_pfn_spacing_widens_in_4_8():
    assert kernel("4.7").start_pfn_spacing == " " * 9
    assert kernel("4.8").start_pfn_spacing == " " * 11


@pytest.mark.parametrize(("version", "fmt"), [
    ("2.6.23", "none"), ("2.6.24", "reserve"), ("4.3", "reserve"), ("4.4", "uncapped"),
    ("5.3", "uncapped"), ("5.4", "capped"), ("6.12", "capped")])
def test_pagetypeinfo_format(version, fmt):
    assert kernel(version).pagetypeinfo_format == fmt


def test_migratetype_names_by_release_and_config():
    """migratetype_names[] (mm/page_alloc.c): "Reserve" until 4.3, "HighAtomic" from 4.4;
    CMA from 3.5, Isolate from 2.6.35 when configured."""
    assert kernel("2.6.34").migratetype_names() == ("Unmovable", "Reclaimable", "Movable",
                                                    "Reserve")
    assert kernel("2.6.35").migratetype_names()[-1] == "Isolate"
    assert kernel("3.4").migratetype_names() == ("Unmovable", "Reclaimable", "Movable",
                                                 "Reserve", "Isolate")
    assert kernel("3.5").migratetype_names() == ("Unmovable", "Reclaimable", "Movable",
                                                 "Reserve", "CMA", "Isolate")
    assert kernel("6.12").migratetype_names(cma=False) == ("Unmovable", "Movable",
                                                           "Reclaimable", "HighAtomic",
                                                           "Isolate")
    assert kernel("6.12").migratetype_names(isolate=False) == ("Unmovable", "Movable",
                                                               "Reclaimable", "HighAtomic",
                                                               "CMA")
    with pytest.raises(UnknownKernel, match="2.6.24"):
        kernel("2.6.23").migratetype_names()


def test_kernel_of_none_is_the_newest_and_a_kernel_passes_through():
    k = kernel("6.12.118")
    assert kernel(k) is k
    assert kernel(None).version.at_least("6.12")
