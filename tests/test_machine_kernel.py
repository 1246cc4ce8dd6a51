"""A machine models one kernel version: ``Machine(..., kernel=)`` and ``--kernel``."""

from __future__ import annotations

import pytest

from kmem.cli import main
from kmem.model import Machine
from kmem.spec import kernel as kernel_spec
from kmem.spec.errors import InvalidArgument


def test_default_machine_models_the_newest_kernel():
    m = Machine.generic(1024)
    assert m.kernel == kernel_spec.kernel(None)
    assert str(m.kernel.version) == kernel_spec.NEWEST + ".0"
    assert m.path_era is None  # no whole path without migratetypes


@pytest.mark.parametrize(("version", "era"), [("6.1", "6.1"), ("6.1.192", "6.1"),
                                              ("6.12.118", "6.12"), ("6.18", "6.12")])
def test_path_era(version, era):
    m = Machine.x86_64(256, kernel=version, policy="linux", migratetypes=True, nr_cpus=1)
    assert m.path_era == era
    assert m.kernel.pcp_auto_tune is (era == "6.12")  # 6.7: "mm: tune PCP high automatically"
    assert all(z.era == era for z in m.zones)
    assert m.kernel.version == kernel_spec.parse_version(version)


@pytest.mark.parametrize("version", ["6.6", "5.10", "4.19"])
def test_whole_path_of_an_unmodelled_kernel_is_refused(version):
    with pytest.raises(kernel_spec.UnknownKernel, match="6.1 series"):
        Machine.x86_64(256, kernel=version, policy="linux", migratetypes=True)
    Machine.x86_64(256, kernel=version)  # the bare buddy core needs no path rules


@pytest.mark.parametrize("bad", ["six", 6.1, True])
def test_bad_kernel_is_refused(bad):
    with pytest.raises(InvalidArgument):
        Machine.generic(1024, kernel=bad)


def test_cli_kernel_option(capsys):
    assert main(["zoneinfo", "--kernel", "6.12", "--cpus", "1", "--mem-mb", "256"]) == 0
    old = capsys.readouterr().out
    assert "              count: 0\n" in old and "high_min" not in old
    assert main(["zoneinfo", "--cpus", "1", "--mem-mb", "256"]) == 0
    assert "              high_min: " in capsys.readouterr().out
    assert main(["zoneinfo", "--kernel", "4.19.0-17-amd64", "--mem-mb", "256"]) == 0
    assert "promo" not in capsys.readouterr().out
    assert main(["zoneinfo", "--kernel", "5.10", "--migratetypes", "--mem-mb", "256"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kmem zoneinfo: error: ") and "6.1 series" in err
    assert main(["pagetypeinfo", "--mem-mb", "256"]) == 0
    assert "CMA" not in capsys.readouterr().out
    assert main(["pagetypeinfo", "--mem-mb", "256", "--cma"]) == 0
    assert "CMA" in capsys.readouterr().out


def test_a_61_machine_reads_and_prints_masks_in_61s_numbering():
    # 6.1.192 include/linux/gfp_types.h:334: GFP_ATOMIC = __GFP_HIGH|__GFP_ATOMIC|
    # __GFP_KSWAPD_RECLAIM = 0xa20 (___GFP_ATOMIC 0x200, line 36); warn_alloc prints the mask
    # with that kernel's table
    from kmem.spec import gfp

    defs = gfp.get_profile(kernel_spec.kernel("6.1").gfp_profile).definitions()
    assert defs["GFP_ATOMIC"] == 0xa20
    m = Machine.generic(64, kernel="6.1", min_free_kbytes=0)
    while m.alloc_pages(defs["GFP_ATOMIC"]):
        pass
    assert "mode:0xa20(GFP_ATOMIC)" in m.dmesg[-1]
    m = Machine.generic(64, min_free_kbytes=0)
    while m.alloc_pages(gfp.GFP_ATOMIC):
        pass
    assert "mode:0x820(GFP_ATOMIC)" in m.dmesg[-1]
