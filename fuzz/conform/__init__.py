"""``kmem conform``: the real kernel's buddy core as a fuzzing peer.

The functions of the buddy core (``__free_one_page``, ``expand``,
``__rmqueue_smallest``, ``buddy_merge_likely`` and their helpers from mm/page_alloc.c,
mm/internal.h and include/linux/mmzone.h) are extracted *by name* from Debian's
``linux-source-<version>`` package, compiled against kmem's own shim
(``shim.h``: struct page/zone/free_area, the list helpers, VM_BUG_ON always on) and
driver (``harness.c``, the line protocol), and run as a subprocess. The differential
run drives the kernel's code, the model's zone with policy ``"linux"``
(:class:`kmem.model.zone.Zone`) and the spec's oracle (rule ``"linux"``) with the same
seeded streams, and compares after every operation: the returned pfn, every free list
in list order, NR_FREE_PAGES and ``free_area[].nr_free``.

Nothing of the kernel is kept in the repository: the package is fetched with
``apt-get download`` into a cache folder (``$KMEM_CACHE``, else
``$XDG_CACHE_HOME/kmem``, else ``~/.cache/kmem``), only the three source files are
unpacked there, and the build is cached by the hash of its inputs.

Outside this harness: per-CPU page lists (pcp), migratetypes and their fallback,
watermarks, compaction capture, page reporting, shuffling and guard pages (the shim
turns them off); one zone of one migratetype (MIGRATE_MOVABLE), x86-64's
MAX_PAGE_ORDER 10 and pageblock_order 9.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmem.model.zone import Zone
from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import KmemError
from kmem.spec.zones import ZoneSpan, ZoneType

from ..adapters import AdapterError, ZoneConfig
from ..adapters.process import SubprocessAllocator
from ..cbuild import build
from ..check import generate
from ..oracle import OracleViolation, ZoneOracle
from .extract import extract_function

HERE = Path(__file__).parent
KERNELS = ("6.12", "6.1")

#: where each function lives (the first file that defines it wins)
SOURCE_FILES = ("mm/page_alloc.c", "mm/internal.h", "include/linux/mmzone.h")

#: the buddy core, in definition order; (name, required)
FUNCTIONS: tuple[tuple[str, bool], ...] = (
    ("__find_buddy_pfn", True),
    ("buddy_order", True),
    ("page_is_buddy", True),
    ("find_buddy_page_pfn", True),
    ("set_buddy_order", True),
    ("account_freepages", False),          # 6.10+
    ("__add_to_free_list", False),         # 6.10+
    ("add_to_free_list", False),           # up to 6.9 (6.10+ has its own, unused here)
    ("add_to_free_list_tail", False),      # up to 6.9
    ("__del_page_from_free_list", False),  # 6.10+
    ("del_page_from_free_list", True),
    ("get_page_from_free_area", True),
    ("buddy_merge_likely", True),
    ("__free_one_page", True),
    ("expand", True),
    ("page_del_and_expand", False),        # 6.10+
    ("__rmqueue_smallest", True),
)


class ConformError(KmemError):
    """The kernel source could not be fetched, extracted or built."""


def cache_dir() -> Path:
    """``$KMEM_CACHE``, else ``$XDG_CACHE_HOME/kmem``, else ``~/.cache/kmem``."""
    if os.environ.get("KMEM_CACHE"):
        return Path(os.environ["KMEM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kmem"


def _run(cmd: Sequence[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def fetch_deb(version: str, cache: Path, log: Callable[[str], None] = print) -> Path:
    """The ``linux-source-<version>`` .deb in ``cache/debs``, downloaded with ``apt-get
    download`` when it is not there (after ``apt-get update`` if the first try fails)."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    package = f"linux-source-{version}"
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise ConformError(f"{package} is not in {debs} and there is no apt-get to fetch it")
    log(f"  fetching {package} with apt-get download (into {debs})")
    try:
        result = _run(["apt-get", "download", package], debs, 900)
        if result.returncode != 0:
            log("  apt-get download failed; running apt-get update and trying again")
            _run(["apt-get", "update", "-q"], debs, 900)
            result = _run(["apt-get", "download", package], debs, 900)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConformError(f"apt-get download {package}: {exc}") from None
    found = sorted(debs.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not found:
        raise ConformError(f"apt-get download {package} failed: "
                           f"{(result.stderr or result.stdout).strip()[-500:]}")
    return found[-1]


def unpack_sources(deb: Path, version: str, cache: Path,
                   log: Callable[[str], None] = print,
                   files: Sequence[str] = SOURCE_FILES) -> Path:
    """Unpack only ``files`` (default :data:`SOURCE_FILES`) from the package's source
    tarball; returns the tree's root under ``cache/src``."""
    root = cache / "src" / deb.stem
    tree = root / f"linux-source-{version}"
    if all((tree / f).exists() for f in files):
        return tree
    root.mkdir(parents=True, exist_ok=True)
    members = [f"linux-source-{version}/{f}" for f in files]
    log(f"  unpacking {', '.join(files)} from {deb.name}")
    tarball = f"./usr/src/linux-source-{version}.tar.xz"
    try:
        deb_tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                                   stdout=subprocess.PIPE)
        inner = subprocess.Popen(["tar", "-xO", tarball], stdin=deb_tar.stdout,
                                 stdout=subprocess.PIPE)
        assert deb_tar.stdout is not None
        deb_tar.stdout.close()
        result = subprocess.run(["tar", "-xJ", "-C", str(root), *members], stdin=inner.stdout,
                                capture_output=True, text=True, timeout=900)
        inner.wait(timeout=60)
        deb_tar.wait(timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConformError(f"unpacking {deb}: {exc}") from None
    if result.returncode != 0 or not all((tree / f).exists() for f in files):
        raise ConformError(f"unpacking {deb} failed: {result.stderr.strip()[-500:]}")
    return tree


@dataclass(frozen=True)
class KernelCore:
    """The extracted buddy core of one kernel: the functions' text and its sha256."""

    version: str
    package: str  # the .deb's file name
    names: tuple[str, ...]
    text: str
    sha256: str


def extract_core(tree: Path, version: str, package: str) -> KernelCore:
    """Extract :data:`FUNCTIONS` by name from the unpacked tree."""
    sources = [(tree / f).read_text(errors="replace") for f in SOURCE_FILES]
    parts, names = [], []
    have: set[str] = set()
    for name, required in FUNCTIONS:
        if name == "add_to_free_list" and "__add_to_free_list" in have:
            continue  # 6.10+: a different helper of the same name, not used by the core
        text = next((t for src in sources if (t := extract_function(src, name))), None)
        if text is None:
            if required:
                raise ConformError(f"{name} not found in {', '.join(SOURCE_FILES)} of "
                                   f"linux-source-{version}")
            continue
        have.add(name)
        names.append(name)
        parts.append(f"/* {name} */\n{text}\n")
    text = "\n".join(parts)
    return KernelCore(version, package, tuple(names), text,
                      hashlib.sha256(text.encode()).hexdigest())


@dataclass(frozen=True)
class Harness:
    core: KernelCore
    binary: Path
    cached: bool


def build_harness(version: str, cache: Path | None = None, *,
                  log: Callable[[str], None] = print,
                  patch: Callable[[str], str] | None = None) -> Harness:
    """Fetch, unpack, extract and build (each step cached) the harness for ``version``.

    ``patch`` edits the extracted text before it is compiled (the test suite plants
    bugs in the kernel's code this way, to show that a divergence is seen); the hash
    stays the one of the kernel's own text."""
    if version not in KERNELS:
        raise ConformError(f"kernel {version!r}: kmem conform knows {', '.join(KERNELS)}")
    cache = cache or cache_dir()
    deb = fetch_deb(version, cache, log)
    tree = unpack_sources(deb, version, cache, log)
    core = extract_core(tree, version, deb.name)
    work = cache / "conform" / (version if patch is None else f"{version}-patched")
    work.mkdir(parents=True, exist_ok=True)
    unit = work / "kernel_unit.c"
    content = ("/* generated by kmem conform: kmem's shim + the kernel's buddy core "
               f"(linux-source-{version}, {deb.name}) + kmem's harness */\n"
               + ("" if "account_freepages" in core.names else
                  "#define KMEM_CALLER_ACCOUNTS 1  /* before 6.10: rmqueue_buddy accounts */\n")
               + '#include "shim.h"\n\n' + (patch(core.text) if patch else core.text)
               + '\n#include "harness.c"\n')
    if not unit.exists() or unit.read_text() != content:
        unit.write_text(content)
    for name in ("shim.h", "harness.c"):
        shutil.copyfile(HERE / name, work / name)
    before = set(work.glob("harness-*"))
    binary = build([unit], work, "harness", flags=("-O1", "-g", "-w", "-fno-strict-aliasing"),
                   include=(work,), depends=(work / "shim.h", work / "harness.c"))
    return Harness(core, binary, binary in before)


# ---------------------------------------------------------------------------------------------
# The differential run
# ---------------------------------------------------------------------------------------------

@dataclass
class Agreement:
    """Counts of what was compared and what agreed."""

    runs: int = 0
    ops: int = 0
    pfns: int = 0
    pfns_agree: int = 0
    lists: int = 0
    lists_agree: int = 0
    counters: int = 0
    counters_agree: int = 0
    seconds: float = 0.0
    divergence: list[str] = field(default_factory=list)  # the first one, line by line

    @property
    def agrees(self) -> bool:
        return not self.divergence


class _Diverged(Exception):
    pass


class _Live:
    """What :func:`kmem.fuzz.check.generate` reads while it makes a stream."""

    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        self.live: dict[int, tuple[int, int]] = {}
        self.failures = 0


def model_zone(config: ZoneConfig) -> Zone:
    """The model's zone for ``config`` with policy ``"linux"``, booted (the kernel's peer)."""

    span = ZoneSpan(ZoneType.NORMAL, 0, config.npages, reserved=config.reserved_ranges)
    zone = Zone(span, ZoneType.NORMAL.value, policy="linux")
    zone.boot()
    return zone


def free_lists(blocks: Sequence[tuple[int, int]]) -> list[list[int]]:
    """A free-block dump (each order's blocks in list order) as ``free_area[o]`` lists."""
    out: list[list[int]] = [[] for _ in range(MAX_PAGE_ORDER + 1)]
    for pfn, order in blocks:
        out[order].append(pfn)
    return out


def _pfn(pfn: int | None) -> str:
    return "fail" if pfn is None else f"{pfn:#x}"


def _show(pfns: list[int], at: int) -> str:
    lo = max(0, at - 3)
    items = ", ".join(f"{p:#x}" for p in pfns[lo:at + 5])
    return f"[{'..., ' if lo else ''}{items}{', ...' if at + 5 < len(pfns) else ''}] " \
           f"({len(pfns)} blocks)"


def conform_run(harness: Harness, config: ZoneConfig, seed: int, n: int,
                agreement: Agreement) -> None:
    """One seeded stream of ``n`` operations through the kernel's code, the model (policy
    "linux") and the oracle; counts go into ``agreement``, the first divergence stops it."""
    started = time.monotonic()
    kernel = SubprocessAllocator([str(harness.binary)], config, timeout=10.0, start=False)
    zone = model_zone(config)
    oracle = ZoneOracle(0, config.npages, reserved=config.reserved_ranges, rule="linux")
    live = _Live(config)
    index = -1
    op_text = "init"

    def diverge(*lines: str) -> None:
        agreement.divergence = [f"seed {seed}, zone of {config.describe()}: operation #{index} "
                                f"{op_text}", *lines]
        raise _Diverged

    def compare_state() -> None:
        kernel_lists = free_lists(kernel.free_blocks() or [])
        for order in range(MAX_PAGE_ORDER + 1):
            mine = zone.free_list_order(order)
            agreement.lists += 1
            if kernel_lists[order] == mine:
                agreement.lists_agree += 1
                continue
            at = next((i for i, (a, b) in enumerate(zip(kernel_lists[order], mine,
                                                        strict=False)) if a != b),
                      min(len(mine), len(kernel_lists[order])))
            diverge(f"free_area[{order}] differs at list position {at}:",
                    f"  kernel: {_show(kernel_lists[order], at)}",
                    f"  kmem:   {_show(mine, at)}")
        words = kernel.request("stat").split()
        agreement.counters += 1
        k_free, k_nr = int(words[1]), tuple(int(w) for w in words[3:])
        if (k_free, k_nr) != (zone.free_pages, zone.nr_free()):
            diverge(f"counters: kernel NR_FREE_PAGES {k_free}, nr_free {k_nr}; kmem "
                    f"{zone.free_pages}, {zone.nr_free()}")
        agreement.counters_agree += 1

    try:
        kernel.reset(config)
        compare_state()
        for op in generate(random.Random(seed), live, n):
            if op.kind == "free" and op.id not in live.live:
                continue
            index += 1
            agreement.ops += 1
            if op.kind == "alloc":
                op_text = f"alloc(order={op.order})"
                got = kernel.alloc(op.order)
                want = zone.rmqueue_smallest(op.order)
                agreement.pfns += 1
                if got != want:
                    diverge(f"the kernel returned {_pfn(got)}, kmem (policy linux) "
                            f"{_pfn(want)}")
                agreement.pfns_agree += 1
                op_text += f" -> {'fail' if got is None else f'{got:#x}'}"
                oracle.alloc(op.order, got)
                if got is None:
                    live.failures += 1
                else:
                    live.live[op.id] = (got, op.order)
            else:
                pfn, order = live.live.pop(op.id)
                op_text = f"free({pfn:#x}, order={order})"
                kernel.free(pfn, order)
                zone.free_one_page(pfn, order)
                oracle.free(pfn, order)
            compare_state()
    except _Diverged:
        pass
    except OracleViolation as exc:
        agreement.divergence = [f"seed {seed}, zone of {config.describe()}: the spec's oracle "
                                f"refuses the kernel's step: {exc}"]
    except AdapterError as exc:
        stderr = getattr(exc, "stderr", "")
        agreement.divergence = [f"seed {seed}, zone of {config.describe()}: operation #{index} "
                                f"{op_text}: {exc}", *stderr.strip().splitlines()[-5:]]
    finally:
        kernel.close()
        agreement.runs += 1
        agreement.seconds += time.monotonic() - started


def conform(harness: Harness, *, seed: int = 0, seeds: int = 4, ops: int = 3000,
            npages: Sequence[int] = (1000, 4099, 1 << 14), reserved: int = 0,
            progress: Callable[[str], None] | None = None) -> Agreement:
    """Runs over ``seeds`` seeds (zone sizes in turn); stops at the first divergence."""
    agreement = Agreement()
    for k in range(seeds):
        config = ZoneConfig(npages[k % len(npages)], max_order=MAX_PAGE_ORDER,
                            reserved=reserved)
        before = agreement.ops
        conform_run(harness, config, seed + k, ops, agreement)
        if progress is not None:
            progress(f"  seed {seed + k} ({config.npages} pages): {agreement.ops - before} ops, "
                     f"{'agree' if agreement.agrees else 'DIVERGED'}")
        if not agreement.agrees:
            break
    return agreement


__all__ = ["Agreement", "ConformError", "FUNCTIONS", "Harness", "KERNELS", "KernelCore",
           "build_harness", "cache_dir", "conform", "conform_run", "extract_core", "fetch_deb",
           "free_lists", "model_zone", "unpack_sources"]

from .path import (  # noqa: E402  (the whole path builds on the helpers above)
    PathAgreement,
    PathHarness,
    ShapeError,
    build_path_harness,
    conform_path,
    extract_path,
    tree_version,
)

__all__ += ["PathAgreement", "PathHarness", "ShapeError", "build_path_harness", "conform_path",
            "extract_path", "tree_version"]
