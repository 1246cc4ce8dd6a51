"""The slab commands: kmem kmalloc, kmem slabinfo, kmem slab --svg."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from kmem.cli import main
from kmem.spec import slab as S


def test_kmalloc_explains_the_class(capsys):
    assert main(["kmalloc", "100"]) == 0
    out = capsys.readouterr().out
    assert "kmalloc_size_index[(100 - 1) / 8 = 12] = 7" in out
    assert "=> cache kmalloc-128" in out
    assert main(["kmalloc", "640", "--gfp", "GFP_KERNEL|__GFP_ACCOUNT"]) == 0
    assert "=> cache kmalloc-cg-1k" in capsys.readouterr().out
    assert main(["kmalloc", "9000"]) == 0
    assert "order 2" in capsys.readouterr().out
    assert main(["kmalloc", "0"]) == 0
    assert "ZERO_SIZE_PTR" in capsys.readouterr().out
    assert main(["kmalloc", str(S.KMALLOC_MAX_SIZE + 1)]) == 0
    assert "=> NULL" in capsys.readouterr().out
    assert main(["kmalloc", "40", "--allocator", "slab", "--gfp", "GFP_DMA"]) == 0
    assert "=> cache size-64(DMA)" in capsys.readouterr().out



def test_bad_numbers_are_usage_errors(kmem_cli):
    r = kmem_cli("kmalloc", "x")
    assert r.returncode == 2 and "cannot read SIZE 'x'" in r.stderr
    r = kmem_cli("slab", "--objects", "-1")
    assert r.returncode == 2 and "--objects must be at least 0" in r.stderr


def test_slabinfo_command(capsys):
    assert main(["slabinfo", "--alloc", "100x40", "--nonzero"]) == 0
    rows = S.parse_slabinfo(capsys.readouterr().out)
    assert [(r.name, r.active_objs, r.num_slabs) for r in rows] == [("kmalloc-128", 64, 2)]
    assert main(["slabinfo", "--allocator", "slab", "--alloc", "100x40", "--nonzero"]) == 0
    rows = S.parse_slabinfo(capsys.readouterr().out)
    assert [(r.name, r.num_objs, r.limit) for r in rows] == [("size-128", 62, 120)]
    assert main(["slabinfo", "--alloc", "bad"]) == 2
    assert main(["slabinfo", "--alloc", "0x40x2", "--nonzero"]) == 0
    assert [(r.name, r.active_objs) for r in S.parse_slabinfo(capsys.readouterr().out)] == \
        [("kmalloc-64", 64)]


def test_slab_picture(tmp_path, capsys):
    out = tmp_path / "slab.svg"
    assert main(["slab", "--allocator", "slab", "--free-first", "14", "--drain", "--svg",
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert "slabs_full" in text and "slabs_free: 3 slab(s)" in text and "colour +128" in text
    root = ET.fromstring(out.read_text())
    assert root.tag.endswith("svg") and len(root) > 20
    assert main(["slab", "--svg", str(tmp_path / "slub.svg")]) == 0
    text = capsys.readouterr().out
    assert "node partial list" in text and "CPU slab (c->slab): 1 slab(s)" in text
    assert main(["slab", "--allocator", "slab"]) == 0
    text = capsys.readouterr().out  # without --drain: 13 freed + 2 refilled wait there
    assert "per-CPU array: 15 of 54 entries" in text and "c" in text.split("slabs_full")[1]
