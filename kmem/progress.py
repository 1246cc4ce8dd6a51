"""Progress for long commands: a live line on a terminal, plain lines everywhere else.

Every ``kmem`` command that can run longer than a few seconds reports through
:class:`Progress` (this module, ``kmem/progress.py``), so they all look and behave
alike::

    from kmem.progress import Progress

    with Progress("kmem prove", total=len(obligations), unit="obligations") as progress:
        for ob in obligations:
            progress.start(ob.name)        # what runs now: the live line on a terminal
            result = run(ob)
            progress.emit(row(result))     # a finished row: on stdout at once, kept
            progress.advance()             # one more of ``total`` done

Rows given to :meth:`Progress.emit` are the command's output: they go to stdout
as they happen, in every mode. What :meth:`Progress.start`, :meth:`Progress.advance`
and :meth:`Progress.note` say is transient:

- ``live`` (stdout is a terminal and ``rich`` is installed, the ``progress``
  extra): a live line under the rows, redrawn several times a second with a
  spinner, ``done/total``, what is running and the elapsed time, erased at the end;
- ``plain`` (stdout is not a terminal, or ``rich`` is missing): whole lines on
  stderr: one for each :meth:`note`, and a status line (``done/total``, elapsed
  time, what is running) every ``interval`` seconds from a background thread --
  none during the first ``interval`` seconds, so a quick command stays silent.
  With ``interval`` 0 the status line is printed at every :meth:`start` and
  :meth:`advance` instead (deterministic: for tests and logs);
- ``off``: nothing but the rows.

The mode is chosen once per :class:`Progress`; the environment variable
``KMEM_PROGRESS`` (``auto``, ``live``, ``plain``, ``off``) overrides the choice, and
``KMEM_PROGRESS_INTERVAL`` (seconds, default 10) sets the plain status interval.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType
from typing import IO, Any

MODES = ("auto", "live", "plain", "off")
DEFAULT_INTERVAL_S = 10.0


def _env_mode() -> str:
    mode = os.environ.get("KMEM_PROGRESS", "auto").strip().lower() or "auto"
    return mode if mode in MODES else "auto"


def _env_interval() -> float:
    try:
        value = float(os.environ.get("KMEM_PROGRESS_INTERVAL", DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value >= 0 and value == value else DEFAULT_INTERVAL_S


def rich_available() -> bool:
    """Whether the ``rich`` library (the ``progress`` extra) can be imported."""
    try:
        import rich.progress  # noqa: F401
    except ImportError:
        return False
    return True


def choose_mode(mode: str | None = None, stream: IO[str] | None = None) -> str:
    """The mode a :class:`Progress` will use: ``live``, ``plain`` or ``off``.

    ``mode`` (or ``KMEM_PROGRESS``) ``auto`` means live when ``stream`` (stdout) is a
    terminal and rich is installed, else plain. ``live`` without rich is plain.
    """
    mode = (mode or _env_mode()).lower()
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "off":
        return "off"
    stream = stream if stream is not None else sys.stdout
    if mode == "auto":
        is_tty = bool(getattr(stream, "isatty", lambda: False)())
        mode = "live" if is_tty and os.environ.get("TERM") != "dumb" else "plain"
    if mode == "live" and not rich_available():
        return "plain"
    return mode


def format_seconds(seconds: float) -> str:
    """``12.3s`` under a minute, ``4m05s`` above.

    >>> format_seconds(12.34), format_seconds(245)
    ('12.3s', '4m05s')
    """
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class Progress:
    """Progress of one long piece of work (see the module docstring for the modes).

    ``label`` names the work in status lines (``"kmem prove"``), ``total`` is the
    number of steps if known, ``unit`` what a step is (``"obligations"``).
    ``out`` receives the rows (default stdout), ``err`` the plain status lines
    (default stderr).
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "steps", *,
                 mode: str | None = None, interval: float | None = None,
                 out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.mode = choose_mode(mode, self.out)
        self.interval = _env_interval() if interval is None else interval
        self.done = 0
        self.current = ""
        self.started = time.monotonic()
        self._last_status = self.started
        self._rich: Any = None
        self._task: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- context -------------------------------------------------------------------------
    def __enter__(self) -> Progress:
        self.started = self._last_status = time.monotonic()
        if self.mode == "live":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress

            columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
            if self.total is not None:
                columns += [BarColumn(bar_width=20), MofNCompleteColumn()]
            columns += [TimeElapsedColumn(), TextColumn("{task.fields[current]}")]
            console = Console(file=self.out, highlight=False, emoji=False, markup=False)
            self._rich = RichProgress(*columns, console=console, transient=True,
                                      redirect_stdout=False, redirect_stderr=False)
            self._rich.start()
            self._task = self._rich.add_task(self.label, total=self.total, current="")
        elif self.mode == "plain" and self.interval > 0:
            self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                            name="kmem-progress")
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live line (idempotent); rows already emitted stay."""
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    # -- reporting -----------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def emit(self, text: str) -> None:
        """Print a row of the command's output now (stdout, flushed), above the live line."""
        if self._rich is not None:
            self._rich.console.out(text, highlight=False)
        else:
            print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A transient message: the live line's text, or one plain line on stderr."""
        self.current = text
        if self._rich is not None:
            self._rich.update(self._task, current=text)
        elif self.mode == "plain":
            self._status_line(text)

    def start(self, what: str) -> None:
        """Say what runs now (shown live; in plain mode in the next status line)."""
        self.current = what
        if self._rich is not None:
            self._rich.update(self._task, current=what)
        else:
            self._maybe_status()

    def advance(self, steps: int = 1) -> None:
        """``steps`` more steps are done."""
        self.done += steps
        if self._rich is not None:
            self._rich.update(self._task, advance=steps)
        else:
            self._maybe_status()

    # -- plain mode --------------------------------------------------------------------------
    def status_text(self) -> str:
        """``label: done/total unit, elapsed, running: current``."""
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        text = f"{self.label}: {count} {self.unit} done, {format_seconds(self.elapsed)}"
        return f"{text}; running {self.current}" if self.current else text

    def _maybe_status(self) -> None:
        if self.mode == "plain" and self.interval == 0:
            self._status_line(self.status_text())

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.interval / 4):
            if time.monotonic() - self._last_status >= self.interval:
                self._status_line(self.status_text())

    def _status_line(self, text: str) -> None:
        with self._lock:
            self._last_status = time.monotonic()
            print(text if text.startswith(self.label) else f"{self.label}: {text}",
                  file=self.err, flush=True)
