"""The subprocess adapter: an allocator in any language, driven over stdin/stdout.

The program reads one request per line on stdin and answers each with one line
on stdout (lines starting with ``#`` and blank lines are skipped; stderr is kept
for the report). The protocol (``docs/line-protocol.md``)::

    kmem sends                       the allocator answers
    init NPAGES MAX_ORDER RESERVED   ok [BASE]            start over with a fresh arena
    alloc ORDER GFP                  ADDR | fail
    free ADDR ORDER                  ok
    dump                             blocks [ADDR/ORDER ...] | unsupported
    reset                            ok | unsupported     drop all state in place (optional)
    quit                             (the program exits)

Numbers are decimal or ``0x`` hex. With ``unit="pages"`` an ADDR is a page index in
the arena (0 = its first page); with ``unit="bytes"`` it is a byte address, and
``pfn = (ADDR - BASE) / page_size`` (BASE from ``ok BASE``, default 0): an address
that is not on a page boundary is reported as :class:`MisalignedAddress`.

A crash (EOF, a signal, an exit) raises :class:`AllocatorCrashed`, an answer that
takes longer than ``timeout`` seconds :class:`AllocatorHung`, a malformed answer
:class:`ProtocolError`. Each carries the last requests sent.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Sequence

from . import AdapterError, Block, SetupError, ZoneConfig


class AllocatorCrashed(AdapterError):
    """The program died: EOF on its stdout, an exit status, a signal."""

    kind = "crash"

    def __init__(self, message: str, *, returncode: int | None, stderr: str,
                 last_requests: Sequence[str]) -> None:
        super().__init__(message)
        self.returncode, self.stderr, self.last_requests = returncode, stderr, list(last_requests)


class AllocatorHung(AdapterError):
    """No answer within the per-operation time limit."""

    kind = "hang"

    def __init__(self, message: str, *, timeout: float, last_requests: Sequence[str]) -> None:
        super().__init__(message)
        self.timeout, self.last_requests = timeout, list(last_requests)


class ProtocolError(AdapterError):
    """An answer that the line protocol does not allow."""

    kind = "protocol"


class MisalignedAddress(AdapterError):
    """``unit="bytes"``: an address that is not on a page boundary of the arena."""

    kind = "misaligned"

    def __init__(self, message: str, *, address: int, base: int, page_size: int) -> None:
        super().__init__(message)
        self.address, self.base, self.page_size = address, base, page_size


def _int(token: str) -> int:
    return int(token, 0)


def _why_not(exc: OSError, program: str) -> str:
    """Why ``program`` could not be started, in words."""
    if os.path.isdir(program):
        return "it is a directory"
    if isinstance(exc, FileNotFoundError):
        return "no such file" + ("" if os.sep in program else " on $PATH")
    if isinstance(exc, PermissionError):
        return "permission denied (is it executable? chmod +x, or name its interpreter)"
    return exc.strerror or str(exc)


def describe_exit(returncode: int | None) -> str:
    """``killed by SIGSEGV`` / ``exit status 3`` / ``still running``."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class SubprocessAllocator:
    """An allocator program speaking the line protocol, as an :class:`Allocator`.

    ``argv``: the command; ``config``: the zone (sent with ``init``); ``timeout``:
    seconds allowed per answer; ``startup_timeout``: seconds allowed for the first
    answer of a new process (its start-up is not a hang); ``history``: how many
    requests the errors quote. A program that cannot be started raises
    :class:`~kmem.fuzz.adapters.SetupError`.
    The process starts at once (``start=False``: at the first :meth:`reset`);
    :meth:`reset` sends ``init`` again (restarting the program if it died),
    :meth:`close` ends it. Set ``transcript`` to a list to record every
    ``(request, answer)`` pair.
    """

    def __init__(self, argv: Sequence[str], config: ZoneConfig, *, timeout: float = 2.0,
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 history: int = 12, start: bool = True,
                 startup_timeout: float = 30.0) -> None:
        if not argv:
            raise ValueError("argv must name a program")
        self.argv = list(argv)
        self.config = config
        self.timeout = timeout
        self.startup_timeout = max(startup_timeout, timeout)
        self.env, self.cwd = env, cwd
        self.starts = 0  # processes started
        self.resets = 0  # fresh starts done in place with ``reset``
        self.reset_supported: bool | None = None  # None: not asked yet
        self._first_answer = False
        self.base = 0
        self.last_requests: deque[str] = deque(maxlen=history)
        self.requests = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = bytearray()
        self._stderr = tempfile.TemporaryFile()
        self.transcript: list[tuple[str, str]] | None = None
        if start:
            self.reset(config)

    # -- process management -----------------------------------------------------------------
    def _start(self) -> None:
        self._stderr.seek(0)
        self._stderr.truncate()
        self._buf.clear()
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=self._stderr,
                                          env=self.env, cwd=self.cwd, start_new_session=True)
        except OSError as exc:
            raise SetupError(f"cannot run {self.argv[0]!r}: {_why_not(exc, self.argv[0])}") \
                from None
        self.starts += 1
        self._first_answer = True

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stderr_tail(self, limit: int = 4000) -> str:
        self._stderr.flush()
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        return self._stderr.read().decode(errors="replace")

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            pass
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def close(self) -> None:
        """Ask the program to quit, then make sure it is gone."""
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            try:
                os.write(proc.stdin.fileno(), b"quit\n")
                proc.stdin.close()
                proc.wait(timeout=0.5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()
        self._proc = None

    def __enter__(self) -> SubprocessAllocator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self._kill()
        except Exception:
            pass

    # -- one request, one answer -----------------------------------------------------------
    def _crashed(self, what: str) -> AllocatorCrashed:
        proc = self._proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._kill()
                code = proc.returncode
        stderr = self.stderr_tail()
        msg = f"the allocator died during {what} ({describe_exit(code)})"
        if code is None or code == 0:
            msg = f"the allocator closed its output during {what} ({describe_exit(code)})"
        return AllocatorCrashed(msg, returncode=code, stderr=stderr,
                                last_requests=self.last_requests)

    def request(self, line: str) -> str:
        """Send one request line and return the answer line (comments skipped)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise AdapterError("the allocator is not running (call reset())")
        self.last_requests.append(line)
        self.requests += 1
        what = f"request {line!r}"
        if self.transcript is not None:
            self.transcript.append((line, ""))  # replaced by the answer when one comes
            pending = len(self.transcript) - 1
        try:
            os.write(proc.stdin.fileno(), line.encode() + b"\n")
        except (BrokenPipeError, OSError):
            raise self._crashed(what) from None
        fd = proc.stdout.fileno()
        limit = self.startup_timeout if self._first_answer else self.timeout
        deadline = time.monotonic() + limit
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                answer = self._buf[:nl].decode(errors="replace").strip()
                del self._buf[:nl + 1]
                if not answer or answer.startswith("#"):
                    continue
                if self.transcript is not None:
                    self.transcript[pending] = (line, answer)
                self._first_answer = False
                return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                when = " of the program's start" if self._first_answer else ""
                raise AllocatorHung(f"no answer to {line!r} within {limit:g} s{when}",
                                    timeout=limit, last_requests=self.last_requests)
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._crashed(what)
            self._buf += chunk

    # -- addresses ---------------------------------------------------------------------------
    def to_pfn(self, token: str, line: str) -> int:
        try:
            addr = _int(token)
        except ValueError:
            raise ProtocolError(f"answer to {line!r}: {token!r} is not a number") from None
        if self.config.unit == "pages":
            return addr
        off = addr - self.base
        if off % self.config.page_size:
            raise MisalignedAddress(
                f"address {addr:#x} is {off % self.config.page_size} bytes past a page "
                f"boundary of the arena (base {self.base:#x}, {self.config.page_size}-byte "
                f"pages)", address=addr, base=self.base, page_size=self.config.page_size)
        return off // self.config.page_size

    def to_addr(self, pfn: int) -> int:
        if self.config.unit == "pages":
            return pfn
        return self.base + pfn * self.config.page_size

    def format_addr(self, pfn: int) -> str:
        return str(pfn) if self.config.unit == "pages" else hex(self.to_addr(pfn))

    # -- the Allocator protocol --------------------------------------------------------------
    def reset(self, config: ZoneConfig | None = None) -> None:
        """``init``: a fresh arena (restarting the program if it is not running)."""
        if config is not None:
            self.config = config
        if not self.alive:
            self._kill()
            self._start()
        c = self.config
        line = f"init {c.npages} {c.max_order} {c.reserved}"
        answer = self.request(line)
        parts = answer.split()
        if not parts or parts[0] != "ok" or len(parts) > 2:
            raise ProtocolError(f"answer to {line!r} was {answer!r}; expected 'ok' or 'ok BASE'")
        try:
            self.base = _int(parts[1]) if len(parts) == 2 else 0
        except ValueError:
            raise ProtocolError(f"answer to {line!r}: base {parts[1]!r} is not a number") from None
        if c.unit == "pages" and self.base:
            raise ProtocolError(f"answer to {line!r} was {answer!r}: a base address, but page "
                                f"numbers were asked for (use --unit bytes for byte "
                                f"addresses)")

    def restart(self, config: ZoneConfig | None = None) -> None:
        """A new process, then ``init``: nothing the last run did can leak into the next."""
        self.close()
        self.reset(config)

    def fresh(self, config: ZoneConfig | None = None) -> None:
        """Start over as a new process would: ``reset`` in place when the program answers
        ``ok`` to it (asked once; any other answer, or none, means no), else
        :meth:`restart`. Then ``init``."""
        if self.alive and self.reset_supported is not False:
            transcript, self.transcript = self.transcript, None  # not part of the session
            try:
                answer = self.request("reset")
            except AdapterError:
                answer = None
            finally:
                self.transcript = transcript
            if answer == "ok":
                self.reset_supported = True
                self.resets += 1
                self.reset(config)
                return
            self.reset_supported = False
        self.restart(config)

    def alloc(self, order: int, gfp: int = 0) -> int | None:
        line = f"alloc {order} {gfp:#x}"
        answer = self.request(line)
        if answer == "fail":
            return None
        if " " in answer:
            raise ProtocolError(f"answer to {line!r} was {answer!r}; expected an address or "
                                f"'fail'")
        return self.to_pfn(answer, line)

    def free(self, pfn: int, order: int) -> None:
        line = f"free {self.format_addr(pfn)} {order}"
        answer = self.request(line)
        if answer != "ok":
            raise ProtocolError(f"answer to {line!r} was {answer!r}; expected 'ok'")

    def free_blocks(self) -> list[Block] | None:
        answer = self.request("dump")
        if answer == "unsupported":
            return None
        parts = answer.split()
        if not parts or parts[0] != "blocks":
            raise ProtocolError(f"answer to 'dump' was {answer[:200]!r}; expected 'blocks "
                                f"ADDR/ORDER ...' or 'unsupported'")
        out = []
        for token in parts[1:]:
            addr, sep, order = token.partition("/")
            if not sep:
                raise ProtocolError(f"answer to 'dump': {token!r} is not ADDR/ORDER")
            try:
                out.append((self.to_pfn(addr, "dump"), _int(order)))
            except ValueError:
                raise ProtocolError(f"answer to 'dump': {token!r} is not ADDR/ORDER") from None
        return out


__all__ = ["AllocatorCrashed", "AllocatorHung", "MisalignedAddress", "ProtocolError",
           "SubprocessAllocator", "describe_exit"]
