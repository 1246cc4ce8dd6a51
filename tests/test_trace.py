"""``kmem trace``: the checker against synthetic traces with planted violations (each must be
reported under its rule, and only there), lost events (never a false alarm, never hiding
what they cannot explain), every text format, the committed real recording (clean), the
CLI's exit codes and JSON, and the stats picture (rendered, nothing outside the canvas).

Expected values come from the kernel: migratetypes from ``gfp_migratetype``
(include/linux/gfp.h), zones from ``GFP_ZONE_TABLE`` and the recorded zoneinfo, size
classes from ``kmalloc_info[]`` (mm/slab_common.c, 6.12), the fallback table from
``fallbacks[]`` (mm/page_alloc.c), percpu_refill from ``__rmqueue_smallest``
(mm/page_alloc.c:1650, 6.12.117).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kmem.trace import meta as M
from kmem.trace.check import RULES, Checker
from kmem.trace.stats import collect, svg

FIXTURE = Path(__file__).parent / "trace_data" / "perf-6.18"
ZONEINFO = FIXTURE / "proc" / "zoneinfo.before"
KERNEL = "6.18.44-fc-v1300"
NORMAL = 0x200000  # a pfn in the recorded machine's Normal zone (start_pfn 0x100000)


class Trace:
    """Builds a trace in one of the three text formats, one event per call."""

    def __init__(self, fmt: str = "perf") -> None:
        self.fmt = fmt
        self.lines: list[str] = []
        self.t = 100.0

    def event(self, name: str, fields: str, cpu: int = 0) -> Trace:
        self.t += 0.000010
        if self.fmt == "perf":
            self.lines.append(f"{'bash':>16} {1234:>6} [{cpu:03d}] {self.t:12.6f}: "
                              f"{'kmem:' + name:>30}: {fields}\n")
        elif self.fmt == "tracefs":
            self.lines.append(f"{'bash-1234':>16} [{cpu:03d}] ..... {self.t:12.6f}: {name}: "
                              f"{fields}\n")
        else:
            self.lines.append(f"{'bash-1234':>16} [{cpu:03d}] {self.t:12.6f}: {name}: "
                              f"{fields}\n")
        return self

    def alloc(self, pfn: int, order: int = 0, mt: int = 0, gfp: str = "GFP_KERNEL",
              cpu: int = 0) -> Trace:
        return self.event("mm_page_alloc", f"page=0x{pfn:x} pfn=0x{pfn:x} order={order} "
                          f"migratetype={mt} gfp_flags={gfp}", cpu)

    def free(self, pfn: int, order: int = 0, cpu: int = 0) -> Trace:
        return self.event("mm_page_free", f"page=0x{pfn:x} pfn=0x{pfn:x} order={order}", cpu)

    def kmalloc(self, req: int, got: int, gfp: str = "GFP_KERNEL", cpu: int = 0) -> Trace:
        return self.event("kmalloc", f"call_site=f+0x1 ptr=0xffff888100000000 bytes_req={req} "
                          f"bytes_alloc={got} gfp_flags={gfp} node=-1 accounted=false", cpu)

    def lost(self, cpu: int, count: int = 7) -> Trace:
        self.t += 0.000010
        if self.fmt == "perf":
            self.lines.append(f"{'perf':>16} {99:>6} [{cpu:03d}] {self.t:12.6f}: "
                              f"PERF_RECORD_LOST lost {count}\n")
        elif self.fmt == "tracefs":
            self.lines.append(f"CPU:{cpu} [LOST {count} EVENTS]\n")
        else:  # trace-cmd report (trace-read.c: "CPU:%d [%lld EVENTS DROPPED]")
            self.lines.append(f"CPU:{cpu} [{count} EVENTS DROPPED]\n")
        return self


def check(trace: Trace, meta: M.TraceMeta | None = None, strict: bool = True):
    """The report of ``trace`` (strict page tracking: the synthetic traces are complete)."""
    meta = meta or M.plain_meta(KERNEL, ZONEINFO)
    return Checker(meta, strict_tracking=strict).run(trace.lines)


def only(report, rule: str, count: int = 1) -> None:
    """``rule`` has ``count`` findings and every other rule none."""
    got = {name: r.findings for name, r in report.rules.items() if r.findings}
    assert got == ({rule: count} if count else {}), got


def clean_base(t: Trace) -> Trace:
    """A legal stream: allocations of several orders and masks, frees, a split free."""
    t.alloc(NORMAL, 0, 0, "GFP_KERNEL").alloc(NORMAL + 2, 1, 1, "GFP_HIGHUSER_MOVABLE")
    t.alloc(NORMAL + 4, 2, 2, "GFP_KERNEL|__GFP_RECLAIMABLE")
    t.free(NORMAL).free(NORMAL + 2, 1)
    # split pieces of an order-2 block (split_page / ___free_pages' tail frees)
    t.free(NORMAL + 6, 1).free(NORMAL + 5, 0).free(NORMAL + 4, 0)
    t.alloc(NORMAL, 0, 1, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP")
    t.kmalloc(100, 128).kmalloc(8, 8).kmalloc(9000, 16384)  # kmalloc-128; PAGE_SIZE << 2
    return t


@pytest.mark.parametrize("fmt", ["perf", "tracefs", "trace-cmd"])
def test_a_legal_stream_is_clean_in_every_format(fmt):
    rep = check(clean_base(Trace(fmt)))
    assert rep.fmt == fmt
    only(rep, "", 0)
    assert rep.events == 12
    assert rep.rules["zone"].checked == 4 and rep.rules["kmalloc-size"].checked == 3


# -- each planted violation, under its rule ---------------------------------------------

def test_a_pfn_handed_out_twice():
    rep = check(clean_base(Trace()).alloc(NORMAL + 8).alloc(NORMAL + 8))
    only(rep, "double-alloc")
    f = rep.rules["double-alloc"].examples[0]
    assert f.related == [13]  # the first allocation's line


def test_tracking_violations_are_anomalies_unless_strict(tmp_path, kmem_cli):
    # a real kernel allocates and frees some pages without a tracepoint: by default a
    # tracking violation is reported as an anomaly and the check does not fail on it
    t = clean_base(Trace()).alloc(NORMAL + 8).alloc(NORMAL + 8)
    rep = check(t, strict=False)
    only(rep, "", 0)
    assert rep.rules["double-alloc"].anomalies == 1
    path = tmp_path / "t.txt"
    path.write_text("".join(t.lines))
    args = ("trace", "check", str(path), "--kernel", KERNEL, "--zoneinfo", str(ZONEINFO))
    res = kmem_cli(*args)
    assert res.returncode == 0 and "ANOMALY [double-alloc] 1 of 1" in res.stdout, res.stdout
    res = kmem_cli(*args, "--strict-tracking")
    assert res.returncode == 1 and "FINDING [double-alloc] 1 of 1" in res.stdout


def test_a_misaligned_pfn():
    rep = check(clean_base(Trace()).alloc(NORMAL + 0x11, 2))  # order 2 needs a multiple of 4
    only(rep, "align")


def test_a_pfn_in_a_zone_the_mask_forbids():
    # GFP_DMA32 (0x4): gfp_zone = ZONE_DMA32; pfn 0x200000 is in Normal (start_pfn 0x100000)
    rep = check(clean_base(Trace()).alloc(NORMAL + 16, 0, 0, "GFP_DMA32"))
    only(rep, "zone")
    # the same pfn with GFP_KERNEL is fine, and a DMA32 pfn with GFP_DMA32 too
    only(check(clean_base(Trace()).alloc(NORMAL + 16).alloc(0x1000, 0, 0, "GFP_DMA32")), "", 0)


def test_a_wrong_migratetype():
    # GFP_HIGHUSER_MOVABLE has __GFP_MOVABLE: gfp_migratetype = MIGRATE_MOVABLE (1)
    rep = check(clean_base(Trace()).alloc(NORMAL + 16, 0, 0, "GFP_HIGHUSER_MOVABLE"))
    only(rep, "migratetype")
    assert "migratetype=1" in rep.rules["migratetype"].examples[0].expected


def test_a_wrong_kmalloc_size_class():
    # kmalloc(100): kmalloc_size_index[(100 - 1) / 8 = 12] = 7: kmalloc-128, not 96
    rep = check(clean_base(Trace()).kmalloc(100, 96))
    only(rep, "kmalloc-size")
    assert rep.rules["kmalloc-size"].examples[0].expected == "bytes_alloc=128"


def test_a_free_of_the_wrong_order():
    rep = check(clean_base(Trace()).alloc(NORMAL + 16, 1, 0).free(NORMAL + 16, 2))
    only(rep, "free-order")


def test_an_extfrag_fallback_not_in_the_table():
    # fallbacks[MIGRATE_MOVABLE] = {RECLAIMABLE, UNMOVABLE}: MOVABLE is not its own fallback
    t = clean_base(Trace()).event(
        "mm_page_alloc_extfrag", f"page=0x{NORMAL:x} pfn=0x{NORMAL:x} alloc_order=0 "
        "fallback_order=3 pageblock_order=9 alloc_migratetype=1 fallback_migratetype=1 "
        "fragmenting=1 change_ownership=0")
    only(check(t), "extfrag")


def test_an_extfrag_claim_the_kernel_never_makes():
    # a MOVABLE request claims a pageblock only from order >= pageblock_order / 2 = 4
    ev = ("page=0x{p:x} pfn=0x{p:x} alloc_order=0 fallback_order={fo} pageblock_order=9 "
          "alloc_migratetype={am} fallback_migratetype={fm} fragmenting=1 change_ownership=1")
    t = clean_base(Trace()).event("mm_page_alloc_extfrag", ev.format(p=NORMAL, fo=2, am=1, fm=0))
    only(check(t), "extfrag")
    # UNMOVABLE requests claim from any order; MOVABLE from order 4 up
    t = clean_base(Trace()).event("mm_page_alloc_extfrag", ev.format(p=NORMAL, fo=0, am=0, fm=1))
    t.event("mm_page_alloc_extfrag", ev.format(p=NORMAL, fo=4, am=1, fm=0))
    only(check(t), "", 0)


def test_zone_locked_fields():
    ev = "page=0x{p:x} pfn=0x{p:x} order={o} migratetype={m} percpu_refill={r}"
    legal = clean_base(Trace())
    legal.event("mm_page_alloc_zone_locked", ev.format(p=NORMAL + 64, o=0, m=1, r=1))
    legal.event("mm_page_alloc_zone_locked", ev.format(p=NORMAL + 64, o=4, m=1, r=0))
    legal.event("mm_page_alloc_zone_locked", ev.format(p=NORMAL + 64, o=0, m=3, r=0))  # highatomic
    legal.event("mm_page_alloc_zone_locked", ev.format(p=NORMAL + 64, o=0, m=4, r=0))  # CMA
    only(check(legal), "", 0)
    # order 4 is not a pcp order (pcp_allowed_order: <= 3 or 9): percpu_refill is 0
    only(check(clean_base(Trace()).event("mm_page_alloc_zone_locked",
                                         ev.format(p=NORMAL + 64, o=4, m=1, r=1))), "zone-locked")
    # MIGRATE_ISOLATE (5) is never allocated from
    only(check(clean_base(Trace()).event("mm_page_alloc_zone_locked",
                                         ev.format(p=NORMAL + 64, o=0, m=5, r=0))), "zone-locked")


def test_the_kernel_version_decides_the_rules():
    # 6.12's show_gfp_flags prints __GFP_COMP before __GFP_ZERO (the 6.8-6.14 table),
    # 6.15+ in bit order: the same text is right for one and wrong for the other
    t = Trace().alloc(NORMAL, 0, 1, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP")
    only(check(t), "", 0)
    only(check(t, M.plain_meta("6.12.117", ZONEINFO)), "gfp-text")
    t612 = Trace().alloc(NORMAL, 0, 1, "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO")
    only(check(t612, M.plain_meta("6.12.117", ZONEINFO)), "", 0)
    # percpu_refill's rule is known from 6.1 on: older kernels are not judged on it
    ev = f"page=0x{NORMAL:x} pfn=0x{NORMAL:x} order=4 migratetype=1 percpu_refill=1"
    rep = check(Trace().event("mm_page_alloc_zone_locked", ev), M.plain_meta("5.15.0", ZONEINFO))
    only(rep, "", 0)
    assert any("percpu_refill" in n for n in rep.notes)


def test_a_free_list_event_of_a_live_page():
    t = clean_base(Trace()).alloc(NORMAL + 64).event(
        "mm_page_pcpu_drain", f"page=0x{NORMAL + 64:x} pfn=0x{NORMAL + 64:x} order=0 migratetype=0")
    only(check(t), "free-list-live")


def test_gfp_text_that_does_not_print_back():
    # __GFP_IO is part of GFP_KERNEL: show_gfp_flags prints 0xcc0 as "GFP_KERNEL"
    only(check(clean_base(Trace()).alloc(NORMAL + 16, 0, 0, "GFP_KERNEL|__GFP_IO")), "gfp-text")
    only(check(clean_base(Trace()).kmalloc(64, 64, "GFP_KERNEL|__GFP_BOGUS")), "gfp-text")


def test_the_6_18_slab_obj_ext_bit_is_read_from_the_trace():
    # 6.18 with CONFIG_SLAB_OBJ_EXT prints bit 24 as __GFP_NO_OBJ_EXT (format file witness)
    rep = check(clean_base(Trace()).kmalloc(64, 64, "GFP_KERNEL|__GFP_NO_OBJ_EXT"))
    only(rep, "", 0)


def test_raw_masks_must_print_as_the_text():
    t = Trace().alloc(NORMAL, 0, 0, "GFP_KERNEL").kmalloc(64, 64, "GFP_KERNEL|__GFP_ZERO")
    meta = M.plain_meta(KERNEL, ZONEINFO)
    rep = Checker(meta, raw_gfp=["mm_page_alloc 3264\n", "kmalloc 3520\n"]).run(t.lines)
    only(rep, "", 0)
    assert rep.raw_gfp_checked == 2
    # 0xcc0 | __GFP_HIGH (0x20) is not what "GFP_KERNEL|__GFP_ZERO" means
    rep = Checker(meta, raw_gfp=["mm_page_alloc 3264\n", "kmalloc 3296\n"]).run(t.lines)
    only(rep, "gfp-text")
    assert "prints as GFP_KERNEL|__GFP_HIGH" in rep.rules["gfp-text"].examples[0].detail
    # raw masks that belong to other events are not compared (and say so)
    rep = Checker(meta, raw_gfp=["kmalloc 3264\n"]).run(t.lines)
    only(rep, "", 0)
    assert rep.raw_gfp_checked == 0 and "stop matching" in rep.notes[-1]


# -- lost events ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["perf", "tracefs", "trace-cmd"])
def test_lost_events_withdraw_what_they_could_explain(fmt):
    t = Trace(fmt).kmalloc(8, 8, cpu=1)  # CPU 1's last event before its loss
    t.alloc(NORMAL).alloc(NORMAL)  # would be a double-alloc
    t.lost(cpu=1)  # CPU 1's hidden events lie after its last event: they could explain it
    rep = check(t)
    only(rep, "", 0)
    assert rep.rules["double-alloc"].withdrawn == 1
    assert rep.lost_records == 1 and rep.lost_events == 7


@pytest.mark.parametrize("fmt", ["perf", "tracefs"])
def test_lost_events_after_a_finding_do_not_hide_it(fmt):
    t = Trace(fmt).alloc(NORMAL).alloc(NORMAL)
    t.kmalloc(8, 8, cpu=1)  # CPU 1 saw events after the finding ...
    t.lost(cpu=1)  # ... so its loss lies after it
    only(check(t), "double-alloc")


def test_a_tracefs_buffer_that_started_late_withdraws_earlier_findings():
    # tracefs overwrote CPU 1's oldest events: its buffer starts after the finding
    t = Trace("tracefs").alloc(NORMAL).alloc(NORMAL)
    t.lines.append("##### CPU 1 buffer started ####\n")
    t.kmalloc(8, 8, cpu=1)
    rep = check(t)
    only(rep, "", 0)
    assert rep.rules["double-alloc"].withdrawn == 1 and rep.tracking_resets == 1


def test_a_loss_resets_tracking_so_a_hidden_free_is_no_alarm():
    # the free of NORMAL+8 was lost: after the loss NORMAL+8 is unknown, not live
    t = clean_base(Trace()).alloc(NORMAL + 8).lost(cpu=0).alloc(NORMAL + 8).free(NORMAL + 8)
    t.free(NORMAL + 8, 1)  # order 1 over [NORMAL+8, NORMAL+10): both unknown after the loss
    rep = check(t)
    only(rep, "", 0)
    assert rep.tracking_resets == 1
    assert sum(r.anomalies + r.withdrawn for r in rep.rules.values()) == 0


# -- recordings, the committed fixture, the CLI ---------------------------------------------

def test_the_committed_real_recording_checks_clean():
    meta, events = M.load_recording(FIXTURE)
    assert meta.version == KERNEL and meta.slab and meta.zones
    assert not meta.gfp_table_problems  # the spec's table is the kernel's own
    from kmem.trace.reader import text_lines

    assert meta.raw_gfp is not None
    rep = Checker(meta, strict_tracking=True, raw_gfp=text_lines(meta.raw_gfp)).run(
        text_lines(events))
    only(rep, "", 0)
    assert rep.events > 100_000
    # every gfp event's raw mask (perf's Python scripting) printed as its text
    assert rep.raw_gfp_checked == sum(rep.by_event.get(e, 0) for e in
                                      ("mm_page_alloc", "kmalloc", "kmem_cache_alloc"))
    for rule in ("gfp-text", "migratetype", "zone", "double-alloc", "kmalloc-size",
                 "slab-geometry", "zone-locked"):
        assert rep.rules[rule].checked > 0, rule


def _copy_fixture(tmp_path: Path) -> Path:
    rec = tmp_path / "rec"
    shutil.copytree(FIXTURE, rec)
    return rec


def test_the_kernels_gfp_table_is_compared_with_the_spec(tmp_path):
    rec = _copy_fixture(tmp_path)
    fmt = rec / "formats" / "mm_page_alloc.format"
    fmt.write_text(fmt.read_text().replace('"__GFP_NOWARN"', '"__GFP_NOWARN_X"'))
    meta, _ = M.load_recording(rec)
    assert any("__GFP_NOWARN" in p for p in meta.gfp_table_problems)


def test_slab_geometry_from_the_recording(tmp_path, kmem_cli):
    rec = _copy_fixture(tmp_path)
    geo = json.loads((rec / "slab.json").read_text())["filp"]
    ev = "call_site=f+0x1 ptr=0xffff888100000000 name=filp bytes_req={r} bytes_alloc={a} " \
         "gfp_flags=GFP_KERNEL node=-1 accounted=true"
    t = Trace().event("kmem_cache_alloc", ev.format(r=geo["object_size"], a=geo["slab_size"]))
    t.event("kmem_cache_alloc", ev.format(r=geo["object_size"], a=geo["slab_size"] + 8))
    import gzip

    with gzip.open(rec / "events.txt.gz", "wt") as fh:
        fh.writelines(t.lines)
    res = kmem_cli("trace", "check", str(rec), "--json")
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert out["rules"]["slab-geometry"] == {**out["rules"]["slab-geometry"], "checked": 2,
                                             "findings": 1}


def test_cli_exit_codes(tmp_path, kmem_cli):
    good = tmp_path / "good.txt"
    good.write_text("".join(clean_base(Trace()).lines))
    bad = tmp_path / "bad.txt"
    bad.write_text("".join(clean_base(Trace()).alloc(NORMAL + 0x11, 2).lines))
    args = ("--kernel", KERNEL, "--zoneinfo", str(ZONEINFO))
    res = kmem_cli("trace", "check", str(good), *args)
    assert res.returncode == 0 and "clean" in res.stdout, res.stdout + res.stderr
    res = kmem_cli("trace", "check", str(bad), *args)
    assert res.returncode == 1 and "FINDING [align]" in res.stdout
    assert "pfn 0x200011 is not aligned to 2^2" in res.stdout
    res = kmem_cli("trace", "check", str(bad), *args, "--json")
    assert json.loads(res.stdout)["rules"]["align"]["findings"] == 1
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\nworld\n")
    for path in (str(junk), str(tmp_path / "missing")):
        res = kmem_cli("trace", "check", path)
        assert res.returncode == 2
        assert res.stderr.startswith("kmem trace: error: ") and res.stderr.count("\n") == 1
        assert "Traceback" not in res.stderr
    res = kmem_cli("trace", "check", str(FIXTURE))
    assert res.returncode == 0 and "clean" in res.stdout, res.stdout[-2000:]
    assert set(RULES) <= set(res.stdout.split())


def test_record_without_root_is_a_clear_error(monkeypatch):
    import os

    from kmem.spec.errors import InvalidArgument
    from kmem.trace import record as R

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(InvalidArgument, match="needs root"):
        R.record(seconds=1, events="page", output=None)


# -- stats -------------------------------------------------------------------------------------

def test_stats_count_what_the_trace_holds():
    t = clean_base(Trace()).event(
        "mm_page_alloc_extfrag", f"page=0x{NORMAL:x} pfn=0x{NORMAL:x} alloc_order=0 "
        "fallback_order=3 pageblock_order=9 alloc_migratetype=0 fallback_migratetype=1 "
        "fragmenting=1 change_ownership=1")
    st = collect(M.plain_meta(KERNEL, ZONEINFO), t.lines, buckets=5)
    assert st.events == 13
    assert st.allocs == {(0, 0): 1, (1, 1): 1, (2, 2): 1, (0, 1): 1}
    assert st.frees == {0: 3, 1: 2}
    assert st.fallbacks == {(0, 1, 1): 1}
    assert sum(r["fallbacks"] for r in st.series) == 1
    # pages allocated minus pages freed: 1 + 2 + 4 + 1 - (1 + 2 + 2 + 1 + 1) = 1
    assert st.series[-1]["live_pages"] == 1


def test_the_stats_picture_stays_on_its_canvas():
    from tests.test_vmmap_svg import ink_outside, render

    meta, events = M.load_recording(FIXTURE)
    from kmem.trace.reader import text_lines

    st = collect(meta, text_lines(events), buckets=40)
    img, w, h = render(svg(st))
    assert ink_outside(img, w, h) == []


def test_the_rule_count_quoted_is_the_code_s():
    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/trace.md"):
        assert f"{len(RULES)} rules" in (root / doc).read_text(), doc
