"""The running kernel's /proc/slabinfo against the model: every kmalloc cache this kernel
lists has the size, objects per slab and pages per slab SLUB's rules give for this
machine's CPU count, and the caches come in the same order (newest first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmem.model import Machine
from kmem.spec import slab as S


def _cpu_count(path: str) -> int:
    """Count a /sys cpu list such as ``0-1,4``."""
    n = 0
    for part in Path(path).read_text().strip().split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


@pytest.mark.live
def test_kmalloc_geometry_matches_this_kernel():
    try:
        text = Path("/proc/slabinfo").read_text()
        present = _cpu_count("/sys/devices/system/cpu/present")
        possible = _cpu_count("/sys/devices/system/cpu/possible")
    except OSError as exc:
        pytest.skip(f"cannot read the live files: {exc}")
    live = {r.name: r for r in S.parse_slabinfo(text)}
    if "kmalloc-8" not in live or live["kmalloc-8"].objsize != 8:
        pytest.skip("not a SLUB kernel with 8-byte kmalloc objects (debugging on, or SLAB)")
    # calculate_order: num_present_cpus(), or nr_cpu_ids when that says 1
    cpus = present if present > 1 else possible
    m = Machine.x86_64(64, slab_cpus=cpus)
    model = [c for c in m.slab_allocator.listed_caches() if c.is_kmalloc]
    both = [c for c in model if c.name in live]
    assert len(both) >= 13
    for c in both:
        row = live[c.name]
        assert (row.objsize, row.objperslab, row.pagesperslab) == \
            (c.size, c.num, 1 << c.order), c.name
    order = [n for n in live if n in {c.name for c in both}]
    assert order == [c.name for c in both]


@pytest.mark.live
def test_slabinfo_text_is_the_kernels_byte_for_byte():
    try:
        text = Path("/proc/slabinfo").read_text()
    except OSError as exc:
        pytest.skip(f"cannot read /proc/slabinfo: {exc}")
    if "(statistics)" in text.splitlines()[0]:
        pytest.skip("a SLAB kernel with statistics columns")
    rows = S.parse_slabinfo(text)
    assert S.format_slabinfo(rows) == text
