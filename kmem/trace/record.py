"""``kmem trace record``: record this machine's kmem tracepoints with perf (or tracefs directly
where perf is missing), and save beside the events what a check needs: ``uname -r``,
/proc/zoneinfo, buddyinfo and pagetypeinfo before and after, the events' format files and
the slab caches' geometry from /sys/kernel/slab.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from kmem.spec.errors import InvalidArgument

from .meta import EVENT_SETS, EVENTS_FILE, META_FILE, RECORDING_FORMAT

TRACEFS_DIRS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
PROC_FILES = ("zoneinfo", "buddyinfo", "pagetypeinfo")


def tracefs_dir() -> Path:
    """The mounted tracefs with the kmem events (mounting it at /sys/kernel/tracing if it
    is not, as root may)."""
    for d in TRACEFS_DIRS:
        if (d / "events" / "kmem").is_dir():
            return d
    d = TRACEFS_DIRS[0]
    if d.is_dir():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(d)], capture_output=True,
                       check=False)
        if (d / "events" / "kmem").is_dir():
            return d
    raise InvalidArgument("tracefs with the kmem events is not available (mount it: mount -t "
                          "tracefs nodev /sys/kernel/tracing; the kernel needs CONFIG_TRACING)")


def _snapshot_proc(out: Path, when: str) -> None:
    (out / "proc").mkdir(exist_ok=True)
    for name in PROC_FILES:
        try:
            text = Path("/proc", name).read_text()
        except OSError:
            continue
        (out / "proc" / f"{name}.{when}").write_text(text)


def _slab_geometry() -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    base = Path("/sys/kernel/slab")
    if not base.is_dir():
        return out
    for d in sorted(base.iterdir()):
        try:
            out[d.name] = {"object_size": int((d / "object_size").read_text()),
                           "slab_size": int((d / "slab_size").read_text())}
        except (OSError, ValueError):
            continue
    return out


def record(*, seconds: float, events: str, output: str | None, tool: str = "auto",
           keep_perf_data: bool = False) -> Path:
    """Record and return the recording directory."""
    if not 0 < seconds <= 3600:
        raise InvalidArgument(f"--seconds must be in (0, 3600], got {seconds}")
    if os.geteuid() != 0:
        raise InvalidArgument("recording the kmem tracepoints needs root (perf -a and tracefs "
                              "are root-only): run kmem trace record as root, e.g. with sudo")
    tfs = tracefs_dir()
    names = EVENT_SETS[events]
    perf = shutil.which("perf")
    if tool == "perf" and perf is None:
        raise InvalidArgument("--tool perf: perf is not installed (install linux-perf, or use "
                              "--tool tracefs)")
    use_perf = perf is not None and tool != "tracefs"
    out = Path(output or f"kmem-trace-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    if out.exists() and any(out.iterdir()):
        raise InvalidArgument(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    (out / "formats").mkdir()
    for name in names:
        fmt = tfs / "events" / "kmem" / name / "format"
        if fmt.is_file():
            (out / "formats" / f"{name}.format").write_text(fmt.read_text())
    (out / "slab.json").write_text(json.dumps(_slab_geometry(), indent=0, sort_keys=True))
    meta: dict[str, object] = {
        "format": RECORDING_FORMAT, "version": 1, "kernel": platform.release(),
        "machine": platform.machine(), "nr_cpus": os.cpu_count(), "events": list(names),
        "seconds": seconds, "tool": "perf" if use_perf else "tracefs",
        "started": datetime.now(UTC).isoformat(timespec="seconds"), "events_file": EVENTS_FILE,
    }
    _snapshot_proc(out, "before")
    if use_perf:
        assert perf is not None
        meta.update(_record_perf(perf, out, names, seconds, keep_perf_data))
    else:
        meta.update(_record_tracefs(tfs, out, names, seconds))
    _snapshot_proc(out, "after")
    (out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return out


def _record_perf(perf: str, out: Path, names: tuple[str, ...], seconds: float,
                 keep: bool) -> dict[str, object]:
    data = out / "perf.data"
    cmd = [perf, "record", "-q", "-a", "-m", "4M", "-o", str(data)]
    for name in names:
        cmd += ["-e", f"kmem:{name}"]
    cmd += ["--", "sleep", f"{seconds:g}"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0 or not data.is_file():
        raise InvalidArgument(f"perf record failed (exit {res.returncode}): "
                              f"{res.stderr.strip()[-300:]}")
    lost = 0
    with gzip.open(out / EVENTS_FILE, "wt", compresslevel=6) as gz:
        proc = subprocess.Popen([perf, "script", "--show-lost-events", "-i", str(data)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            if "PERF_RECORD_LOST" in line:
                m = re.search(r"lost (\d+)", line)
                lost += int(m.group(1)) if m else 0
            gz.write(line)
        rc = proc.wait()
    if rc != 0:
        raise InvalidArgument(f"perf script failed (exit {rc})")
    raw = _perf_raw_gfp(perf, data, out)
    if not keep:
        data.unlink()
    return {"command": " ".join(["perf", "record", "-a", "-m", "4M"] +
                                [f"-e kmem:{n}" for n in names] + ["--", "sleep", f"{seconds:g}"]),
            "perf_lost": {"lost_records": lost}, **raw}


RAW_FILE = "raw-gfp.txt.gz"


def _perf_raw_gfp(perf: str, data: Path, out: Path) -> dict[str, object]:
    """The raw gfp masks of the events, in event order, through perf's Python scripting
    (kmem/trace/perf_gfp_raw.py); nothing where perf lacks Python."""
    script = Path(__file__).with_name("perf_gfp_raw.py")
    with gzip.open(out / RAW_FILE, "wt") as gz:
        proc = subprocess.Popen([perf, "script", "-i", str(data), "-s", str(script)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        shutil.copyfileobj(proc.stdout, gz, 1 << 20)
        rc = proc.wait()
    if rc != 0:
        (out / RAW_FILE).unlink()
        return {"raw_gfp": None}
    return {"raw_gfp": RAW_FILE}


def _record_tracefs(tfs: Path, out: Path, names: tuple[str, ...],
                    seconds: float) -> dict[str, object]:
    inst = tfs / "instances" / f"kmem_trace_{os.getpid()}"
    try:
        inst.mkdir()
    except OSError as exc:
        raise InvalidArgument(f"cannot create a tracefs instance {inst}: {exc}") from None
    try:
        (inst / "buffer_size_kb").write_text("32768")
        for name in names:
            (inst / "events" / "kmem" / name / "enable").write_text("1")
        (inst / "tracing_on").write_text("1")
        time.sleep(seconds)
        (inst / "tracing_on").write_text("0")
        with open(inst / "trace") as src, gzip.open(out / EVENTS_FILE, "wt") as gz:
            shutil.copyfileobj(src, gz, 1 << 20)
        for name in names:
            (inst / "events" / "kmem" / name / "enable").write_text("0")
    finally:
        try:
            inst.rmdir()
        except OSError:
            pass
    return {"command": f"tracefs instance, buffer_size_kb 32768, events "
                       f"{', '.join('kmem:' + n for n in names)}, {seconds:g} s"}
