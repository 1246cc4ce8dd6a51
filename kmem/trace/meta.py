"""What a check needs to know about the machine a trace came from: the kernel version, its
gfp print table, its zones (all nodes), its slab caches' geometry and its CPU count.

A ``kmem trace record`` directory holds all of it (``meta.json`` and the files beside it);
plain text from ``perf script``, ``trace-cmd report`` or tracefs carries none of it, so the
check takes ``--kernel`` and ``--zoneinfo`` instead (and skips the zone rule without one).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from kmem.spec import gfp as G
from kmem.spec.errors import InvalidArgument
from kmem.spec.gfp_profiles import GfpProfile
from kmem.spec.kernel import Kernel
from kmem.spec.kernel import kernel as kernel_rules
from kmem.spec.migrate import PAGEBLOCK_ORDER
from kmem.spec.procfs import ZoneinfoZone, config_from_zoneinfo, parse_zoneinfo
from kmem.spec.tracepoints import mobility_grouping_disabled
from kmem.spec.zones import ZoneConfig, ZoneType

#: the name meta.json carries in "format"
RECORDING_FORMAT = "kmem-trace-recording"
META_FILE = "meta.json"
EVENTS_FILE = "events.txt.gz"

#: the events a recording asks for, by --events choice
PAGE_EVENTS = ("mm_page_alloc", "mm_page_free", "mm_page_free_batched", "mm_page_pcpu_drain",
               "mm_page_alloc_zone_locked", "mm_page_alloc_extfrag")
SLAB_EVENTS = ("kmalloc", "kmem_cache_alloc", "kfree", "kmem_cache_free")
EVENT_SETS = {"page": PAGE_EVENTS, "slab": SLAB_EVENTS, "all": PAGE_EVENTS + SLAB_EVENTS}


@dataclass(frozen=True)
class SlabGeometry:
    """One cache's /sys/kernel/slab/<name>/{object_size,slab_size}: what ``kmem_cache_alloc``
    reports as bytes_req (``s->object_size``) and bytes_alloc (``s->size``)."""

    object_size: int
    slab_size: int


@dataclass
class TraceMeta:
    """The machine of one trace. ``zones`` empty: the zone rule cannot be checked."""

    kernel: Kernel
    profile: GfpProfile
    zones: tuple[ZoneinfoZone, ...] = ()
    slab: dict[str, SlabGeometry] = field(default_factory=dict)
    nr_cpus: int | None = None
    source: str = "plain text"
    notes: list[str] = field(default_factory=list)
    #: perf's count of samples lost that the text does not place (PERF_RECORD_LOST_SAMPLES
    #: beyond the PERF_RECORD_LOST lines): the tracking rules cannot be trusted then
    unplaced_lost: int = 0
    gfp_table_problems: list[str] = field(default_factory=list)
    #: a recording's raw gfp masks (perf_gfp_raw.py output), if it has them
    raw_gfp: Path | None = None
    info: dict[str, object] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.kernel.version)

    @property
    def config(self) -> ZoneConfig | None:
        if not self.zones:
            return None
        return config_from_zoneinfo(self.zones, self.zones[0].node)

    @property
    def pageblock_order(self) -> int:
        """x86-64's ``pageblock_order`` (HUGETLB_PAGE_ORDER, 9)."""
        return PAGEBLOCK_ORDER

    @property
    def mobility_disabled(self) -> bool:
        """``page_group_by_mobility_disabled`` from the recorded zones (False without them:
        every machine big enough to trace has grouping on)."""
        if not self.zones:
            return False
        total = sum(max(0, z.managed - z.high) for z in self.zones
                    if z.ztype is not ZoneType.DEVICE)
        return mobility_grouping_disabled(total, self.pageblock_order)


# --------------------------------------------------------------------------------------
# the kernel's own gfp print table, from a format file
# --------------------------------------------------------------------------------------

_ENTRY_RE = re.compile(r'\{\s*\(\s*unsigned long\s*\)\s*(.*?),\s*"(\w+)"\s*\}')
_SAFE_EXPR = re.compile(r"^[0-9xXa-fA-F()|&~<> ]*$")


def format_gfp_table(format_text: str) -> tuple[tuple[str, int], ...]:
    """The ``__print_flags`` table of the gfp_flags field in a tracepoint format file, as
    (name, value) pairs in table order: each value is the kernel's own C expression,
    evaluated (casts and ``UL`` suffixes dropped). Empty if the format has none."""
    start = format_text.find("__print_flags(REC->gfp_flags")
    if start < 0:
        return ()
    end = format_text.find("{ 0, ((void *)0) }", start)
    body = format_text[start:end if end > 0 else len(format_text)]
    out = []
    for m in _ENTRY_RE.finditer(body):
        expr = re.sub(r"\(\s*(?:gfp_t|unsigned long|unsigned int)\s*\)", "", m.group(1))
        expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uU]?[lL]{0,2}\b", r"\1", expr)
        if not _SAFE_EXPR.match(expr):
            raise InvalidArgument(f"format file: cannot read the gfp table entry {m.group(2)}: "
                                  f"{m.group(1)[:80]}")
        value = eval(expr, {"__builtins__": {}}, {})  # noqa: S307 - digits and operators only
        out.append((m.group(2), value & 0xFFFFFFFF))
    return tuple(out)


def profile_for(version: str, formats: dict[str, str]) -> tuple[GfpProfile, list[str]]:
    """The gfp profile of ``version`` configured as the recorded format files show (which of
    __GFP_SKIP_KASAN, __GFP_NOLOCKDEP, __GFP_NO_OBJ_EXT the kernel's table names), and every
    difference between the spec's print table and the kernel's own."""
    text = next((t for name, t in sorted(formats.items()) if "__print_flags(REC->gfp_flags" in t),
                "")
    kasan = "__GFP_SKIP_KASAN" in text
    lockdep = "__GFP_NOLOCKDEP" in text
    obj_ext = "__GFP_NO_OBJ_EXT" in text
    profile = G.configured_profile(version, kasan_hw_tags=kasan, lockdep=lockdep,
                                   slab_obj_ext=obj_ext)
    problems: list[str] = []
    for fname, ftext in sorted(formats.items()):
        if "__print_flags(REC->gfp_flags" not in ftext:
            continue
        kernel_table = format_gfp_table(ftext)
        if kernel_table == profile.print_table:
            continue
        spec = dict(profile.print_table)
        kern = dict(kernel_table)
        found = [f"{fname}: {name}: spec {spec.get(name, 'absent')!s} kernel "
                 f"{kern.get(name, 'absent')!s}"
                 for name in sorted(set(spec) | set(kern)) if spec.get(name) != kern.get(name)]
        problems.extend(found or [
            f"{fname}: same entries, different order: spec "
            f"{[n for n, _ in profile.print_table]} kernel {[n for n, _ in kernel_table]}"])
    return profile, problems


# --------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------

def is_recording(path: Path) -> bool:
    return path.is_dir() and (path / META_FILE).is_file()


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def load_recording(path: Path) -> tuple[TraceMeta, Path]:
    """The metadata of a ``kmem trace record`` directory and the path of its events."""
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{path / META_FILE}: cannot read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != RECORDING_FORMAT:
        raise InvalidArgument(f"{path / META_FILE}: not a kmem trace recording")
    version = meta.get("kernel")
    if not isinstance(version, str):
        raise InvalidArgument(f"{path / META_FILE}: no kernel version")
    formats: dict[str, str] = {}
    fdir = path / "formats"
    if fdir.is_dir():
        for f in sorted(fdir.iterdir()):
            formats[f.name.removesuffix(".format")] = _read_text(f)
    profile, problems = profile_for(version, formats)
    zones: tuple[ZoneinfoZone, ...] = ()
    for name in ("zoneinfo.before", "zoneinfo.before.gz"):
        zpath = path / "proc" / name
        if zpath.is_file():
            zones = parse_zoneinfo(_read_text(zpath))
            break
    slab: dict[str, SlabGeometry] = {}
    spath = path / "slab.json"
    if spath.is_file():
        try:
            raw = json.loads(_read_text(spath))
            slab = {name: SlabGeometry(int(v["object_size"]), int(v["slab_size"]))
                    for name, v in raw.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidArgument(f"{spath}: cannot read the slab geometry: {exc}") from None
    events = path / str(meta.get("events_file", EVENTS_FILE))
    if not events.is_file():
        raise InvalidArgument(f"{path}: the events file {events.name} is missing")
    nr_cpus = meta.get("nr_cpus")
    lost = meta.get("perf_lost") or {}
    unplaced = 0
    if isinstance(lost, dict):
        unplaced = max(0, int(lost.get("lost_samples", 0)) - int(lost.get("lost_records", 0)))
    raw = meta.get("raw_gfp")
    raw_path = path / raw if isinstance(raw, str) and (path / raw).is_file() else None
    tm = TraceMeta(kernel=kernel_rules(version), profile=profile, zones=zones, slab=slab,
                   raw_gfp=raw_path,
                   nr_cpus=nr_cpus if isinstance(nr_cpus, int) else None,
                   source=f"kmem trace record ({meta.get('tool', '?')})",
                   unplaced_lost=unplaced, gfp_table_problems=problems, info=meta)
    return tm, events


def plain_meta(kernel: str | None, zoneinfo: Path | None) -> TraceMeta:
    """The metadata for plain text: ``kernel`` (default: the newest kmem knows) and the
    zones of a /proc/zoneinfo copy (none: the zone rule is not checked)."""
    notes = []
    if kernel is None:
        notes.append(f"no --kernel: checked against the newest kernel kmem follows "
                     f"({kernel_rules().version})")
    rules = kernel_rules(kernel)
    zones: tuple[ZoneinfoZone, ...] = ()
    if zoneinfo is not None:
        try:
            zones = parse_zoneinfo(_read_text(zoneinfo))
        except OSError as exc:
            raise InvalidArgument(f"{zoneinfo}: cannot read: {exc}") from None
    else:
        notes.append("no --zoneinfo: the zone rule is not checked")
    notes.append("plain text carries no slab geometry: slab-geometry is not checked")
    return TraceMeta(kernel=rules, profile=G.configured_profile(str(rules.version)), zones=zones,
                     notes=notes)
