"""`kmem conform` for the whole allocation path: the kernel's own functions (pageblock bits,
fallbacks[], __rmqueue with its claim/steal or fallback functions, the highatomic reserve,
rmqueue_buddy, the per-CPU lists, drain_pages_zone, decay_pcp_high, the pageset sizing),
extracted by name from a kernel tree and compiled against kmem's shim, agree with
MtZone after every operation; bugs planted in the kernel's text are caught; a tree of an
unknown shape is refused. The kernel tests are `slow` (CI runs them) and skip when the
package cannot be fetched or no compiler is present."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

from kmem.fuzz.cbuild import compiler
from kmem.fuzz.conform import ConformError, ShapeError, cache_dir, fetch_deb, tree_version
from kmem.fuzz.conform.extract import extract_enum, extract_variable, parameters
from kmem.fuzz.conform.path import (
    PathAgreement,
    StreamConfig,
    build_path_harness,
    conform_path,
    directed_claim_steal,
    directed_merge_refused,
    directed_unreserve_to_highatomic,
    extract_path,
    path_run,
    unpack_path_sources,
)

SAMPLE = """\
static int fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1] = {
\t[MIGRATE_UNMOVABLE]   = { MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE   },
};
int use(void) { return fallbacks[0][0]; }
enum rmqueue_mode {
\tRMQUEUE_NORMAL,
\tRMQUEUE_CMA, /* } */
};
static int nr_pcp_high(struct per_cpu_pages *pcp, struct zone *zone,
\t\t       int batch, bool free_high)
{
\treturn 0;
}
"""


def test_extract_tables_enums_and_parameter_lists():
    table = extract_variable(SAMPLE, "fallbacks")
    assert table is not None and table.startswith("static int fallbacks[") and table.endswith("};")
    assert "use(void)" not in table
    enum = extract_enum(SAMPLE, "rmqueue_mode")
    assert enum is not None and enum.endswith("};") and "RMQUEUE_CMA" in enum
    assert extract_variable(SAMPLE, "missing") is None and extract_enum(SAMPLE, "x") is None
    from kmem.fuzz.conform.extract import extract_function
    fn = extract_function(SAMPLE, "nr_pcp_high")
    assert fn is not None
    assert parameters(fn) == ("struct per_cpu_pages *pcp", "struct zone *zone", "int batch",
                              "bool free_high")


def test_tree_version_is_read_from_the_makefile(tmp_path):
    (tmp_path / "Makefile").write_text("# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\n"
                                       "EXTRAVERSION =\nNAME = Baby Opossum Posse\n")
    assert tree_version(tmp_path) == (6, 12, 118)
    with pytest.raises(ConformError, match="Makefile"):
        tree_version(tmp_path / "nowhere")
    (tmp_path / "Makefile").write_text("VERSION = 6\n")
    with pytest.raises(ConformError, match="PATCHLEVEL"):
        tree_version(tmp_path)


def _tree(version: str) -> Path:
    if compiler() is None:
        pytest.skip("no C compiler")
    try:
        deb = fetch_deb(version, cache_dir(), log=lambda _line: None)
        return unpack_path_sources(deb, version, cache_dir(), log=lambda _line: None)
    except ConformError as exc:
        pytest.skip(f"linux-source-{version} cannot be fetched here: {exc}")


def _harness(version: str, **kwargs):
    _tree(version)
    return build_path_harness(version, log=lambda _line: None, **kwargs)


def _events(a: PathAgreement) -> set[str]:
    return {name for name, n in a.events.items() if n}


@pytest.mark.slow
def test_the_whole_path_of_6_12_agrees_with_kmem():
    """Random streams (every migratetype, orders 0..10, HIGHATOMIC/OOM/NON_BLOCK/
    NOFRAGMENT/KSWAPD, frees from every CPU, drains, decays, unreserves) and the directed
    streams, pcp lists on, zones with a partial last pageblock: every returned pfn and
    every state equal; the kernel took the rare branches."""
    harness = _harness("6.12")
    assert harness.kernel.shape.name == "6.12" and len(harness.kernel.sha256) == 64
    assert {"__rmqueue_claim", "__rmqueue_steal", "decay_pcp_high", "nr_pcp_high",
            "free_unref_page_commit", "fallbacks", "rmqueue_mode"} <= set(harness.kernel.names)
    a = conform_path(harness, seeds=2, ops=2500, sizes=(66_000, 33_000), ncpus=(1, 2),
                     invariants=25)
    assert a.agrees, "\n".join(a.divergence)
    assert a.states == a.ops + a.runs and a.allocs > 2000
    assert {"claim", "steal", "highatomic reserve", "highatomic unreserve",
            "pcp drained at the high mark", "decay changed a pageset",
            "merge refused at pageblock order (HIGHATOMIC and UNMOVABLE)"} <= _events(a)


@pytest.mark.slow
def test_pcp_off_the_buddy_path_of_6_12_agrees():
    harness = _harness("6.12")
    a = conform_path(harness, seeds=1, ops=2000, sizes=(16_500,), pcp=False, directed=False)
    assert a.agrees, "\n".join(a.divergence)
    assert a.invariant_checks == a.ops and not a.violations


@pytest.mark.slow
def test_directed_streams_reach_their_branches():
    harness = _harness("6.12")
    for make, wanted in ((directed_merge_refused,
                          "merge refused at pageblock order (HIGHATOMIC and UNMOVABLE)"),
                         (directed_claim_steal, "steal")):
        config = StreamConfig(66_000, 2)
        a = PathAgreement()
        path_run(harness, config, make(config, random.Random(3), 1000), a, invariants=0)
        assert a.agrees, "\n".join(a.divergence)
        assert a.events.get(wanted, 0) > 0 and a.events.get("claim", 0) > 0, a.events


@pytest.mark.slow
@pytest.mark.parametrize("version", ["6.12", "6.1"])
def test_an_unreserve_to_highatomic_agrees_and_keeps_the_invariants(version):
    """ac->migratetype MIGRATE_HIGHATOMIC (a gfp with both mobility bits): the kernel's
    unreserve_highatomic_pageblock drops nr_reserved_highatomic and leaves the pageblocks
    HIGHATOMIC (6.12.118 mm/page_alloc.c:2121-2190; 6.1.192 2950-3001). The model must
    do the same (it moved them to MOVABLE until the fuzz tier found it), and the spec's
    invariants must hold on the kernel's state after every operation."""
    harness = _harness(version)
    for cpus in (1, 2):
        config = StreamConfig(66_000, cpus)
        a = PathAgreement()
        path_run(harness, config, directed_unreserve_to_highatomic(config, random.Random(cpus),
                                                                   1 << 62),
                 a, invariants=1, limit=2000)
        assert a.agrees, "\n".join(a.divergence)
        assert not a.violations, "\n".join(a.violations)
        assert a.invariant_checks == a.ops == 2000
        assert a.events.get("unreserve to HIGHATOMIC (count dropped, pageblocks kept)", 0) > 0, \
            a.events


def _patch(function: str, old: str, new: str, *, last: bool = False):
    """Plant ``old`` -> ``new`` in one extracted function (the last occurrence with
    ``last``); the kernel text must still contain ``old`` there."""
    def patch(text: str) -> str:
        start = text.index(f"/* {function} */")
        end = text.find("\n/* ", start + 1)
        end = len(text) if end < 0 else end
        body = text[start:end]
        hits = [m.start() for m in re.finditer(re.escape(old), body)]
        assert hits, f"{function}: {old!r} not found; the kernel text changed"
        at = hits[-1] if last else hits[0]
        return text[:start] + body[:at] + new + body[at + len(old):] + text[end:]
    return patch


#: one-line changes planted in 6.12's extracted text; each must be caught
PLANTED = {
    "fallback order swapped": _patch(
        "fallbacks", "[MIGRATE_UNMOVABLE]   = { MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE   }",
        "[MIGRATE_UNMOVABLE]   = { MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE   }"),
    "pcp free to the list tail": _patch(
        "free_unref_page_commit", "list_add(&page->pcp_list, &pcp->lists[pindex]);",
        "list_add_tail(&page->pcp_list, &pcp->lists[pindex]);"),
    "merge restriction removed": _patch(
        "__free_one_page", "if (migratetype != buddy_mt &&", "if (0 && migratetype != buddy_mt &&"),
    "the drain mark (the raised high returned)": _patch(
        "nr_pcp_high", "return high;", "return pcp->high;", last=True),
    "decay drains in one chunk": _patch(
        "decay_pcp_high", "to_drain_batched = min(to_drain, batch);",
        "to_drain_batched = to_drain;"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PLANTED))
def test_a_one_line_change_planted_in_the_kernels_path_is_caught(name):
    harness = _harness("6.12", patch=PLANTED[name])
    a = conform_path(harness, seeds=3, ops=3000, sizes=(66_000, 33_000), ncpus=(1, 2),
                     invariants=0)
    assert not a.agrees, name
    assert "operation #" in a.divergence[0] and a.divergence[-1].startswith("last operations:")


def _copy_tree(version: str, dest: Path) -> Path:
    tree = _tree(version)
    for rel in ("Makefile", "include/linux/mmzone.h", "mm/internal.h", "mm/page_alloc.c"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tree / rel, dest / rel)
    return dest


@pytest.mark.slow
def test_a_tree_of_unknown_shape_is_refused_naming_the_function(tmp_path, kmem_cli):
    tree = _copy_tree("6.12", tmp_path / "linux")
    page_alloc = tree / "mm/page_alloc.c"
    text = page_alloc.read_text()
    page_alloc.write_text(text.replace(
        "static int nr_pcp_high(struct per_cpu_pages *pcp, struct zone *zone,\n\t\t       int batch, bool free_high)",
        "static int nr_pcp_high(struct per_cpu_pages *pcp, struct zone *zone,\n\t\t       bool free_high)", 1))
    with pytest.raises(ShapeError, match=r"nr_pcp_high\(struct per_cpu_pages \*pcp, struct zone "
                                         r"\*zone, bool free_high\): expected nr_pcp_high\("):
        extract_path(tree)
    done = kmem_cli("conform", "--source", str(tree), "--seeds", "1", "--ops", "10")
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kmem conform: error: ")
    assert "nr_pcp_high" in err[0] and "expected" in err[0] and "Traceback" not in done.stderr
    # no marker of any known shape (2.6-era names): refused as well
    page_alloc.write_text(text.replace("__rmqueue_claim", "__rmqueue_grab"))
    with pytest.raises(ShapeError, match="defines none of"):
        extract_path(tree)


@pytest.mark.slow
def test_kmem_conform_source_runs_a_tree_and_finds_a_changed_choice(tmp_path, kmem_cli):
    """A kernel developer's question: a change to mm/page_alloc.c that keeps the shape runs,
    and the first place where the allocator's choices change is reported."""
    tree = _copy_tree("6.12", tmp_path / "linux")
    done = kmem_cli("conform", "--source", str(tree), "--seeds", "1", "--ops", "600",
                    "--npages", "33000", "--no-directed")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Linux 6.12.118" in done.stdout and "first divergence: none" in done.stdout
    assert "sha256 of the extracted kernel text: " in done.stdout
    page_alloc = tree / "mm/page_alloc.c"
    page_alloc.write_text(page_alloc.read_text().replace(
        "list_add(&page->pcp_list, &pcp->lists[pindex]);",
        "list_add_tail(&page->pcp_list, &pcp->lists[pindex]);", 1))
    done = kmem_cli("conform", "--source", str(tree), "--seeds", "2", "--ops", "3000",
                    "--npages", "33000", "--no-directed", "--kernel", "6.12")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "first divergence:" in done.stdout and "first divergence: none" not in done.stdout
    wrong = kmem_cli("conform", "--source", str(tree), "--kernel", "6.1")
    assert wrong.returncode == 2 and "Linux 6.12.118" in wrong.stderr


@pytest.mark.slow
def test_the_whole_path_of_6_1_agrees_with_kmem_on_kernel_6_1():
    """6.1's shape (__rmqueue_fallback, steal_suitable_fallback, the pcp migratetype cache,
    a fixed pcp->high with free_factor, no decay) against MtZone(kernel="6.1"): every
    returned pfn and every state equal, the rare branches taken, the kernel's own state
    keeps the spec's invariants (those of 6.1's era)."""
    harness = _harness("6.1")
    assert harness.kernel.shape.name == "6.1" and harness.kernel.version.startswith("6.1.")
    assert {"__rmqueue_fallback", "steal_suitable_fallback", "free_the_page",
            "get_pcppage_migratetype"} <= set(harness.kernel.names)
    assert "decay_pcp_high" not in harness.kernel.names
    a = conform_path(harness, seeds=2, ops=2500, sizes=(66_000, 33_000), ncpus=(1, 2),
                     invariants=25)
    assert a.agrees, "\n".join(a.divergence)
    assert not a.violations, "\n".join(a.violations)
    assert {"claim", "steal", "highatomic reserve", "pcp drained at the high mark",
            "merge refused at pageblock order (HIGHATOMIC and UNMOVABLE)"} <= _events(a)
    assert "decay changed a pageset" not in _events(a)
