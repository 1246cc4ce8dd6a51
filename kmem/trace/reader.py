"""Reading traces: ``perf script`` text, ``trace-cmd report`` text, tracefs's ``trace`` /
``trace_pipe``, perf.data files (through ``perf script``) and ``kmem trace record``
directories, plain or gzip-compressed, detected from their content. Lines are streamed:
nothing is held but the line being read.
"""

from __future__ import annotations

import gzip
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from kmem.spec.errors import InvalidArgument

PERF = "perf"
TRACEFS = "tracefs"
TRACE_CMD = "trace-cmd"

#: a tracefs or trace-cmd event line: comm-pid, [cpu], optional irq flags, time, name, fields
TEXT_EVENT_RE = re.compile(
    r"^\s*(?P<task>.*?)\s+\[(?P<cpu>\d+)\]\s+(?:[\w.]{4,6}\s+)?(?P<time>\d+\.\d+):\s+"
    r"(?:(?P<sys>\w+):)?(?P<name>\w+):\s*(?P<rest>.*)$")
#: a perf script event line (the default fields): comm, pid, [cpu], time, sys:name, fields
PERF_EVENT_RE = re.compile(
    r"^\s*(?P<task>.*?)\s+\[(?P<cpu>\d+)\]\s+(?P<time>\d+\.\d+):\s+(?P<sys>\w+):(?P<name>\w+):"
    r"\s?(?P<rest>.*)$")
#: tracefs: "CPU:3 [LOST 120 EVENTS]" (or "[LOST EVENTS]"); trace-cmd report: "CPU:3 [120
#: EVENTS DROPPED]" (or "[EVENTS DROPPED]"): the count, where given, is group 2 or 3
TEXT_LOST_RE = re.compile(
    r"CPU:\s*(\d+)\s+\[(?:LOST (\d+) EVENTS|LOST EVENTS|(\d+) EVENTS DROPPED|EVENTS DROPPED)\]")
#: tracefs: "##### CPU 3 buffer started ####" (the older events of that CPU were overwritten)
TEXT_STARTED_RE = re.compile(r"#+ CPU (\d+) buffer started")
#: perf script --show-lost-events
PERF_LOST_RE = re.compile(r"\[(\d+)\][^:]*:\s+PERF_RECORD_LOST(?:_SAMPLES)? lost (\d+)")


def _open_bytes(path: Path) -> io.BufferedReader | gzip.GzipFile:
    fh = open(path, "rb")  # noqa: SIM115 - returned to the caller
    magic = fh.peek(8)[:8] if hasattr(fh, "peek") else b""
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh)
    return fh


def is_perf_data(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == b"PERFILE2"
    except OSError:
        return False


def perf_script_lines(path: Path) -> Iterator[str]:
    """``perf script --show-lost-events -i PATH``, streamed."""
    perf = shutil.which("perf")
    if perf is None:
        raise InvalidArgument(f"{path} is a perf.data file and reading it needs perf, which is "
                              "not installed (install linux-perf, or give the text of "
                              "`perf script --show-lost-events`)")
    proc = subprocess.Popen([perf, "script", "--show-lost-events", "-i", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            errors="replace", bufsize=1 << 20)
    assert proc.stdout is not None
    try:
        yield from proc.stdout
    finally:
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0:
        raise InvalidArgument(f"perf script -i {path} failed (exit {rc})")


def text_lines(path: Path) -> Iterator[str]:
    """The lines of a text file (gzip or plain; '-' is stdin)."""
    if str(path) == "-":
        import sys

        yield from io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        return
    try:
        raw = _open_bytes(path)
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read: {exc.strerror or exc}") from None
    with io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None) as fh:
        try:
            yield from fh
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InvalidArgument(f"{path}: cannot read: {exc}") from None


def detect(line: str) -> str | None:
    """The format a line belongs to, or None if it is no event line (headers, comments)."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    if PERF_EVENT_RE.match(line):
        m = PERF_EVENT_RE.match(line)
        assert m is not None
        # perf prints "sys:name:"; tracefs and trace-cmd print "name:" only
        return PERF if m.group("sys") else None
    m2 = TEXT_EVENT_RE.match(line)
    if m2:
        # tracefs prints the irq-flags column ("d..1."), trace-cmd report does not
        head = line[:m2.start("time")]
        return TRACEFS if re.search(r"\]\s+[\w.]{4,6}\s+$", head) else TRACE_CMD
    return None


def perf_data_release(path: Path) -> str | None:
    """The ``uname -r`` perf recorded in a perf.data header ("# os release : ..."), or None."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    res = subprocess.run([perf, "report", "--header-only", "-i", str(path)],
                         capture_output=True, text=True, errors="replace", check=False)
    m = re.search(r"^# os release : (\S+)", res.stdout, re.M)
    return m.group(1) if m else None
