"""``kmem conform`` for the whole allocation path: the kernel's own code step by step
against :class:`kmem.model.mtzone.MtZone`.

The functions of the path (pageblock bits, ``fallbacks[]``, the free lists,
``__free_one_page``, ``expand``, ``__rmqueue`` with the claim/steal functions of the
tree at hand, the highatomic reserve, ``rmqueue_buddy``, ``rmqueue_pcplist`` /
``rmqueue_bulk`` / ``nr_pcp_alloc``, ``free_unref_page`` / ``free_unref_page_commit`` /
``free_pcppages_bulk`` / ``nr_pcp_free`` / ``nr_pcp_high``, ``drain_pages_zone``,
``decay_pcp_high``, ``zone_batchsize`` / ``zone_highsize`` and the pageset setup) are
extracted *by name* from a kernel tree, checked against a *shape* kmem knows (each
function's parameter list), compiled unchanged against kmem's shim
(``path_shim.h``) and driver (``path_harness.c``) and run as a subprocess.

A stream of operations (allocations of every migratetype with ALLOC_HIGHATOMIC,
ALLOC_OOM, ALLOC_NON_BLOCK, ALLOC_NOFRAGMENT (both passes) and ALLOC_KSWAPD, orders 0
to MAX_PAGE_ORDER, frees from any CPU, drains, decays, unreserves) drives both sides;
after every operation the returned pfn, every free list per order and migratetype in
list order, every pageblock's type, every pcp list per pindex in list order with the
pageset's fields, and the zone counters must be equal. The spec's invariants
(:func:`kmem.spec.buddy.check_invariants`) also run on the *kernel's* state after
every operation; what they find is reported apart from divergences.

Nothing of the kernel is kept in the repository; see :mod:`kmem.fuzz.conform`.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmem.model.mtzone import MtZone
from kmem.spec import buddy
from kmem.spec import pcp as pcp_spec
from kmem.spec.alloc_flags import (
    ALLOC_HIGHATOMIC,
    ALLOC_KSWAPD,
    ALLOC_NOFRAGMENT,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
)
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.kernel import kernel as kernel_of
from kmem.spec.migrate import MIGRATE_HIGHATOMIC, MIGRATETYPE_NAMES, PAGEBLOCK_ORDER
from kmem.spec.watermarks import default_min_free_kbytes, setup_per_zone_wmarks
from kmem.spec.zones import ZoneSpan, ZoneType

from ..cbuild import BuildError, build
from . import ConformError, cache_dir, fetch_deb, unpack_sources
from .extract import extract_enum, extract_function, extract_variable, parameters

HERE = Path(__file__).parent

#: the files a tree must have (the first that defines a function wins, in this order)
PATH_FILES = ("include/linux/mmzone.h", "mm/internal.h", "mm/page_alloc.c")


class ShapeError(ConformError):
    """The tree's functions do not have a shape kmem knows."""


@dataclass(frozen=True)
class Shape:
    """The functions of the whole path in one kernel line, each with its parameter list.

    ``define`` selects the shim's structures (``KMEM_SHAPE_612`` / ``KMEM_SHAPE_61``);
    ``marker`` is the function whose presence says a tree is of this line."""

    name: str
    define: str
    marker: str
    functions: tuple[tuple[str, str], ...]  # (name, "type a, type b")
    variables: tuple[str, ...] = ("fallbacks",)
    enums: tuple[str, ...] = ()
    has_decay: bool = True

    def params(self, name: str) -> tuple[str, ...]:
        text = dict(self.functions)[name]
        return tuple(p.strip() for p in text.split(",") if p.strip())


_COMMON_HEAD = (
    ("__find_buddy_pfn", "unsigned long page_pfn, unsigned int order"),
    ("buddy_order", "struct page *page"),
    ("page_is_buddy", "struct page *page, struct page *buddy, unsigned int order"),
    ("find_buddy_page_pfn", "struct page *page, unsigned long pfn, unsigned int order, "
                            "unsigned long *buddy_pfn"),
    ("free_area_empty", "struct free_area *area, int migratetype"),
    ("get_pageblock_bitmap", "const struct page *page, unsigned long pfn"),
    ("pfn_to_bitidx", "const struct page *page, unsigned long pfn"),
    ("get_pfnblock_flags_mask", "const struct page *page, unsigned long pfn, unsigned long mask"),
    ("get_pfnblock_migratetype", "const struct page *page, unsigned long pfn"),
    ("set_pfnblock_flags_mask", "struct page *page, unsigned long flags, unsigned long pfn, "
                                "unsigned long mask"),
    ("set_pageblock_migratetype", "struct page *page, int migratetype"),
    ("order_to_pindex", "int migratetype, int order"),
    ("pindex_to_order", "unsigned int pindex"),
    ("pcp_allowed_order", "unsigned int order"),
    ("set_buddy_order", "struct page *page, unsigned int order"),
    ("get_page_from_free_area", "struct free_area *area, int migratetype"),
    ("buddy_merge_likely", "unsigned long pfn, unsigned long buddy_pfn, struct page *page, "
                           "unsigned int order"),
    ("change_pageblock_range", "struct page *pageblock_page, int start_order, int migratetype"),
    ("__free_one_page", "struct page *page, unsigned long pfn, struct zone *zone, "
                        "unsigned int order, int migratetype, fpi_t fpi_flags"),
    ("free_pcppages_bulk", "struct zone *zone, int count, struct per_cpu_pages *pcp, int pindex"),
    ("__free_pages_ok", "struct page *page, unsigned int order, fpi_t fpi_flags"),
    ("expand", "struct zone *zone, struct page *page, int low, int high, int migratetype"),
    ("__rmqueue_smallest", "struct zone *zone, unsigned int order, int migratetype"),
    ("__rmqueue_cma_fallback", "struct zone *zone, unsigned int order"),
    ("can_steal_fallback", "unsigned int order, int start_mt"),
    ("boost_watermark", "struct zone *zone"),
    ("find_suitable_fallback", "struct free_area *area, unsigned int order, int migratetype, "
                               "bool only_stealable, bool *can_steal"),
    ("unreserve_highatomic_pageblock", "const struct alloc_context *ac, bool force"),
    ("rmqueue_bulk", "struct zone *zone, unsigned int order, unsigned long count, "
                     "struct list_head *list, int migratetype, unsigned int alloc_flags"),
    ("drain_pages_zone", "unsigned int cpu, struct zone *zone"),
    ("free_unref_page_commit", "struct zone *zone, struct per_cpu_pages *pcp, struct page *page, "
                               "int migratetype, unsigned int order"),
    ("free_unref_page", "struct page *page, unsigned int order"),
    ("rmqueue_buddy", "struct zone *preferred_zone, struct zone *zone, unsigned int order, "
                      "unsigned int alloc_flags, int migratetype"),
    ("__rmqueue_pcplist", "struct zone *zone, unsigned int order, int migratetype, "
                          "unsigned int alloc_flags, struct per_cpu_pages *pcp, "
                          "struct list_head *list"),
    ("rmqueue_pcplist", "struct zone *preferred_zone, struct zone *zone, unsigned int order, "
                        "int migratetype, unsigned int alloc_flags"),
    ("rmqueue", "struct zone *preferred_zone, struct zone *zone, unsigned int order, "
                "gfp_t gfp_flags, unsigned int alloc_flags, int migratetype"),
    ("zone_batchsize", "struct zone *zone"),
    ("per_cpu_pages_init", "struct per_cpu_pages *pcp, struct per_cpu_zonestat *pzstats"),
    ("zone_set_pageset_high_and_batch", "struct zone *zone, int cpu_online"),
    ("setup_zone_pageset", "struct zone *zone"),
)

#: Linux 6.12 (Debian 6.12.118): the claim/steal split of __rmqueue, pcp high auto-tuning
SHAPE_612 = Shape("6.12", "KMEM_SHAPE_612", "__rmqueue_claim", _COMMON_HEAD + (
    ("account_freepages", "struct zone *zone, int nr_pages, int migratetype"),
    ("__add_to_free_list", "struct page *page, struct zone *zone, unsigned int order, "
                           "int migratetype, bool tail"),
    ("move_to_free_list", "struct page *page, struct zone *zone, unsigned int order, "
                          "int old_mt, int new_mt"),
    ("__del_page_from_free_list", "struct page *page, struct zone *zone, unsigned int order, "
                                  "int migratetype"),
    ("del_page_from_free_list", "struct page *page, struct zone *zone, unsigned int order, "
                                "int migratetype"),
    ("split_large_buddy", "struct zone *zone, struct page *page, unsigned long pfn, int order, "
                          "fpi_t fpi"),
    ("free_one_page", "struct zone *zone, struct page *page, unsigned long pfn, "
                      "unsigned int order, fpi_t fpi_flags"),
    ("page_del_and_expand", "struct zone *zone, struct page *page, int low, int high, "
                            "int migratetype"),
    ("__move_freepages_block", "struct zone *zone, unsigned long start_pfn, int old_mt, "
                               "int new_mt"),
    ("prep_move_freepages_block", "struct zone *zone, struct page *page, "
                                  "unsigned long *start_pfn, int *num_free, int *num_movable"),
    ("move_freepages_block", "struct zone *zone, struct page *page, int old_mt, int new_mt"),
    ("try_to_steal_block", "struct zone *zone, struct page *page, int current_order, int order, "
                           "int start_type, unsigned int alloc_flags"),
    ("reserve_highatomic_pageblock", "struct page *page, int order, struct zone *zone"),
    ("__rmqueue_claim", "struct zone *zone, int order, int start_migratetype, "
                        "unsigned int alloc_flags"),
    ("__rmqueue_steal", "struct zone *zone, int order, int start_migratetype"),
    ("__rmqueue", "struct zone *zone, unsigned int order, int migratetype, "
                  "unsigned int alloc_flags, enum rmqueue_mode *mode"),
    ("decay_pcp_high", "struct zone *zone, struct per_cpu_pages *pcp"),
    ("nr_pcp_free", "struct per_cpu_pages *pcp, int batch, int high, bool free_high"),
    ("nr_pcp_high", "struct per_cpu_pages *pcp, struct zone *zone, int batch, bool free_high"),
    ("nr_pcp_alloc", "struct per_cpu_pages *pcp, struct zone *zone, int order"),
    ("zone_highsize", "struct zone *zone, int batch, int cpu_online, int high_fraction"),
    ("pageset_update", "struct per_cpu_pages *pcp, unsigned long high_min, "
                       "unsigned long high_max, unsigned long batch"),
    ("__zone_set_pageset_high_and_batch", "struct zone *zone, unsigned long high_min, "
                                          "unsigned long high_max, unsigned long batch"),
), enums=("rmqueue_mode",))

#: Linux 6.1 (Debian 6.1.192): __rmqueue_fallback/steal_suitable_fallback, the pcp
#: migratetype cached in page->index, a fixed pcp->high with free_factor
SHAPE_61 = Shape("6.1", "KMEM_SHAPE_61", "steal_suitable_fallback", _COMMON_HEAD + (
    ("get_pcppage_migratetype", "struct page *page"),
    ("set_pcppage_migratetype", "struct page *page, int migratetype"),
    ("__get_pfnblock_flags_mask", "const struct page *page, unsigned long pfn, "
                                  "unsigned long mask"),
    ("free_the_page", "struct page *page, unsigned int order"),
    ("add_to_free_list", "struct page *page, struct zone *zone, unsigned int order, "
                         "int migratetype"),
    ("add_to_free_list_tail", "struct page *page, struct zone *zone, unsigned int order, "
                              "int migratetype"),
    ("move_to_free_list", "struct page *page, struct zone *zone, unsigned int order, "
                          "int migratetype"),
    ("del_page_from_free_list", "struct page *page, struct zone *zone, unsigned int order"),
    ("free_one_page", "struct zone *zone, struct page *page, unsigned long pfn, "
                      "unsigned int order, int migratetype, fpi_t fpi_flags"),
    ("move_freepages", "struct zone *zone, unsigned long start_pfn, unsigned long end_pfn, "
                       "int migratetype, int *num_movable"),
    ("move_freepages_block", "struct zone *zone, struct page *page, int migratetype, "
                             "int *num_movable"),
    ("steal_suitable_fallback", "struct zone *zone, struct page *page, unsigned int alloc_flags, "
                                "int start_type, bool whole_block"),
    ("reserve_highatomic_pageblock", "struct page *page, struct zone *zone, "
                                     "unsigned int alloc_order"),
    ("__rmqueue_fallback", "struct zone *zone, int order, int start_migratetype, "
                           "unsigned int alloc_flags"),
    ("__rmqueue", "struct zone *zone, unsigned int order, int migratetype, "
                  "unsigned int alloc_flags"),
    ("free_unref_page_prepare", "struct page *page, unsigned long pfn, unsigned int order"),
    ("nr_pcp_free", "struct per_cpu_pages *pcp, int high, int batch, bool free_high"),
    ("nr_pcp_high", "struct per_cpu_pages *pcp, struct zone *zone, bool free_high"),
    ("zone_highsize", "struct zone *zone, int batch, int cpu_online"),
    ("pageset_update", "struct per_cpu_pages *pcp, unsigned long high, unsigned long batch"),
    ("__zone_set_pageset_high_and_batch", "struct zone *zone, unsigned long high, "
                                          "unsigned long batch"),
), has_decay=False)

SHAPES = (SHAPE_612, SHAPE_61)


def tree_version(tree: Path) -> tuple[int, int, int]:
    """VERSION, PATCHLEVEL and SUBLEVEL from a kernel tree's top Makefile."""
    makefile = Path(tree) / "Makefile"
    try:
        text = makefile.read_text(errors="replace")
    except OSError as exc:
        raise ConformError(f"{makefile}: cannot read the kernel's Makefile ({exc.strerror}); "
                           f"--source wants the top of a kernel tree") from None
    out = []
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        m = re.search(rf"^{key}\s*=\s*(\d+)\s*$", text, re.M)
        if m is None:
            raise ConformError(f"{makefile}: no '{key} = N' line; --source wants the top of a "
                               f"kernel tree")
        out.append(int(m.group(1)))
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class KernelPath:
    """The extracted whole path of one tree: its text, shape and sha256."""

    version: str      # "6.12.118"
    origin: str       # the package's file name or the tree's folder
    shape: Shape
    names: tuple[str, ...]
    text: str
    sha256: str


def _read_sources(tree: Path) -> list[tuple[str, str]]:
    out = []
    for rel in PATH_FILES:
        path = Path(tree) / rel
        try:
            out.append((rel, path.read_text(errors="replace")))
        except OSError as exc:
            raise ConformError(f"{path}: {exc.strerror}; --source wants a kernel tree with "
                               f"{', '.join(PATH_FILES)}") from None
    return out


def _find(sources: list[tuple[str, str]], name: str) -> tuple[int, int, str, str] | None:
    for index, (rel, src) in enumerate(sources):
        text = extract_function(src, name)
        if text is not None:
            return index, src.index(text), rel, text
    return None


def _fit(shape: Shape, sources: list[tuple[str, str]]
         ) -> tuple[list[str], list[tuple[int, int, str, str]]]:
    """The problems of ``sources`` for ``shape`` (empty: it fits) and the found parts."""
    problems: list[str] = []
    parts: list[tuple[int, int, str, str]] = []
    for name, _ in shape.functions:
        hit = _find(sources, name)
        if hit is None:
            problems.append(f"function {name}() not found in {', '.join(PATH_FILES)}; the "
                            f"{shape.name} shape has it")
            continue
        index, offset, rel, text = hit
        got, want = parameters(text), shape.params(name)
        if got != want:
            problems.append(f"{rel}: {name}({', '.join(got)}): expected {name}({', '.join(want)}) "
                            f"(the {shape.name} shape)")
            continue
        parts.append((index, offset, name, text))
    for kind, names, finder in (("array", shape.variables, extract_variable),
                                ("enum", shape.enums, extract_enum)):
        for name in names:
            hit2 = next(((i, src.index(t), t) for i, (_, src) in enumerate(sources)
                         if (t := finder(src, name))), None)
            if hit2 is None:
                problems.append(f"{kind} {name} not found in {', '.join(PATH_FILES)}; the "
                                f"{shape.name} shape has it")
            else:
                parts.append((hit2[0], hit2[1], name, hit2[2]))
    return problems, parts


def extract_path(tree: Path, origin: str | None = None) -> KernelPath:
    """Extract the whole path from ``tree``: the shape whose marker function the tree
    defines must fit every function, else :class:`ShapeError` names the first that does
    not and what was expected."""
    tree = Path(tree)
    major, minor, sub = tree_version(tree)
    version = f"{major}.{minor}.{sub}"
    sources = _read_sources(tree)
    candidates = [s for s in SHAPES if _find(sources, s.marker) is not None]
    if not candidates:
        raise ShapeError(f"{tree} (Linux {version}): mm/page_alloc.c defines none of "
                         f"{', '.join(s.marker + '()' for s in SHAPES)}: kmem knows the "
                         f"whole-path shapes of {', '.join(s.name for s in SHAPES)}")
    results = []
    for shape in candidates:
        problems, parts = _fit(shape, sources)
        if not problems:
            parts.sort(key=lambda p: (p[0], p[1]))
            names = tuple(p[2] for p in parts)
            text = "\n".join(f"/* {p[2]} */\n{p[3]}\n" for p in parts)
            return KernelPath(version, origin or str(tree), shape, names, text,
                              hashlib.sha256(text.encode()).hexdigest())
        results.append((len(problems), shape, problems))
    _, shape, problems = min(results, key=lambda r: r[0])
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise ShapeError(f"{tree} (Linux {version}) does not have a shape kmem knows: "
                     f"{problems[0]}{more}")


def unpack_path_sources(deb: Path, version: str, cache: Path,
                        log: Callable[[str], None] = print) -> Path:
    """Unpack the Makefile and :data:`PATH_FILES` from the package's source tarball."""
    return unpack_sources(deb, version, cache, log, files=("Makefile", *PATH_FILES))


@dataclass(frozen=True)
class PathHarness:
    kernel: KernelPath
    binary: Path
    cached: bool


def build_path_harness(version: str | None = None, *, source: Path | None = None,
                       cache: Path | None = None, log: Callable[[str], None] = print,
                       patch: Callable[[str], str] | None = None) -> PathHarness:
    """Extract and build the whole-path harness, from Debian's ``linux-source-VERSION``
    (fetched into the cache) or from the kernel tree ``source``.

    ``patch`` edits the extracted text before it is compiled (the tests plant bugs this
    way); the hash stays the one of the kernel's own text."""
    cache = cache or cache_dir()
    if source is not None:
        kernel = extract_path(Path(source))
    else:
        from . import KERNELS
        if version not in KERNELS:
            raise ConformError(f"kernel {version!r}: kmem conform knows {', '.join(KERNELS)}")
        deb = fetch_deb(version, cache, log)
        tree = unpack_path_sources(deb, version, cache, log)
        kernel = extract_path(tree, deb.name)
    body = patch(kernel.text) if patch else kernel.text
    tag = hashlib.sha256(body.encode()).hexdigest()[:12]
    work = cache / "conform-path" / f"{kernel.version}-{tag}"
    work.mkdir(parents=True, exist_ok=True)
    unit = work / "kernel_unit.c"
    content = (f"/* generated by kmem conform: kmem's shim + the kernel's whole allocation path "
               f"(Linux {kernel.version}, {kernel.origin}) + kmem's harness */\n"
               f"#define {kernel.shape.define} 1\n"
               '#include "path_shim.h"\n\n' + body + '\n#include "path_harness.c"\n')
    if not unit.exists() or unit.read_text() != content:
        unit.write_text(content)
    for name in ("path_shim.h", "path_harness.c"):
        shutil.copyfile(HERE / name, work / name)
    before = set(work.glob("harness-*"))
    try:
        binary = build([unit], work, "harness", flags=("-O1", "-g", "-Werror=implicit-function-declaration",
                              "-Werror=int-conversion", "-fno-strict-aliasing"),
                       include=(work,), depends=(work / "path_shim.h", work / "path_harness.c"))
    except BuildError as exc:
        raise ConformError(f"the extracted path of Linux {kernel.version} does not compile "
                           f"against kmem's shim: {exc}") from None
    return PathHarness(kernel, binary, binary in before)


# ---------------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------------

#: kmem's flag bits on the harness's line (see path_harness.c) and the spec's ALLOC_*
FLAG_BITS = ((1, ALLOC_HIGHATOMIC), (2, ALLOC_OOM), (4, ALLOC_NON_BLOCK), (8, ALLOC_NOFRAGMENT),
             (16, ALLOC_KSWAPD))
FLAG_NAMES = {1: "HIGHATOMIC", 2: "OOM", 4: "NON_BLOCK", 8: "NOFRAGMENT", 16: "KSWAPD"}
MT_NAMES = ("UNMOVABLE", "MOVABLE", "RECLAIMABLE", "HIGHATOMIC")


@dataclass(frozen=True)
class Op:
    """One operation: ``alloc`` (order, mt, flags, cpu), ``free`` (a live block by its
    allocation index, cpu), ``drain`` / ``decay`` (cpu), ``unreserve`` (mt, force)."""

    kind: str
    order: int = 0
    mt: int = 0
    flags: int = 0
    cpu: int = 0
    ref: int = 0  # free: index into the live blocks (modulo their number)
    force: bool = False
    recent: bool = False  # free: count ref from the newest live block (among the last 64)


@dataclass(frozen=True)
class StreamConfig:
    """A zone and its machine: pages, reserved pages at the start, CPUs, pcp on/off."""

    npages: int
    ncpus: int = 1
    pcp: bool = True
    reserved: int = 0

    def describe(self) -> str:
        return (f"{self.npages} pages ({self.npages % (1 << PAGEBLOCK_ORDER)} in a partial last "
                f"pageblock), {self.ncpus} CPU(s), pcp {'on' if self.pcp else 'off'}"
                + (f", {self.reserved} reserved" if self.reserved else ""))

    def watermarks(self) -> tuple[int, int, int, int]:
        """``__setup_per_zone_wmarks`` for a machine whose only zone this is."""
        managed = self.npages - self.reserved
        wm = setup_per_zone_wmarks([(ZoneType.NORMAL, managed)],
                                   default_min_free_kbytes(managed * 4))[0]
        return wm.min, wm.low, wm.high, wm.promo


def _order(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.5:
        return 0
    if r < 0.75:
        return rng.randint(1, 3)
    if r < 0.85:
        return rng.randint(4, 8)
    if r < 0.93:
        return PAGEBLOCK_ORDER
    return MAX_PAGE_ORDER


def _flags(rng: random.Random, order: int, kswapd: bool = True) -> int:
    bits = 0
    if rng.random() < 0.4:
        bits |= 8   # NOFRAGMENT: both passes of get_page_from_freelist
    if order and rng.random() < 0.15:
        bits |= 1   # a high-order atomic request
    if rng.random() < 0.05:
        bits |= 2
    if rng.random() < 0.15:
        bits |= 4
    if kswapd and rng.random() < 0.3:
        bits |= 16
    return bits


def random_stream(rng: random.Random, config: StreamConfig, n: int, *,
                  decay: bool = True) -> Iterator[Op]:
    """``n`` operations in phases of 200-800 with their own alloc/free balance (from
    mostly freeing to filling the zone), every migratetype and order, flags, CPUs,
    drains, decays (where the kernel has decay_pcp_high) and unreserves."""
    made = 0
    while made < n:
        phase = rng.randint(200, 800)
        p_alloc = rng.choice((0.3, 0.5, 0.6, 0.75, 0.9))
        weights = rng.choice(((1, 1, 1), (1, 4, 1), (4, 1, 1), (1, 1, 4)))
        for _ in range(min(phase, n - made)):
            cpu = rng.randrange(config.ncpus)
            r = rng.random()
            if r < 0.01:
                op = Op("drain", cpu=cpu)
            elif r < 0.03 and decay:
                op = Op("decay", cpu=cpu)
            elif r < 0.04:
                op = Op("unreserve", mt=rng.randrange(3), force=rng.random() < 0.5)
            elif rng.random() < p_alloc:
                order = _order(rng)
                mt = rng.choices(range(3), weights)[0]
                op = Op("alloc", order=order, mt=mt, flags=_flags(rng, order, config.pcp), cpu=cpu)
            else:
                op = Op("free", ref=rng.randrange(1 << 30), cpu=cpu)
            made += 1
            yield op


def directed_merge_refused(config: StreamConfig, rng: random.Random, n: int) -> Iterator[Op]:
    """A merge refused at pageblock order between a HIGHATOMIC and an UNMOVABLE
    pageblock: UNMOVABLE requests claim pageblocks, high-order atomic UNMOVABLE requests
    reserve some of them (reserve_highatomic_pageblock), then everything is freed and
    the pcp lists drained, so buddies of order 9 of the two types meet."""
    made = 0
    cpus = config.ncpus
    while made < n:
        for _ in range(300):
            yield Op("alloc", order=rng.choice((0, 0, 1, 2)), mt=0, flags=rng.choice((0, 8)),
                     cpu=rng.randrange(cpus))
        for _ in range(6):
            yield Op("alloc", order=rng.choice((1, 2, 3)), mt=0, flags=1, cpu=rng.randrange(cpus))
        for _ in range(300):
            yield Op("alloc", order=rng.choice((0, 1, 3)), mt=0, flags=0, cpu=rng.randrange(cpus))
        for _ in range(700):
            yield Op("free", ref=rng.randrange(1 << 30), cpu=rng.randrange(cpus))
        for cpu in range(cpus):
            yield Op("drain", cpu=cpu)
        made += 1306 + cpus


def directed_claim_steal(config: StreamConfig, rng: random.Random, n: int) -> Iterator[Op]:
    """Claims of whole pageblocks and steals of single blocks: MOVABLE order-9 requests
    fill the zone, a few are freed, UNMOVABLE requests claim those pageblocks whole
    (try_to_steal_block from order >= pageblock_order), half of them are freed again (pcp
    drained), and small MOVABLE requests, with no MOVABLE block left, steal single blocks
    from the UNMOVABLE pageblocks (__rmqueue_steal; 6.1: __rmqueue_fallback without
    can_steal)."""
    made = 0
    cpus = config.ncpus
    blocks = config.npages >> PAGEBLOCK_ORDER
    holes = max(2, blocks // 64)
    while made < n:
        for _ in range(blocks + 10):
            yield Op("alloc", order=PAGEBLOCK_ORDER, mt=1, cpu=rng.randrange(cpus))
        for _ in range(holes):
            yield Op("free", ref=rng.randrange(1 << 30), cpu=rng.randrange(cpus))
        fill = holes * (1 << PAGEBLOCK_ORDER) * 2 // 3 + 100
        for _ in range(fill):
            yield Op("alloc", order=rng.choice((0, 0, 1)), mt=rng.choice((0, 2)),
                     flags=rng.choice((0, 8)), cpu=rng.randrange(cpus))
        for _ in range(fill // 3):
            yield Op("free", ref=rng.randrange(1 << 30), recent=True, cpu=rng.randrange(cpus))
        for cpu in range(cpus):
            yield Op("drain", cpu=cpu)
        for _ in range(600):
            yield Op("alloc", order=rng.choice((0, 1, 2)), mt=1, cpu=rng.randrange(cpus))
        for _ in range(blocks + fill + 600):
            yield Op("free", ref=rng.randrange(1 << 30), cpu=rng.randrange(cpus))
        for cpu in range(cpus):
            yield Op("drain", cpu=cpu)
        made += 2 * blocks + 10 + holes + 2 * fill + fill // 3 + 1200 + 2 * cpus


def directed_unreserve_to_highatomic(config: StreamConfig, rng: random.Random,
                                     n: int) -> Iterator[Op]:
    """``unreserve_highatomic_pageblock`` with ``ac->migratetype`` MIGRATE_HIGHATOMIC, as a
    gfp with both __GFP_MOVABLE and __GFP_RECLAIMABLE gives it (gfp_migratetype's
    VM_WARN_ON case): high-order atomic requests reserve pageblocks, some are freed, and
    unreserves to HIGHATOMIC (forced or not) take pages out of nr_reserved_highatomic
    while the pageblocks stay HIGHATOMIC (6.12.118 mm/page_alloc.c:2121-2190); ordinary
    unreserves and requests follow on that state."""
    made = 0
    cpus = config.ncpus
    while made < n:
        for _ in range(200):
            yield Op("alloc", order=rng.choice((0, 1, 2)), mt=rng.choice((0, 1)),
                     flags=rng.choice((0, 8)), cpu=rng.randrange(cpus))
        for _ in range(12):
            yield Op("alloc", order=rng.choice((1, 2, 3)), mt=rng.choice((0, 1, 2)), flags=1,
                     cpu=rng.randrange(cpus))
        for _ in range(150):
            yield Op("free", ref=rng.randrange(1 << 30), recent=rng.random() < 0.5,
                     cpu=rng.randrange(cpus))
        for cpu in range(cpus):
            yield Op("drain", cpu=cpu)
        for _ in range(3):
            yield Op("unreserve", mt=3, force=rng.random() < 0.7)
        for _ in range(100):
            yield Op("alloc", order=rng.choice((0, 1, 3)), mt=rng.choice((0, 1, 2)),
                     flags=rng.choice((0, 1, 2, 4)), cpu=rng.randrange(cpus))
        yield Op("unreserve", mt=rng.randrange(4), force=True)
        for _ in range(150):
            yield Op("free", ref=rng.randrange(1 << 30), cpu=rng.randrange(cpus))
        made += 616 + cpus


DIRECTED = {"merge-refused": directed_merge_refused, "claim-steal": directed_claim_steal,
            "unreserve-to-highatomic": directed_unreserve_to_highatomic}


# ---------------------------------------------------------------------------------------------
# The model's side
# ---------------------------------------------------------------------------------------------

class ModelSide:
    """:class:`MtZone` booted like the harness's zone, driven by the same operations
    and dumped in the harness's state format."""

    def __init__(self, config: StreamConfig, kernel: str, version: str | None = None) -> None:
        """``kernel`` is the shape's line ("6.12" or "6.1"); ``version`` the tree's version,
        which the model follows where MtZone takes a ``kernel`` (default: the line)."""
        self.config = config
        self.kernel = kernel
        span = ZoneSpan(ZoneType.NORMAL, 0, config.npages,
                        reserved=((0, config.reserved),) if config.reserved else ())
        self.zone = MtZone(span, ZoneType.NORMAL.value, policy="linux",
                           nr_cpus=config.ncpus if config.pcp else 0,
                           kernel=kernel_of(version or kernel))
        self.zone.watermark = config.watermarks()
        self.zone.boot()
        if config.pcp:
            self.zone.setup_pageset(config.ncpus)

    def alloc(self, op: Op) -> int | None:
        """``get_page_from_freelist`` for one zone, without watermarks: ``rmqueue``; a
        failed ALLOC_NOFRAGMENT pass is retried without it; a success with
        ALLOC_HIGHATOMIC reserves its pageblock (mm/page_alloc.c, 6.1 and 6.12)."""
        flags = 0
        for bit, value in FLAG_BITS:
            if op.flags & bit:
                flags |= value
        zone = self.zone
        while True:
            pfn = zone.rmqueue(op.cpu, op.order, op.mt, flags)
            if pfn is None and flags & ALLOC_NOFRAGMENT:
                flags &= ~ALLOC_NOFRAGMENT
                continue
            break
        if pfn is not None and flags & ALLOC_HIGHATOMIC:
            zone.reserve_highatomic_pageblock(pfn, op.order)
        return pfn

    def free(self, pfn: int, order: int, cpu: int) -> None:
        """``__free_pages`` on ``cpu`` (``free_unref_page`` uses that CPU's pageset)."""
        self.zone.free_one_page(pfn, order, cpu=cpu)

    def drain(self, cpu: int) -> None:
        if self.zone.pcp:
            self.zone.drain_pages_zone(cpu)

    def decay(self, cpu: int) -> int:
        if not self.zone.pcp:
            return 0
        return int(bool(self.zone.decay_pcp_high(cpu)))

    def unreserve(self, mt: int, force: bool) -> int:
        return int(bool(self.zone.unreserve_highatomic_pageblock(mt, force)))

    def dump(self) -> str:
        """The state in path_harness.c's ``kmem_dump`` format."""
        z = self.zone
        free_ha = "-" if self.kernel == "6.1" else z.nr_free_highatomic  # a 6.10+ field
        parts = [f"Z:{z.free_pages},{free_ha},{z.nr_reserved_highatomic},"
                 f"{z.watermark_boost},{int(z.boosted)}",
                 "N:" + ",".join(str(a.nr_free) for a in z.free_area),
                 "B:" + "".join(str(z.get_pfnblock_migratetype(pfn))
                                for pfn in range(0, self.config.npages, 1 << PAGEBLOCK_ORDER))]
        for o in range(NR_PAGE_ORDERS):
            for mt, lst in enumerate(z.free_area[o].free_lists):  # type: ignore[attr-defined]
                if len(lst):
                    parts.append(f"L{o}.{mt}:" + ",".join(map(str, lst)))
        for cpu, p in enumerate(z.pcp):
            if self.kernel == "6.1":
                ff = getattr(p, "free_factor", 0)
                parts.append(f"P{cpu}:{p.count},{p.high},{p.batch},{ff}")
            else:
                parts.append(f"P{cpu}:{p.count},{p.high},{p.high_min},{p.high_max},{p.batch},"
                             f"{p.free_count},{p.flags},{p.alloc_factor}")
            for i, lst in enumerate(p.lists):
                if len(lst):
                    parts.append(f"Q{cpu}.{i}:" + ",".join(map(str, lst)))
        return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# The kernel's side
# ---------------------------------------------------------------------------------------------

class KernelSide:
    """The built harness as a subprocess: one request, one line back."""

    def __init__(self, harness: PathHarness, config: StreamConfig) -> None:
        self.proc = subprocess.Popen([str(harness.binary)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1)
        wm = config.watermarks()
        self.init_line = (f"i {config.npages} {config.reserved} {config.ncpus} "
                          f"{int(config.pcp)} {wm[0]} {wm[1]} {wm[2]}")

    def request(self, line: str) -> tuple[int, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            answer = ""
        if not answer:
            self.proc.wait(timeout=10)
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            raise KernelCrash(f"the kernel's code died on '{line}' (exit {self.proc.returncode})",
                              stderr)
        result, _, state = answer.rstrip("\n").partition(" ")
        return int(result), state

    def requests(self, lines: list[str]) -> Iterator[tuple[int, str]]:
        """Send all ``lines`` at once, then yield the answers in order (the requests are
        short and fit the pipe, so the harness never waits for us to read)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write("".join(line + "\n" for line in lines))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        for line in lines:
            answer = self.proc.stdout.readline()
            if not answer:
                self.proc.wait(timeout=10)
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                raise KernelCrash(f"the kernel's code died on '{line}' (exit "
                                  f"{self.proc.returncode})", stderr)
            result, _, state = answer.rstrip("\n").partition(" ")
            yield int(result), state

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("q\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.SubprocessError):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class KernelCrash(Exception):
    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


def parse_state(state: str) -> dict[str, str]:
    """A state line as {section tag: value}."""
    out = {}
    for token in state.split():
        tag, _, value = token.partition(":")
        out[tag] = value
    return out


def kernel_invariants(zs: buddy.ZoneState) -> list[buddy.Violation]:
    """The spec's invariants (:func:`kmem.spec.buddy.check_invariants`, with the rules of
    ``zs.path_era``) on the kernel's state."""
    return buddy.check_invariants(zs)


def kernel_zone_state(config: StreamConfig, state: str, live: dict[int, int],
                      era: str = "6.12", *, uncounted: bool = False) -> buddy.ZoneState:
    """The spec's :class:`ZoneState` of the kernel's zone from its state line and the
    blocks the stream holds (pfn -> order); ``uncounted``: an unreserve to HIGHATOMIC
    has moved pages (:attr:`kmem.spec.buddy.ZoneState.highatomic_uncounted`)."""
    s = parse_state(state)
    free: set[tuple[int, int]] = set()
    list_types: list[tuple[int, int]] = []
    pcp: set[tuple[int, int]] = set()
    for tag, value in s.items():
        if tag.startswith("L"):
            order, mt = map(int, tag[1:].split("."))
            for pfn in map(int, value.split(",")):
                free.add((pfn, order))
                list_types.append((pfn, mt))
        elif tag.startswith("Q"):
            order = pcp_spec.pindex_to_order(int(tag.split(".")[1]))
            pcp.update((int(pfn), order) for pfn in value.split(","))
    z = s["Z"].split(",")
    if z[1] == "-":  # 6.1 keeps no nr_free_highatomic: give the invariant what the lists hold
        z[1] = str(sum(1 << order for (pfn, order) in free
                       if dict(list_types).get(pfn) == MIGRATE_HIGHATOMIC))
    return buddy.ZoneState(
        path_era=era, start_pfn=0, end_pfn=config.npages, free=frozenset(free),
        allocated=frozenset(live.items()),
        reserved=((0, config.reserved),) if config.reserved else (),
        nr_free=tuple(int(x) for x in s["N"].split(",")), free_pages=int(z[0]),
        pcp=frozenset(pcp), pageblock_order=PAGEBLOCK_ORDER,
        block_types=tuple(enumerate(int(c) for c in s["B"])),
        list_types=tuple(sorted(list_types)), nr_free_highatomic=int(z[1]),
        nr_reserved_highatomic=int(z[2]), highatomic_uncounted=uncounted)


# ---------------------------------------------------------------------------------------------
# The differential run
# ---------------------------------------------------------------------------------------------

@dataclass
class PathAgreement:
    """Counts of what was compared and what agreed; the first divergence and the kernel
    side's first invariant violation, each with the last operations."""

    runs: int = 0
    ops: int = 0
    allocs: int = 0
    fails: int = 0
    states: int = 0
    seconds: float = 0.0
    invariant_checks: int = 0
    pfns_differ: int = 0   # 1 when the first divergence is a returned pfn
    states_differ: int = 0  # 1 when it is the state after an operation (or at boot)
    events: dict[str, int] = field(default_factory=dict)
    divergence: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.divergence

    def count(self, event: str, n: int = 1) -> None:
        self.events[event] = self.events.get(event, 0) + n


def _describe(op: Op, pfn: int | None = None, order: int | None = None) -> str:
    if op.kind == "alloc":
        flags = "|".join(FLAG_NAMES[b] for b in FLAG_NAMES if op.flags & b) or "0"
        return f"alloc(order={op.order}, {MT_NAMES[op.mt]}, {flags}, cpu {op.cpu})"
    if op.kind == "free":
        return f"free({pfn:#x}, order={order}, cpu {op.cpu})"
    if op.kind == "unreserve":
        return f"unreserve_highatomic_pageblock({MT_NAMES[op.mt]}, force={op.force})"
    return f"{'drain_pages_zone' if op.kind == 'drain' else 'decay_pcp_high'}(cpu {op.cpu})"


def _first_difference(kernel: str, model: str, limit: int = 3) -> list[str]:
    """The first ``limit`` differing sections of two state lines, each with both sides'
    values around the first differing position (pageset fields and pcp lists first: a
    pcp difference is usually where a free-list difference comes from)."""
    k, m = parse_state(kernel), parse_state(model)
    order = {"P": 0, "Q": 1, "Z": 2, "N": 3, "B": 4, "L": 5}
    out: list[str] = []
    shown = 0
    for tag in sorted(set(k) | set(m), key=lambda t: (order.get(t[0], 9), t)):
        kv, mv = k.get(tag), m.get(tag)
        if kv == mv:
            continue
        shown += 1
        if shown > limit:
            out.append("  (more sections differ)")
            break
        what = _section_name(tag)
        if kv is None or mv is None:
            out.append(f"{what}: kernel {'empty' if kv is None else kv[:300]}; "
                       f"kmem {'empty' if mv is None else mv[:300]}")
            continue
        ka, ma = (list(kv), list(mv)) if tag == "B" else (kv.split(","), mv.split(","))
        at = next((i for i, (a, b) in enumerate(zip(ka, ma, strict=False)) if a != b),
                  min(len(ka), len(ma)))
        lo = max(0, at - 3)
        sep = "" if tag == "B" else ","
        out += [f"{what} differ at position {at}:",
                f"  kernel: {sep.join(ka[lo:at + 6])} ({len(ka)} entries)",
                f"  kmem:   {sep.join(ma[lo:at + 6])} ({len(ma)} entries)"]
    return out or ["the states differ"]


def _section_name(tag: str) -> str:
    if tag == "Z":
        return "zone counters (NR_FREE_PAGES, nr_free_highatomic, nr_reserved_highatomic, " \
               "watermark_boost, ZONE_BOOSTED_WATERMARK)"
    if tag == "N":
        return "free_area[].nr_free"
    if tag == "B":
        return "pageblock types (one digit per pageblock)"
    if tag.startswith("L"):
        o, mt = tag[1:].split(".")
        return f"free_area[{o}].free_list[{mt}]"
    if tag.startswith("P"):
        return f"cpu {tag[1:]}'s pageset (count,high,high_min,high_max,batch,free_count,flags," \
               f"alloc_factor; 6.1: count,high,batch,free_factor)"
    cpu, pindex = tag[1:].split(".")
    return f"cpu {cpu}'s pcp list {pindex}"


def _refused_merges(state: dict[str, str]) -> set[tuple[int, str]]:
    nine: dict[int, int] = {}
    for tag, value in state.items():
        if tag.startswith(f"L{PAGEBLOCK_ORDER}."):
            mt = int(tag.split(".")[1])
            for text in value.split(","):
                nine[int(text)] = mt
    out: set[tuple[int, str]] = set()
    for pfn, mt in nine.items():
        q = pfn ^ (1 << PAGEBLOCK_ORDER)
        if mt == MIGRATE_HIGHATOMIC and nine.get(q, MIGRATE_HIGHATOMIC) != MIGRATE_HIGHATOMIC:
            out.add((min(pfn, q), MIGRATETYPE_NAMES[nine[q]].upper()))
    return out


def _note_events(agreement: PathAgreement, op: Op, before: dict[str, str],
                 after: dict[str, str], pfn: int | None) -> None:
    """Count the rare branches the kernel took, from its states around one operation."""
    b_before, b_after = before.get("B", ""), after.get("B", "")
    if op.kind == "alloc" and pfn is not None:
        pb = pfn >> PAGEBLOCK_ORDER
        changed = [i for i, (x, y) in enumerate(zip(b_before, b_after, strict=False)) if x != y]
        if any(b_after[i] == str(op.mt) and b_before[i] in "012" for i in changed):
            agreement.count("claim")
        elif pb < len(b_after) and b_after[pb] in "012" and int(b_after[pb]) != op.mt and \
                b_before[pb] == b_after[pb]:
            agreement.count("steal")
        if any(b_after[i] == str(MIGRATE_HIGHATOMIC) for i in changed):
            agreement.count("highatomic reserve")
    if op.kind == "unreserve" and b_before != b_after:
        agreement.count("highatomic unreserve")
    if (op.kind == "unreserve" and op.mt == MIGRATE_HIGHATOMIC and b_before == b_after
            and before.get("Z", "").split(",")[2:3] != after.get("Z", "").split(",")[2:3]):
        agreement.count("unreserve to HIGHATOMIC (count dropped, pageblocks kept)")
    # a merge refused at pageblock order: two free buddy pageblocks of order 9, one
    # HIGHATOMIC and one of another type, both on the free lists (counted when it appears)
    refused = _refused_merges(after) - _refused_merges(before)
    for pair in refused:
        agreement.count(f"merge refused at pageblock order (HIGHATOMIC and {pair[1]})")
    for tag, value in after.items():
        if tag.startswith("P") and op.kind == "free":
            count_before = before.get(tag, "0").split(",")[0]
            if int(value.split(",")[0]) < int(count_before):
                agreement.count("pcp drained at the high mark")
        if tag.startswith("P") and op.kind == "decay" and before.get(tag) != value:
            agreement.count("decay changed a pageset")


def path_run(harness: PathHarness, config: StreamConfig, ops: Sequence[Op] | Iterator[Op],
             agreement: PathAgreement, *, label: str = "", invariants: int = 1,
             history: int = 8, batch: int = 200, limit: int | None = None) -> None:
    """One stream through the kernel's code and the model; the first divergence stops it.

    The model runs ``batch`` operations ahead; their requests (frees name the model's
    pfns) go to the kernel in one write and the answers are compared in order, so the
    first difference is reported at the operation where it appears. ``limit``: stop after
    that many operations were run (a free with no live block, or a decay on a kernel
    without decay_pcp_high, is skipped and does not count)."""
    started = time.monotonic()
    kernel = KernelSide(harness, config)
    recent: list[str] = []
    index = -1
    op_text = "boot"
    klive: dict[int, int] = {}  # the kernel's allocated blocks, for its invariants
    uncounted = False  # the kernel has unreserved pages to HIGHATOMIC (see ZoneState)

    def diverge(*lines: str) -> None:
        agreement.divergence = [f"{label}zone of {config.describe()}: operation #{index} "
                                f"{op_text}", *lines,
                                "last operations: " + ("; ".join(recent[-history:]) or "none")]
        raise _Stop

    try:
        era = harness.kernel.shape.name
        model = ModelSide(config, era, harness.kernel.version)
        has_decay = harness.kernel.shape.has_decay
        live: dict[int, int] = {}
        order_of: list[int] = []  # live pfns, oldest first (frees pick by ref)
        stream = iter(ops)
        _, kstate = kernel.request(kernel.init_line)
        agreement.states += 1
        mstate = model.dump()
        if kstate != mstate:
            agreement.states_differ = 1
            diverge(*_first_difference(kstate, mstate))
        before = parse_state(kstate)
        while True:
            # -- the model runs ahead -------------------------------------------------
            pending: list[tuple[Op, str, str, int | None, str, tuple[int, int] | None]] = []
            room = batch if limit is None else min(batch, limit - agreement_ops(pending, index))
            for op in stream if room > 0 else ():
                effect = None  # (pfn, order): +alloc / free as negative order
                if op.kind == "decay" and not has_decay:
                    continue
                if op.kind == "alloc":
                    cmd = f"a {op.order} {op.mt} {op.flags} {op.cpu}"
                    mres: int | None = model.alloc(op)
                    text = _describe(op)
                    if mres is not None:
                        live[mres] = op.order
                        order_of.append(mres)
                        effect = (mres, op.order)
                elif op.kind == "free":
                    if not order_of:
                        continue
                    if op.recent:
                        at = len(order_of) - 1 - op.ref % min(len(order_of), 64)
                    else:
                        at = op.ref % len(order_of)
                    pfn = order_of.pop(at)
                    order = live.pop(pfn)
                    cmd = f"f {pfn} {order} {op.cpu}"
                    text = _describe(op, pfn, order)
                    model.free(pfn, order, op.cpu)
                    mres = 0
                    effect = (pfn, -1 - order)
                elif op.kind == "drain":
                    cmd, text = f"d {op.cpu}", _describe(op)
                    model.drain(op.cpu)
                    mres = 0
                elif op.kind == "decay":
                    cmd, text = f"y {op.cpu}", _describe(op)
                    mres = model.decay(op.cpu)
                else:
                    cmd, text = f"u {op.mt} {int(op.force)}", _describe(op)
                    mres = model.unreserve(op.mt, op.force)
                pending.append((op, text, cmd, mres, model.dump(), effect))
                if len(pending) >= room:
                    break
            if not pending:
                break
            answers = kernel.requests([p[2] for p in pending])
            # -- the kernel's answers, in order ----------------------------------------
            for (op, text, _cmd, mres, mstate, effect), (kres, kstate) in zip(pending, answers,
                                                                                strict=False):
                index += 1
                op_text = text
                if op.kind == "alloc":
                    agreement.allocs += 1
                    kpfn = None if kres < 0 else kres
                    op_text += f" -> {_fmt(kpfn)}"
                    if kpfn != mres:
                        op_text = text
                        agreement.pfns_differ = 1
                        diverge(f"the kernel returned {_fmt(kpfn)}, kmem {_fmt(mres)}")
                    if kpfn is None:
                        agreement.fails += 1
                elif op.kind in ("decay", "unreserve") and kres != mres:
                    name = "decay_pcp_high" if op.kind == "decay" else \
                        "unreserve_highatomic_pageblock"
                    diverge(f"{name} returned {bool(kres)} in the kernel, {bool(mres)} in kmem")
                uncounted |= op.kind == "unreserve" and op.mt == MIGRATE_HIGHATOMIC and kres > 0
                if effect is not None:
                    if effect[1] >= 0:
                        klive[effect[0]] = effect[1]
                    else:
                        del klive[effect[0]]
                agreement.ops += 1
                recent.append(op_text)
                if len(recent) > history:
                    del recent[0]
                agreement.states += 1
                after = parse_state(kstate)
                _note_events(agreement, op, before, after, None if op.kind != "alloc" else mres)
                before = after
                if invariants and not agreement.violations and index % invariants == 0:
                    agreement.invariant_checks += 1
                    found = kernel_invariants(kernel_zone_state(config, kstate, klive, era,
                                                                uncounted=uncounted))
                    if found:
                        agreement.violations = [
                            f"{label}zone of {config.describe()}: after operation #{index} "
                            f"{op_text}, the kernel's state breaks the spec's invariants:",
                            *(f"  {v}" for v in found[:5]),
                            "last operations: " + "; ".join(recent[-history:])]
                if kstate != mstate:
                    agreement.states_differ = 1
                    diverge(*_first_difference(kstate, mstate))
    except _Stop:
        pass
    except KernelCrash as exc:
        agreement.divergence = [f"{label}zone of {config.describe()}: operation #{index + 1}: "
                                f"{exc}", *exc.stderr.strip().splitlines()[-5:],
                                "last operations: " + "; ".join(recent[-history:])]
    finally:
        kernel.close()
        agreement.runs += 1
        agreement.seconds += time.monotonic() - started


def agreement_ops(pending: list[Any], index: int) -> int:
    """Operations run so far in this stream (``index`` is the last one answered)."""
    return index + 1 + len(pending)


class _Stop(Exception):
    pass


def _fmt(pfn: int | None) -> str:
    return "fail" if pfn is None else f"{pfn:#x}"


#: zone sizes of the default streams: each has a partial last pageblock; all have a pcp
#: batch above 1 (zone_batchsize: 3 at 16k pages, 7 at 33k, 15 at 66k and 100k) and the
#: zones from 51,200 pages have a highatomic reserve (1 % of the zone >= a pageblock)
DEFAULT_SIZES = (66_000, 33_000, 100_001, 16_500)


def stream_configs(seeds: int, *, sizes: Sequence[int] = DEFAULT_SIZES, ncpus: Sequence[int] = (1, 2, 4),
                   pcp: bool = True) -> list[StreamConfig]:
    """The zone of each seed in turn: sizes and CPU counts cycle."""
    return [StreamConfig(sizes[k % len(sizes)], ncpus[k % len(ncpus)], pcp) for k in range(seeds)]


def conform_path(harness: PathHarness, *, seed: int = 0, seeds: int = 4, ops: int = 20_000,
                 sizes: Sequence[int] = DEFAULT_SIZES, ncpus: Sequence[int] = (1, 2, 4),
                 pcp: bool = True, directed: bool = True, invariants: int = 1,
                 progress: Callable[[str], None] | None = None) -> PathAgreement:
    """``seeds`` random streams of ``ops`` operations (and, with ``directed``, one stream
    of each directed kind first, in the first zone size, which should hold a highatomic
    reserve); stops at the first divergence. ``invariants``: check the spec's invariants
    on the kernel's state after every so many operations (0: never)."""
    agreement = PathAgreement()
    decay = harness.kernel.shape.has_decay
    plan: list[tuple[str, StreamConfig, Iterator[Op]]] = []
    if directed:
        for k, (name, make) in enumerate(DIRECTED.items()):
            config = StreamConfig(sizes[0], ncpus[k % len(ncpus)], pcp)
            plan.append((f"directed stream {name}, ", config,
                         make(config, random.Random(seed * 1000 + k), 1 << 62)))
    for k, config in enumerate(stream_configs(seeds, sizes=sizes, ncpus=ncpus, pcp=pcp)):
        plan.append((f"seed {seed + k}, ", config,
                     random_stream(random.Random(seed + k), config, 1 << 62, decay=decay)))
    for label, config, stream in plan:
        before = agreement.ops
        path_run(harness, config, stream, agreement, label=label, invariants=invariants,
                 limit=min(ops, 5000) if label.startswith("directed") else ops)
        if progress is not None:
            progress(f"  {label}{config.describe()}: {agreement.ops - before} ops, "
                     f"{'agree' if agreement.agrees else 'DIVERGED'}")
        if not agreement.agrees:
            break
    return agreement


__all__ = ["DEFAULT_SIZES", "DIRECTED", "KernelPath", "ModelSide", "Op", "PathAgreement",
           "PathHarness", "SHAPES", "Shape", "ShapeError", "StreamConfig", "build_path_harness",
           "conform_path", "extract_path", "kernel_zone_state", "path_run", "random_stream",
           "tree_version"]
