"""`kmem conform --kernel 2.6.11 --source DIR`: 2.6.11's own page allocator, extracted by
name from a 2.6.11 tree and compiled against kmem's shim, agrees with Machine2611 after
every operation; planted one-line changes in the extracted text are caught.

The tests that need the tree read it from ``$KMEM_2611_SOURCE`` and skip without it (CI has
no 2.6.11 tree; docs/conform.md says how to get one). The messages for a missing or wrong
tree are tested everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmem.fuzz.cbuild import compiler
from kmem.fuzz.conform import v2611

SOURCE = os.environ.get("KMEM_2611_SOURCE")


def _tree() -> Path:
    if not SOURCE:
        pytest.skip("no 2.6.11 tree: set KMEM_2611_SOURCE to an unpacked linux-2.6.11 tree")
    if compiler() is None:
        pytest.skip("no C compiler")
    return Path(SOURCE)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmem", "conform", *args],
                          capture_output=True, text=True, timeout=600)


def test_missing_source_says_how_to_get_a_tree():
    r = _cli("--kernel", "2.6.11")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kmem conform: error: ")
    assert "--source DIR" in lines[0] and "linux-2.6.11.tar" in lines[0]
    assert "Traceback" not in r.stderr


def test_a_tree_of_another_version_is_refused(tmp_path: Path):
    (tmp_path / "Makefile").write_text("VERSION = 2\nPATCHLEVEL = 6\nSUBLEVEL = 12\n")
    r = _cli("--kernel", "2.6.11", "--source", str(tmp_path))
    assert r.returncode == 2 and "is Linux 2.6.12, not 2.6.11" in r.stderr


def test_a_tree_without_a_function_names_it(tmp_path: Path):
    (tmp_path / "Makefile").write_text("VERSION = 2\nPATCHLEVEL = 6\nSUBLEVEL = 11\n")
    for f in ("mm/page_alloc.c", "lib/int_sqrt.c", "kernel/printk.c"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("int sysctl_lowmem_reserve_ratio[2] = { 256, 32 };\n")
    with pytest.raises(v2611.Conform2611Error, match="zone_table not found"):
        v2611.extract_2611(tmp_path)


def test_stream_configs_cover_odd_and_unaligned_zones():
    cfgs = [v2611.stream_config(s) for s in range(50)]
    assert any(c.sizes[0] % 1024 for c in cfgs)  # Normal starts off a MAX_ORDER boundary
    assert any(c.sizes[2] == 0 for c in cfgs) and any(c.ncpus > 1 for c in cfgs)
    assert any(sum(c.sizes) < 1000 for c in cfgs) and any(c.reserved[1] > c.reserved[0]
                                                           for c in cfgs)
    assert all(c.sizes[0] % 32 == 0 for c in cfgs)


@pytest.mark.slow
def test_2611_code_agrees_with_the_model(tmp_path: Path):
    h = v2611.build_harness_2611(_tree(), tmp_path)
    a = v2611.conform_2611(h, seed=0, streams=5, ops=3000)
    assert a.agrees, a.divergence
    assert a.pfns == a.pfns_agree > 1000 and a.states == a.states_agree
    for event in ("alloc failed", "alloc would loop", "drain", "free cold", "free order > 0",
                  "time passes", "log: allocation failure", "log: messages suppressed"):
        assert a.events.get(event, 0) > 0, (event, a.events)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(v2611.planted_bugs()))
def test_planted_bugs_are_caught(tmp_path: Path, bug: str):
    old, new = v2611.planted_bugs()[bug]
    h = v2611.build_harness_2611(_tree(), tmp_path, patch=v2611.patcher(old, new))
    a = v2611.conform_2611(h, seed=0, streams=5, ops=3000)
    assert not a.agrees, f"planted bug not caught: {bug}"
