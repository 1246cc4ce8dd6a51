"""``kmem trace record`` and ``kmem trace check`` on this machine's own kernel (``live``):
a few seconds recorded with perf (or tracefs), checked clean. Skipped, with the reason,
where root, tracefs or the kmem tracepoints are missing."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.live


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "recording the kmem tracepoints needs root"
    from kmem.spec.errors import InvalidArgument
    from kmem.trace.record import tracefs_dir

    try:
        tracefs_dir()
    except InvalidArgument as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("tool", ["perf", "tracefs"])
def test_record_and_check_this_kernel(tmp_path, kmem_cli, tool):
    why = _why_not()
    if why:
        pytest.skip(why)
    if tool == "perf" and shutil.which("perf") is None:
        pytest.skip("perf is not installed (linux-perf)")
    out = tmp_path / "rec"
    keep = ("--keep-perf-data",) if tool == "perf" else ()
    res = kmem_cli("trace", "record", "--seconds", "2", "--tool", tool, "-o", str(out), *keep)
    assert res.returncode == 0, res.stderr
    if tool == "perf":  # perf.data itself, read through perf script, kernel from its header
        res = kmem_cli("trace", "check", str(out / "perf.data"))
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr
        assert f"kernel {os.uname().release}" in res.stdout
    res = kmem_cli("trace", "check", str(out))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    assert "clean" in res.stdout
    res = kmem_cli("trace", "stats", str(out), "--svg", str(tmp_path / "s.svg"))
    assert res.returncode == 0 and (tmp_path / "s.svg").read_text().startswith("<svg")
