"""kmem.progress: rows at once on stdout, status lines in plain mode, a live line with rich."""

from __future__ import annotations

import io

import pytest

from kmem import progress as progress_mod
from kmem.progress import Progress, choose_mode, format_seconds


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_choice(monkeypatch):
    monkeypatch.delenv("KMEM_PROGRESS", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert choose_mode(stream=io.StringIO()) == "plain"
    assert choose_mode(stream=FakeTTY()) == "live"
    monkeypatch.setenv("TERM", "dumb")
    assert choose_mode(stream=FakeTTY()) == "plain"
    monkeypatch.setenv("KMEM_PROGRESS", "off")
    assert choose_mode(stream=FakeTTY()) == "off"
    monkeypatch.setenv("KMEM_PROGRESS", "live")
    assert choose_mode(stream=io.StringIO()) == "live"
    monkeypatch.setattr(progress_mod, "rich_available", lambda: False)
    assert choose_mode(stream=FakeTTY()) == "plain"  # no rich: never hand-drawn
    with pytest.raises(ValueError, match="expected one of"):
        choose_mode("fancy")


def test_plain_rows_and_status_lines():
    out, err = io.StringIO(), io.StringIO()
    with Progress("kmem test", total=2, unit="items", mode="plain", interval=0,
                  out=out, err=err) as p:
        p.start("first")
        p.emit("row 1")
        p.advance()
        p.note("halfway")
        p.start("second")
        p.emit("row 2")
        p.advance()
    assert out.getvalue() == "row 1\nrow 2\n"
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("kmem test: 0/2 items done, ") and lines[0].endswith(
        "; running first")
    assert lines[1].startswith("kmem test: 1/2 items done, ")
    assert lines[2] == "kmem test: halfway"
    assert lines[-1].startswith("kmem test: 2/2 items done, ")


def test_plain_heartbeat_only_after_interval():
    out, err = io.StringIO(), io.StringIO()
    with Progress("kmem slow", total=None, mode="plain", interval=0.05, out=out, err=err) as p:
        p.start("waiting")
        import time
        time.sleep(0.4)
    assert "kmem slow: 0 steps done, " in err.getvalue()
    assert "running waiting" in err.getvalue()
    out2, err2 = io.StringIO(), io.StringIO()
    with Progress("kmem quick", mode="plain", interval=60, out=out2, err=err2) as p:
        p.emit("done")
    assert err2.getvalue() == "" and out2.getvalue() == "done\n"


def test_off_mode_keeps_rows_only():
    out, err = io.StringIO(), io.StringIO()
    with Progress("x", total=1, mode="off", interval=0, out=out, err=err) as p:
        p.start("a")
        p.note("b")
        p.emit("row")
        p.advance()
    assert (out.getvalue(), err.getvalue()) == ("row\n", "")


def test_live_mode_with_rich_prints_rows_and_erases_the_bar():
    pytest.importorskip("rich")
    out, err = FakeTTY(), io.StringIO()
    with Progress("kmem live", total=3, mode="live", out=out, err=err) as p:
        assert p.mode == "live"
        p.start("obligation-x")
        p.emit("a finished row")
        p.advance()
    text = out.getvalue()
    assert "a finished row" in text
    assert err.getvalue() == ""


def test_format_seconds():
    assert format_seconds(3.21) == "3.2s"
    assert format_seconds(125) == "2m05s"
