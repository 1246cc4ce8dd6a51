"""``kmem conform --kernel 2.6.11 --source DIR``: 2.6.11's page allocator against kmem's.

The functions of 2.6.11's allocator (:data:`FUNCTIONS`: from ``page_is_buddy``,
``__free_pages_bulk``, ``expand``, ``__rmqueue``, ``rmqueue_bulk``, ``buffered_rmqueue``,
``free_hot_cold_page``, ``zone_watermark_ok`` and ``__alloc_pages`` to the boot-time
``free_area_init_core``, ``build_zonelists`` and ``init_per_zone_pages_min``) and the
variables they read (``sysctl_lowmem_reserve_ratio``, ``min_free_kbytes``, ...) are
extracted *by name* from a 2.6.11 tree (``mm/page_alloc.c``, ``lib/int_sqrt.c``,
``kernel/printk.c``), compiled against kmem's own shim (``shim_2611.h``) and driver
(``harness_2611.c``), and run as a subprocess. Each stream boots both sides (2.6.11's
i386 ``mem_init``: order-5 bitmap words, single pages through CPU 0's hot list, then
highmem page by page) and drives them with the same operations: allocations of every
order and gfp mask (hot and cold), frees (hot, cold, higher orders), ``__drain_pages``,
PF_MEMALLOC and realtime callers, time passing (``printk_ratelimit`` refills). After
every operation both sides are compared: the
returned pfn (or failure, or "would loop for ever"), every zone's free lists in list
order, ``nr_free``, ``free_pages``, every CPU's hot and cold list in list order with
``count/low/high/batch``, the watermarks and lowmem_reserve, and the kernel log lines.

Nothing of the kernel is kept: the tree is the user's (``--source DIR``); the build is
cached by the hash of its inputs.
"""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kmem.model.machine_2611 import Machine2611
from kmem.model.zone_2611 import COLD, HOT, Zone2611
from kmem.spec import alloc_2611 as spec
from kmem.spec.errors import AllocationLivelock, KmemError

from ..cbuild import build
from .extract import extract_function

HERE = Path(__file__).parent
NR_CPUS = 4  # the harness's pagesets

HOW_TO_GET = (
    "kmem conform --kernel 2.6.11 needs a Linux 2.6.11 source tree: pass it as --source DIR. "
    "Get one from a tarball (linux-2.6.11.tar.bz2 from the kernel.org archive, "
    "https://cdn.kernel.org/pub/linux/kernel/v2.6/, unpacked) or from a git repository "
    "holding the v2.6.11 tree (the mainline git history starts at 2.6.12-rc2; use a "
    "history repository with the v2.6.11 tag). The tree needs Makefile, mm/page_alloc.c, "
    "lib/int_sqrt.c and kernel/printk.c.")

#: (file, kind, name): kind "f" a function, "fn" the non-NUMA definition of a function,
#: "v" a top-level variable definition, "d" a #define
FUNCTIONS: tuple[tuple[str, str, str], ...] = (
    ("mm/page_alloc.c", "v", "sysctl_lowmem_reserve_ratio"),
    ("mm/page_alloc.c", "v", "zone_table"),
    ("mm/page_alloc.c", "v", "zone_names"),
    ("mm/page_alloc.c", "v", "min_free_kbytes"),
    ("mm/page_alloc.c", "v", "nr_kernel_pages"),
    ("mm/page_alloc.c", "v", "nr_all_pages"),
    ("mm/page_alloc.c", "d", "PAGES_PER_WAITQUEUE"),
    ("lib/int_sqrt.c", "f", "int_sqrt"),
    ("kernel/printk.c", "f", "__printk_ratelimit"),
    ("kernel/printk.c", "v", "printk_ratelimit_jiffies"),
    ("kernel/printk.c", "v", "printk_ratelimit_burst"),
    ("kernel/printk.c", "f", "printk_ratelimit"),
    ("mm/page_alloc.c", "f", "bad_range"),
    ("mm/page_alloc.c", "f", "page_order"),
    ("mm/page_alloc.c", "f", "set_page_order"),
    ("mm/page_alloc.c", "f", "rmv_page_order"),
    ("mm/page_alloc.c", "f", "page_is_buddy"),
    ("mm/page_alloc.c", "f", "__free_pages_bulk"),
    ("mm/page_alloc.c", "f", "free_pages_check"),
    ("mm/page_alloc.c", "f", "free_pages_bulk"),
    ("mm/page_alloc.c", "f", "__free_pages_ok"),
    ("mm/page_alloc.c", "f", "expand"),
    ("mm/page_alloc.c", "f", "set_page_refs"),
    ("mm/page_alloc.c", "f", "prep_new_page"),
    ("mm/page_alloc.c", "f", "__rmqueue"),
    ("mm/page_alloc.c", "f", "rmqueue_bulk"),
    ("mm/page_alloc.c", "f", "__drain_pages"),
    ("mm/page_alloc.c", "f", "zone_statistics"),
    ("mm/page_alloc.c", "f", "free_hot_cold_page"),
    ("mm/page_alloc.c", "f", "free_hot_page"),
    ("mm/page_alloc.c", "f", "free_cold_page"),
    ("mm/page_alloc.c", "f", "prep_zero_page"),
    ("mm/page_alloc.c", "f", "buffered_rmqueue"),
    ("mm/page_alloc.c", "f", "zone_watermark_ok"),
    ("mm/page_alloc.c", "f", "__alloc_pages"),
    ("mm/page_alloc.c", "f", "__free_pages"),
    ("mm/page_alloc.c", "f", "nr_free_zone_pages"),
    ("mm/page_alloc.c", "f", "nr_free_buffer_pages"),
    ("mm/page_alloc.c", "f", "build_zonelists_node"),
    ("mm/page_alloc.c", "fn", "build_zonelists"),
    ("mm/page_alloc.c", "f", "wait_table_size"),
    ("mm/page_alloc.c", "f", "wait_table_bits"),
    ("mm/page_alloc.c", "f", "calculate_zone_totalpages"),
    ("mm/page_alloc.c", "f", "memmap_init_zone"),
    ("mm/page_alloc.c", "f", "zone_init_free_lists"),
    ("mm/page_alloc.c", "f", "free_area_init_core"),
    ("mm/page_alloc.c", "f", "setup_per_zone_lowmem_reserve"),
    ("mm/page_alloc.c", "f", "setup_per_zone_pages_min"),
    ("mm/page_alloc.c", "f", "init_per_zone_pages_min"),
)
SOURCE_FILES = ("Makefile", "mm/page_alloc.c", "lib/int_sqrt.c", "kernel/printk.c")


class Conform2611Error(KmemError):
    """The 2.6.11 tree is missing, is not 2.6.11, lacks a function, or does not build."""


def tree_version(tree: Path) -> tuple[int, int, int]:
    """VERSION, PATCHLEVEL and SUBLEVEL from the tree's top Makefile."""
    try:
        text = (tree / "Makefile").read_text(errors="replace")
    except OSError as exc:
        raise Conform2611Error(f"{tree}: no readable Makefile ({exc.strerror}). "
                               f"{HOW_TO_GET}") from None
    vals = []
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        m = re.search(rf"^{key}\s*=\s*(\d+)\s*$", text, re.M)
        if m is None:
            raise Conform2611Error(f"{tree}/Makefile has no {key} line; not a kernel tree")
        vals.append(int(m.group(1)))
    return (vals[0], vals[1], vals[2])


def _extract_variable(source: str, name: str) -> str | None:
    m = re.search(rf"^[A-Za-z_][^\n;(]*\b{re.escape(name)}\b[^\n;]*;[ \t]*$", source, re.M)
    return m.group(0) if m else None


def _extract_define(source: str, name: str) -> str | None:
    m = re.search(rf"^#define[ \t]+{re.escape(name)}\b[^\n]*$", source, re.M)
    return m.group(0) if m else None


def _extract_non_numa(source: str, name: str) -> str | None:
    m = re.search(r"^#else\s*/\*\s*CONFIG_NUMA\s*\*/", source, re.M)
    return extract_function(source[m.end():], name) if m else None


@dataclass(frozen=True)
class Core2611:
    """The extracted text of one 2.6.11 tree, and its sha256."""

    tree: Path
    version: tuple[int, int, int]
    names: tuple[str, ...]
    text: str
    sha256: str


def extract_2611(tree: Path) -> Core2611:
    """Extract :data:`FUNCTIONS` by name from ``tree`` (a 2.6.11 source tree)."""
    tree = Path(tree)
    if not tree.is_dir():
        raise Conform2611Error(f"--source {tree}: no such directory. {HOW_TO_GET}")
    version = tree_version(tree)
    if version != (2, 6, 11):
        raise Conform2611Error(f"--source {tree} is Linux {'.'.join(map(str, version))}, not "
                               f"2.6.11 (its Makefile says so); --kernel 2.6.11 needs 2.6.11's "
                               f"tree")
    missing = [f for f in SOURCE_FILES if not (tree / f).is_file()]
    if missing:
        raise Conform2611Error(f"--source {tree}: missing {', '.join(missing)}. {HOW_TO_GET}")
    sources = {f: (tree / f).read_text(errors="replace") for f in SOURCE_FILES}
    parts, names = [], []
    extractors: dict[str, Callable[[str, str], str | None]] = {
        "f": extract_function, "fn": _extract_non_numa, "v": _extract_variable,
        "d": _extract_define}
    for path, kind, name in FUNCTIONS:
        text = extractors[kind](sources[path], name)
        if text is None:
            raise Conform2611Error(f"{path} of {tree}: {name} not found (expected 2.6.11's "
                                   f"{'definition of ' if kind != 'd' else ''}{name})")
        names.append(name)
        parts.append(f"/* {path}: {name} */\n{text}\n")
    text = "\n".join(parts)
    return Core2611(tree, version, tuple(names), text, hashlib.sha256(text.encode()).hexdigest())


@dataclass(frozen=True)
class Harness2611:
    core: Core2611
    binary: Path


def build_harness_2611(tree: Path, cache: Path, *,
                       patch: Callable[[str], str] | None = None) -> Harness2611:
    """Extract and build (cached by its inputs' hash). ``patch`` edits the extracted text
    before it is compiled (the tests plant bugs this way); the sha256 stays the tree's."""
    core = extract_2611(tree)
    text = patch(core.text) if patch else core.text
    work = Path(cache) / "conform-2611"
    work.mkdir(parents=True, exist_ok=True)
    unit = work / f"unit-{hashlib.sha256(text.encode()).hexdigest()[:16]}.c"
    unit.write_text(f'#define NR_CPUS {NR_CPUS}\n#include "shim_2611.h"\n\n{text}\n'
                    + (HERE / "harness_2611.c").read_text())
    try:
        binary = build([unit], work, "harness-2611", include=[HERE],
                       depends=[HERE / "shim_2611.h"],
                       flags=("-O1", "-fno-strict-aliasing", "-Werror=implicit-function-declaration"))
    except KmemError as exc:
        raise Conform2611Error(f"building the 2.6.11 harness failed: {exc}") from None
    return Harness2611(core, binary)


# --------------------------------------------------------------------------------------
# The two sides
# --------------------------------------------------------------------------------------

Snapshot = tuple[object, ...]


class KernelSide:
    """The compiled 2.6.11 code behind the line protocol."""

    def __init__(self, binary: Path) -> None:
        self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1)

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        answer = self.proc.stdout.readline()
        if not answer:
            raise Conform2611Error(f"the kernel side died at {line!r}: {self._stderr()}")
        return answer.rstrip("\n")

    def lines_until_end(self, line: str) -> list[str]:
        out = [self.ask(line)]
        while out[-1] != "end":
            out.append(self.ask_more())
        return out[:-1]

    def ask_more(self) -> str:
        assert self.proc.stdout is not None
        answer = self.proc.stdout.readline()
        if not answer:
            raise Conform2611Error(f"the kernel side died: {self._stderr()}")
        return answer.rstrip("\n")

    def _stderr(self) -> str:
        self.proc.kill()
        assert self.proc.stderr is not None
        return self.proc.stderr.read().strip()[-800:] or "(no message)"

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def snapshot(self, ncpus: int) -> Snapshot:
        zones, pcps = [], []
        for line in self.lines_until_end("dump"):
            f = line.split()
            if f[0] == "zone":
                i = f.index("nr_free")
                j = f.index("lists")
                zones.append((int(f[1]), int(f[3]), tuple(map(int, f[5:8])),
                              tuple(map(int, f[9:12])), tuple(map(int, f[i + 1:j])),
                              tuple(f[j + 1:])))
            else:  # pcp Z CPU C count low high batch : pfns
                if int(f[2]) < ncpus:
                    pcps.append((int(f[1]), int(f[2]), int(f[3]), tuple(map(int, f[4:8])),
                                 tuple(map(int, f[9:]))))
        return tuple(zones), tuple(pcps)

    def log(self) -> list[str]:
        return self.lines_until_end("log")


class ModelSide:
    """kmem's :class:`~kmem.model.machine_2611.Machine2611` answering the same requests."""

    def __init__(self, ncpus: int, sizes: tuple[int, int, int], reserved: tuple[int, int]):
        self.m = Machine2611.custom(sizes, reserved=reserved, nr_cpus=ncpus)
        self.held: dict[int, object] = {}
        self.logged = 0

    def alloc(self, cpu: int, gfp: int, order: int) -> str:
        self.m.cpu = cpu
        try:
            page = self.m.alloc_pages(gfp, order)
        except AllocationLivelock:
            return "loop"
        if page is None:
            return "fail"
        self.held[page.pfn] = page
        return str(page.pfn)

    def free(self, cpu: int, pfn: int, order: int, cold: bool) -> None:
        self.m.cpu = cpu
        page = self.held.pop(pfn)
        if cold:
            self.m.free_cold_page(page)  # type: ignore[arg-type]
        else:
            self.m.free_pages(page, order)  # type: ignore[arg-type]

    def snapshot(self, ncpus: int) -> Snapshot:
        zones, pcps = [], []
        for z in self.m.zones:
            assert isinstance(z, Zone2611)
            lists = tuple(f"{pfn}/{o}" for o in range(spec.MAX_ORDER)
                          for pfn in z.free_area[o].free_list)
            zones.append((z.zone_idx, z.free_pages, tuple(z.watermark[:3]),
                          tuple(z.lowmem_reserve), z.nr_free(), lists))
            for cpu in range(ncpus):
                for which in (HOT, COLD):
                    p = z.pageset[cpu][which]
                    pcps.append((z.zone_idx, cpu, which, (p.count, p.low, p.high, p.batch),
                                 tuple(p.list)))
        return tuple(zones), tuple(pcps)

    def log(self) -> list[str]:
        new = self.m.dmesg[self.logged:]
        self.logged = len(self.m.dmesg)
        return list(new)


# --------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------

#: gfp masks of 2.6.11 the streams use (never __GFP_DMA|__GFP_HIGHMEM: no zonelist)
GFPS = (0x20, 0x20, 0x120, 0x22, 0x21, 0x220, 0x0, 0x122, 0x10, 0x1050, 0x10d0, 0x10d2,
        0xd0, 0xd2, 0x1d0, 0x50, 0x450)


@dataclass(frozen=True)
class StreamConfig:
    seed: int
    ncpus: int
    sizes: tuple[int, int, int]
    reserved: tuple[int, int]


def stream_config(seed: int) -> StreamConfig:
    """Zone sizes of every kind: odd, tiny, a Normal zone whose start is not aligned to
    MAX_ORDER-1 (a DMA zone of a multiple of 32 pages, not of 1024), empty HighMem, a
    reserved range. (A zone start that is not a multiple of 32 pages makes 2.6.11 BUG at
    boot, see :meth:`kmem.model.machine_2611.Machine2611.custom`; the streams avoid it.)"""
    rng = random.Random(seed * 7919 + 1)
    kind = seed % 5
    if kind == 0:
        sizes = (4096, rng.randrange(2000, 12000), rng.randrange(0, 6000))
    elif kind == 1:
        sizes = (32 * rng.randrange(10, 128), rng.randrange(500, 9000), rng.randrange(0, 3000))
    elif kind == 2:
        sizes = (4096 + 32 * rng.randrange(1, 32), rng.randrange(1000, 7000), 0)
    elif kind == 3:
        sizes = (32 * rng.randrange(1, 7), rng.randrange(16, 400), rng.randrange(16, 300))
    else:
        sizes = (4096, 4096 * rng.randrange(1, 3) + rng.randrange(0, 33), rng.randrange(1, 5000))
    total = sum(sizes)
    rs = rng.randrange(0, total)
    re_ = min(total, rs + rng.choice((0, 1, 5, 31, 64, 200)))
    return StreamConfig(seed, rng.choice((1, 1, 2, 3)), sizes, (rs, re_))


def _ops(rng: random.Random, held: dict[int, int], ncpus: int, i: int) -> tuple[str, ...]:
    """One operation. Phases of 600 operations alternate between filling (most operations
    allocate: memory runs down to the watermarks and below) and releasing."""
    r = rng.random()
    cpu = rng.randrange(ncpus)
    p_alloc = 0.8 if (i // 600) % 2 == 0 else 0.25
    if r < p_alloc * 0.94 or not held:
        order = rng.choice((0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
        return ("alloc", str(cpu), hex(rng.choice(GFPS)), str(order))
    if r < 0.94:
        pfn = rng.choice(list(held))
        order = held[pfn]
        cold = order == 0 and rng.random() < 0.3
        return ("free", str(cpu), str(pfn), str(order), "1" if cold else "0")
    if r < 0.97:
        return ("drain", str(cpu))
    if r < 0.98:
        return ("memalloc", str(rng.randrange(2)))
    if r < 0.99:
        return ("tick", str(rng.choice((1, 10, 500, 4999, 5000, 20000))))
    return ("rt", str(rng.randrange(2)))


@dataclass
class Agreement2611:
    streams: int = 0
    ops: int = 0
    pfns: int = 0
    pfns_agree: int = 0
    states: int = 0
    states_agree: int = 0
    logs: int = 0
    logs_agree: int = 0
    seconds: float = 0.0
    #: how often each kind of event happened (allocations that failed, would loop, ...)
    events: dict[str, int] = field(default_factory=dict)
    divergence: list[str] = field(default_factory=list)

    def count(self, event: str) -> None:
        self.events[event] = self.events.get(event, 0) + 1

    @property
    def agrees(self) -> bool:
        return not self.divergence


def _diff(k: Snapshot, m: Snapshot) -> str:
    kz, kp = k
    mz, mp = m
    names = ("zone", "free_pages", "min/low/high", "lowmem_reserve", "nr_free",
             "free lists (pfn/order, list order)")
    for a, b in zip(kz, mz, strict=False):  # type: ignore[call-overload]
        for name, x, y in zip(names, a, b, strict=False):
            if x != y:
                return f"zone {a[0]} {name}: kernel {_short(x)} model {_short(y)}"
    for a, b in zip(kp, mp, strict=False):  # type: ignore[call-overload]
        if a != b:
            return (f"zone {a[0]} cpu {a[1]} {('hot', 'cold')[a[2]]} list: kernel count/low/"
                    f"high/batch {a[3]} {_short(a[4])}, model {b[3]} {_short(b[4])}")
    return "snapshots differ"


def _short(x: object) -> str:
    text = str(x)
    return text if len(text) < 300 else text[:300] + "..."


def run_stream(harness: Harness2611, seed: int, ops: int, agreement: Agreement2611,
               ) -> None:
    """One stream: boot both sides, then ``ops`` operations compared after each."""
    cfg = stream_config(seed)
    rng = random.Random(seed)
    kernel = KernelSide(harness.binary)
    try:
        d, n, h = cfg.sizes
        kernel.ask(f"init {cfg.ncpus} {d} {n} {h} {cfg.reserved[0]} {cfg.reserved[1]}")
        model = ModelSide(cfg.ncpus, cfg.sizes, cfg.reserved)
        recent: list[str] = []
        held: dict[int, int] = {}

        def compare(what: str) -> bool:
            ks, ms = kernel.snapshot(cfg.ncpus), model.snapshot(cfg.ncpus)
            agreement.states += 1
            if ks != ms:
                agreement.divergence = [
                    f"stream {seed} ({cfg}), {what}: {_diff(ks, ms)}",
                    "last operations: " + "; ".join(recent[-6:])]
                return False
            agreement.states_agree += 1
            kl, ml = kernel.log(), model.log()
            agreement.logs += 1
            if kl != ml:
                agreement.divergence = [f"stream {seed}, {what}: kernel log {kl}, model log {ml}",
                                        "last operations: " + "; ".join(recent[-6:])]
                return False
            agreement.logs_agree += 1
            for text in kl:
                agreement.count("log: messages suppressed" if "suppressed" in text
                                else "log: allocation failure")
            return True

        if not compare("after boot"):
            return
        for i in range(ops):
            op = _ops(rng, held, cfg.ncpus, i)
            line = " ".join(op)
            recent.append(line)
            agreement.ops += 1
            if op[0] == "alloc":
                got = kernel.ask(line)
                want = model.alloc(int(op[1]), int(op[2], 16), int(op[3]))
                agreement.pfns += 1
                if got != want:
                    agreement.divergence = [
                        f"stream {seed} ({cfg}), operation {i} {line}: kernel returned {got}, "
                        f"model {want}", "last operations: " + "; ".join(recent[-6:])]
                    return
                agreement.pfns_agree += 1
                agreement.count({"fail": "alloc failed", "loop": "alloc would loop"}.get(
                    got, f"alloc order {op[3]}" if op[3] != "0" else "alloc order 0"))
                if got not in ("fail", "loop"):
                    held[int(got)] = int(op[3])
            elif op[0] == "free":
                kernel.ask(line)
                model.free(int(op[1]), int(op[2]), int(op[3]), op[4] == "1")
                agreement.count("free cold" if op[4] == "1" else
                                "free order 0 hot" if op[3] == "0" else "free order > 0")
                del held[int(op[2])]
            elif op[0] == "drain":
                kernel.ask(line)
                model.m.cpu = int(op[1])
                model.m.drain_local_pages()
                agreement.count("drain")
            elif op[0] == "tick":
                kernel.ask(line)
                model.m.advance_clock(int(op[1]) / 1000)
                agreement.count("time passes")
            elif op[0] == "memalloc":
                kernel.ask(line)
                model.m.memalloc = op[1] == "1"
            else:
                kernel.ask(line)
                model.m.rt_task = op[1] == "1"
            if not compare(f"after operation {i} ({line})"):
                return
        bad = model.m.check_invariants()
        if bad:
            agreement.divergence = [f"stream {seed}: the model's invariants: {bad[:3]}"]
    finally:
        kernel.close()
    agreement.streams += 1


def conform_2611(harness: Harness2611, *, seed: int = 0, streams: int = 50, ops: int = 10000,
                 progress: Callable[[str], None] | None = None) -> Agreement2611:
    """Run ``streams`` streams of ``ops`` operations (seeds ``seed``, ``seed + 1``, ...)
    and stop at the first divergence."""
    agreement = Agreement2611()
    started = time.monotonic()
    for s in range(seed, seed + streams):
        run_stream(harness, s, ops, agreement)
        if progress:
            progress(f"stream {s}: {'agrees' if agreement.agrees else 'DIVERGES'}")
        if not agreement.agrees:
            break
    agreement.seconds = time.monotonic() - started
    return agreement


def planted_bugs() -> dict[str, tuple[str, str]]:
    """One-line changes to plant in the extracted text, each of which the streams must
    catch: (text to replace, replacement)."""
    return {
        "__rmqueue takes the tail": ("page = list_entry(area->free_list.next, struct page, lru);",
                                     "page = list_entry(area->free_list.prev, struct page, lru);"),
        "free adds the merged block at the tail": (
            "list_add(&coalesced->lru, &zone->free_area[order].free_list);",
            "list_add_tail(&coalesced->lru, &zone->free_area[order].free_list);"),
        "pcp frees from the head": ("page = list_entry(list->prev, struct page, lru);",
                                    "page = list_entry(list->next, struct page, lru);"),
        "page_is_buddy ignores the order": ("(page_order(page) == order) &&", ""),
        "refill below low, not at low": ("if (pcp->count <= pcp->low)",
                                         "if (pcp->count < pcp->low)"),
        "cold list high 3 batches": ("pcp->high = 2 * batch;", "pcp->high = 3 * batch;"),
        "gfp_high takes a quarter": ("min -= min / 2;", "min -= min / 4;"),
        "printk_ratelimit bursts of 5": ("int printk_ratelimit_burst = 10;",
                                         "int printk_ratelimit_burst = 5;"),
    }


def patcher(old: str, new: str) -> Callable[[str], str]:
    def patch(text: str) -> str:
        if old not in text:
            raise Conform2611Error(f"planted bug: {old!r} is not in the extracted text")
        return text.replace(old, new, 1)
    return patch


__all__ = ["Agreement2611", "Conform2611Error", "Core2611", "FUNCTIONS", "HOW_TO_GET",
           "Harness2611", "build_harness_2611", "conform_2611", "extract_2611", "planted_bugs",
           "patcher", "run_stream", "stream_config", "tree_version"]
