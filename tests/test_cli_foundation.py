"""kmem demo / buddyinfo / zoneinfo."""

from kmem.cli import main
from kmem.model import Machine


def test_demo(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "A = alloc_pages(order 0) -> pfn 0" in out
    assert "free_area[5]  nr_free 1   pfns [0]" in out
    assert "policy 'lowest' would take pfn 0" in out
    assert "buddy invariants: all hold" in out
    assert out.rstrip().endswith(Machine.generic(32).buddyinfo().rstrip())


def test_demo_lowest_policy_and_size(capsys):
    assert main(["demo", "--pages", "64", "--policy", "lowest"]) == 0
    assert "A zone of 64 pages" in capsys.readouterr().out


def test_buddyinfo_presets(capsys):
    assert main(["buddyinfo", "--preset", "x86_32", "--mem-mb", "1024"]) == 0
    out = capsys.readouterr().out
    assert out == Machine.x86_32(1024).buddyinfo()
    assert out.splitlines()[2].startswith("Node 0, zone  HighMem ")


def test_zoneinfo_preset(capsys):
    assert main(["zoneinfo", "--preset", "x86_64", "--mem-mb", "8192",
                 "--min-free-kbytes", "8192"]) == 0
    out = capsys.readouterr().out
    assert out == Machine.x86_64(8192, min_free_kbytes=8192).zoneinfo()
    assert "protection: (0, " in out


def test_from_proc_missing_dir(capsys, tmp_path):
    assert main(["buddyinfo", "--from-proc", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err
