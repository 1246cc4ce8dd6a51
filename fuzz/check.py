"""The engine behind ``kmem check``: fuzz an allocator program against the spec.

An allocator that speaks the line protocol (:mod:`kmem.fuzz.adapters.process`) is
driven through seeded random operation streams; every answer goes through
:class:`kmem.fuzz.oracle.ZoneOracle` (refinement: any legal choice is accepted and
followed). A stream that shows a *finding* is shrunk by delta debugging to a short
reproducer.

Streams are lists of :class:`Op`. An allocation has an id; a free names the id of
the allocation whose block it frees, so a stream can be cut anywhere and replayed:
a free whose allocation was cut, or failed, is skipped. Streams come from
:func:`generate`, which decides each free among the blocks live at that moment:
mixed phases (random orders, random frees of live blocks), fill-to-failure phases,
drains and refills.

Findings (:class:`Finding`), each with the operation index, the operation and the
state that shows it:

- an illegal result (``unaligned``, ``outside``, ``overlap``, ``not-free``,
  ``bad-failure`` = failed while the spec has a free block of that order or larger,
  ``not-linux`` = under the Linux rule, not the smallest order's block start,
  ``misaligned`` = a byte address off a page boundary);
- ``free-blocks``: with ``dump=True``, the allocator's free blocks after a step
  differ from the spec's merged state (a missed, wrong or lazy merge);
- ``crash`` (a signal, an exit, EOF; sanitizer reports are quoted), ``oom-abort``
  (a crash on an allocation that the spec says may legally fail), ``hang`` (no
  answer within the per-operation limit), ``protocol`` (a malformed answer).
"""

from __future__ import annotations

import json
import math
import random
import re
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from kmem.spec import buddy
from kmem.spec.errors import InvalidArgument

from .adapters import AdapterError, Allocator, Resettable, SetupError, ZoneConfig, free_blocks_of
from .adapters.process import (
    AllocatorCrashed,
    AllocatorHung,
    MisalignedAddress,
    ProtocolError,
    SubprocessAllocator,
    describe_exit,
)
from .oracle import OracleViolation, ZoneOracle, fmt_block


@dataclass(frozen=True)
class Op:
    """One operation: ``alloc`` of ``order`` (its ``id`` names the block), or ``free`` of
    the block that allocation ``id`` returned (``order`` repeated for the reader)."""

    kind: str
    order: int
    id: int

    def text(self) -> str:
        if self.kind == "alloc":
            return f"a{self.id} = alloc(order={self.order})"
        return f"free(a{self.id}, order={self.order})"

    def to_json(self) -> list[object]:
        return [self.kind, self.order, self.id]


ILLEGAL_RESULTS = ("unaligned", "outside", "overlap", "not-free", "bad-failure", "not-linux",
                   "misaligned")
SIGNATURES = {kind: "illegal result" for kind in ILLEGAL_RESULTS}


@dataclass
class Finding:
    """One thing the allocator did wrong, with what it takes to see it again."""

    kind: str
    message: str
    index: int  # index of the operation in ``stream`` that showed it
    stream: list[Op]
    config: ZoneConfig
    rule: str
    dump: bool
    seed: int | None = None
    operation: str = ""  # the operation with its concrete answer
    state: list[str] = field(default_factory=list)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    stderr: str = ""
    original_length: int | None = None  # before shrinking
    base: int | None = None  # with byte addresses: the arena's first page (``ok BASE``)
    timeout: float | None = None  # the per-answer limit it ran with

    def signature(self) -> str:
        """What shrinking keeps: the class of the finding (every illegal result is one
        class, so a bug may shrink to a shorter way of showing it)."""
        return SIGNATURES.get(self.kind, self.kind)

    def to_json(self) -> dict[str, object]:
        c = self.config
        return {"kind": self.kind, "message": self.message, "seed": self.seed,
                "rule": self.rule, "dump": self.dump,
                "config": {"npages": c.npages, "max_order": c.max_order,
                           "reserved": c.reserved, "unit": c.unit, "page_size": c.page_size},
                "original_length": self.original_length,
                "ops": [op.to_json() for op in self.stream]}


@dataclass
class Reproducer:
    """A saved finding: the zone, rule, dump flag and stream, and (from files written
    since the command was stored) the command, the environment variables kmem set for
    it, its working directory and the time limits it ran with."""

    config: ZoneConfig
    rule: str
    dump: bool
    ops: list[Op]
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    startup_timeout: float | None = None


def read_json_file(path: str | Path, what: str) -> object:
    """The JSON value in ``path``; a missing, unreadable, binary, empty or truncated file
    raises :class:`InvalidArgument` naming ``what`` and the reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidArgument(f"{what} {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise InvalidArgument(f"{what} {str(path)!r} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"{what} {str(path)!r} is not text (a binary file?)") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None
    if not text.strip():
        raise InvalidArgument(f"{what} {str(path)!r} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{what} {str(path)!r} is not valid JSON (truncated?): {exc}") \
            from None


def load_reproducer(path: str | Path) -> Reproducer:
    """Read a reproducer written by :func:`save_finding`; InvalidArgument if it is not one."""
    data = read_json_file(path, "reproducer")
    try:
        assert isinstance(data, dict)
        config = ZoneConfig(**data["config"])
        ops = [Op(str(k), int(o), int(i)) for k, o, i in data["ops"]]
        assert all(op.kind in ("alloc", "free") for op in ops)
        command = data.get("command")
        assert command is None or (isinstance(command, list) and command
                                   and all(isinstance(a, str) for a in command))
        env = data.get("env") or {}
        assert isinstance(env, dict) and all(isinstance(v, str) for v in env.values())
        return Reproducer(config, str(data["rule"]), bool(data["dump"]), ops, command,
                          {str(k): v for k, v in env.items()}, data.get("cwd"),
                          data.get("timeout"), data.get("startup_timeout"))
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        detail = f": {exc}" if isinstance(exc, InvalidArgument) else ""
        raise InvalidArgument(f"{str(path)!r} is not a kmem check reproducer (it needs "
                              f"'config', 'rule', 'dump' and 'ops'){detail}") from None


def save_finding(finding: Finding, directory: str | Path, *, command: Sequence[str] | None = None,
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 timeout: float | None = None, startup_timeout: float | None = None) -> Path:
    """Write ``finding`` as JSON into ``directory``, with the command that showed it, the
    environment variables kmem set for it (``env``: not the whole environment), its
    working directory and time limits, so that the file alone reruns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{finding.kind}-seed{finding.seed if finding.seed is not None else 'x'}.json"
    path = directory / name
    data = finding.to_json()
    del data["ops"]
    if command is not None:
        data.update(command=list(command), env=dict(env or {}), cwd=cwd, timeout=timeout,
                    startup_timeout=startup_timeout)
    head = json.dumps(data, indent=1)[:-2]  # one operation per line below
    lines = ",\n  ".join(json.dumps(op.to_json()) for op in finding.stream)
    path.write_text(f'{head},\n "ops": [\n  {lines}\n ]\n}}\n')
    return path


def setup_error(adapter: object, config: ZoneConfig, exc: AdapterError) -> SetupError:
    """What went wrong before the first operation, as a :class:`SetupError`: the program
    exited, answered something else than ``ok`` to ``init`` or did not answer in time."""
    c = config
    init = f"'init {c.npages} {c.max_order} {c.reserved}'"
    who = shlex.join(adapter.argv) if isinstance(adapter, SubprocessAllocator) \
        else type(adapter).__name__
    if isinstance(exc, AllocatorCrashed):
        what = f"{who} {describe_exit(exc.returncode).replace('exit status', 'exited with status')} " \
               f"before answering {init}"
        if exc.returncode is None:
            what = f"{who} closed its output before answering {init}"
    elif isinstance(exc, AllocatorHung):
        what = (f"{who} did not answer {init} within {exc.timeout:g} s of its start "
                "(--startup-timeout)")
    else:
        what = f"{who} did not start a zone of {c.describe()}: {exc}"
        if isinstance(exc, ProtocolError) and "expected 'ok'" in str(exc):
            what += " (a program's own output lines must start with '#')"
    stderr = (getattr(exc, "stderr", "") or "").strip().splitlines()
    if stderr:
        what += f"; its stderr ends: {stderr[-1][:200]!r}"
    return SetupError(what)


# ---------------------------------------------------------------------------------------------
# Running a stream
# ---------------------------------------------------------------------------------------------

SANITIZER_LINE = re.compile(r"(SUMMARY: \w+Sanitizer: .*|runtime error: .*|ERROR: \w+Sanitizer: .*)")


class _Stop(Exception):
    def __init__(self, finding: Finding) -> None:
        self.finding = finding


class Runner:
    """Feeds operations to an allocator and the oracle in step; a finding stops it.

    ``adapter`` is any :class:`kmem.fuzz.adapters.Allocator`; if it is
    :class:`~kmem.fuzz.adapters.Resettable` each run starts with ``reset(config)``
    (a :class:`SubprocessAllocator` starts afresh with
    :meth:`~kmem.fuzz.adapters.process.SubprocessAllocator.fresh`: a ``reset`` request
    in place when the program has one, else a new process), otherwise it must be fresh.
    Anything that goes wrong before the first operation raises
    :class:`~kmem.fuzz.adapters.SetupError`, not a finding. ``executed`` is the stream so
    far.
    """

    def __init__(self, adapter: Allocator, config: ZoneConfig, *, rule: str,
                 dump: bool, seed: int | None = None, record: bool = False) -> None:
        self.adapter, self.config, self.rule, self.dump, self.seed = \
            adapter, config, rule, dump, seed
        self.record = record
        self.transcript: list[tuple[str, str]] = []
        self.executed: list[Op] = []
        self.live: dict[int, tuple[int, int]] = {}  # alloc id -> (pfn, order)
        self.failures = 0
        self.oracle: ZoneOracle | None = None

    def start(self) -> None:
        self.executed, self.live, self.transcript, self.failures = [], {}, [], 0
        if isinstance(self.adapter, SubprocessAllocator):
            self.adapter.transcript = self.transcript if self.record else None
        try:
            if isinstance(self.adapter, SubprocessAllocator):
                # a fresh process for every run, or a reset in place if the program has one
                self.adapter.fresh(self.config)
            elif isinstance(self.adapter, Resettable):
                self.adapter.reset(self.config)
        except AdapterError as exc:
            raise setup_error(self.adapter, self.config, exc) from None
        c = self.config
        self.oracle = ZoneOracle(0, c.npages, reserved=c.reserved_ranges, rule=self.rule,
                                 max_order=c.max_order,
                                 free_blocks=self._dump if self.dump else None)
        if self.dump:
            self._compare_boot()

    def _dump(self) -> list[tuple[int, int]]:
        blocks = free_blocks_of(self.adapter)
        if blocks is None:
            raise AdapterError("the allocator answered 'unsupported' to 'dump'; run without "
                               "--dump, or implement dump (docs/line-protocol.md)")
        return blocks

    def _compare_boot(self) -> None:
        assert self.oracle is not None
        try:
            self.oracle.compare_all(self._dump())
        except OracleViolation as exc:
            raise _Stop(self._finding("free-blocks", f"after init: {exc}", -1, "init")) from None
        except AdapterError as exc:
            if type(exc) is AdapterError:
                raise
            raise _Stop(self._adapter_finding(exc, None, "dump after init")) from None

    # -- findings -----------------------------------------------------------------------------
    def _finding(self, kind: str, message: str, index: int, operation: str,
                 stderr: str = "") -> Finding:
        base = self.adapter.base if isinstance(self.adapter, SubprocessAllocator) and \
            self.config.unit == "bytes" else None
        return Finding(kind=kind, message=message, index=index, stream=list(self.executed),
                       config=self.config, rule=self.rule, dump=self.dump, seed=self.seed,
                       operation=operation, state=self.state_lines(),
                       transcript=list(self.transcript), stderr=stderr, base=base)

    def state_lines(self, per_order: int = 6) -> list[str]:
        """The spec's state at the finding: free blocks per order and live blocks."""
        o = self.oracle
        if o is None:
            return []
        lines = []
        by_order: dict[int, list[int]] = {}
        for p, order in sorted(o.free_blocks.items()):
            by_order.setdefault(order, []).append(p)
        free = "; ".join(f"order {order}: " + ", ".join(f"{p:#x}" for p in pfns[:per_order])
                         + (f" (+{len(pfns) - per_order})" if len(pfns) > per_order else "")
                         for order, pfns in sorted(by_order.items()))
        lines.append(f"spec free blocks ({o.free_pages} pages): {free or 'none'}")
        live = sorted(o.allocated.items())
        text = ", ".join(fmt_block(b) for b in live[:8]) + (" ..." if len(live) > 8 else "")
        lines.append(f"live blocks ({len(live)}): {text or 'none'}")
        return lines

    def _adapter_finding(self, exc: AdapterError, op: Op | None, operation: str) -> Finding:
        index = len(self.executed) - 1 if op is not None else -1
        stderr = getattr(exc, "stderr", "") or ""
        if isinstance(exc, AllocatorHung):
            return self._finding("hang", str(exc), index, operation)
        if isinstance(exc, MisalignedAddress):
            return self._finding("misaligned", str(exc), index, operation)
        if isinstance(exc, ProtocolError):
            return self._finding("protocol", str(exc), index, operation)
        if isinstance(exc, AllocatorCrashed):
            kind = "crash"
            message = str(exc)
            sanitizer = SANITIZER_LINE.findall(stderr)
            if sanitizer:
                message += "; sanitizer: " + sanitizer[0]
            elif op is not None and op.kind == "alloc" and self.oracle is not None and \
                    buddy.rmqueue_smallest_order(self.oracle.nr_free.__getitem__, op.order,
                                                 self.config.max_order) is None:
                kind = "oom-abort"
                message += ("; the spec has no free block of this order or larger, so the "
                            "allocator should have answered 'fail'")
            return self._finding(kind, message, index, operation, stderr)
        raise exc

    # -- one operation ----------------------------------------------------------------------------
    def step(self, op: Op) -> None:
        """Run one operation; raises :class:`_Stop` with the finding if there is one."""
        oracle = self.oracle
        assert oracle is not None
        if op.kind == "free":
            block = self.live.get(op.id)
            if block is None:  # its allocation was cut from the stream or failed
                return
        self.executed.append(op)
        index = len(self.executed) - 1
        try:
            if op.kind == "alloc":
                operation = f"alloc(order={op.order})"
                pfn = self.adapter.alloc(op.order)
                operation += f" -> {'fail' if pfn is None else f'{pfn:#x}'}"
                if pfn is not None and pfn < 0:
                    raise _Stop(self._finding("outside", f"pfn {pfn:#x} is below the arena",
                                              index, operation))
                oracle.alloc(op.order, pfn)
                if pfn is None:
                    self.failures += 1
                else:
                    self.live[op.id] = (pfn, op.order)
            else:
                pfn, order = self.live.pop(op.id)
                operation = f"free({pfn:#x}, order={order})"
                self.adapter.free(pfn, order)
                oracle.free(pfn, order)
        except OracleViolation as exc:
            raise _Stop(self._finding(exc.kind or "illegal", str(exc).split(": ", 1)[-1],
                                      index, exc.operation or operation)) from None
        except AdapterError as exc:
            if type(exc) is AdapterError:
                raise
            raise _Stop(self._adapter_finding(exc, op, op.text())) from None

    def run(self, ops: Iterator[Op] | Sequence[Op],
            progress: Callable[[int], None] | None = None) -> Finding | None:
        try:
            self.start()
            for n, op in enumerate(ops):
                self.step(op)
                if progress is not None and n % 256 == 0:
                    progress(n)
        except _Stop as stop:
            return stop.finding
        return None


# ---------------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------------

def random_order(rng: random.Random, max_order: int) -> int:
    """Mostly small orders, every order possible: order o with weight 2**-(o/2)."""
    weights = [2 ** (-o / 2) for o in range(max_order + 1)]
    return rng.choices(range(max_order + 1), weights)[0]


class StreamState(Protocol):
    """What :func:`generate` reads while it makes a stream (a :class:`Runner` has it)."""

    config: ZoneConfig
    live: dict[int, tuple[int, int]]  # alloc id -> (pfn, order), the blocks live now
    failures: int  # allocations that failed so far


def generate(rng: random.Random, runner: StreamState, n: int) -> Iterator[Op]:
    """``n`` operations, decided one at a time from what is live in ``runner``: phases of
    mixed use, fill to failure, drain and refill."""
    max_order = runner.config.max_order
    next_id = 0
    made = 0

    def alloc(order: int) -> Op:
        nonlocal next_id
        next_id += 1
        return Op("alloc", order, next_id)

    def free_random() -> Op:
        ident = rng.choice(list(runner.live))
        return Op("free", runner.live[ident][1], ident)

    while made < n:
        phase = rng.choice(("mixed", "mixed", "fill", "drain", "refill"))
        length = rng.randint(8, 400)
        if phase == "mixed":
            p_alloc = rng.uniform(0.35, 0.8)
            for _ in range(length):
                if made >= n:
                    return
                made += 1
                if runner.live and rng.random() > p_alloc:
                    yield free_random()
                else:
                    yield alloc(random_order(rng, max_order))
        elif phase in ("fill", "refill"):
            top = rng.randint(0, max_order)
            before = runner.failures
            streak = 0
            while made < n and streak < 3 * (max_order + 1):
                made += 1
                yield alloc(rng.randint(0, top) if phase == "fill" else random_order(rng, top))
                if runner.failures > before:
                    streak += 1
                    before = runner.failures
                    top = max(0, top - 1) if rng.random() < 0.7 else top
        else:  # drain: free a random share of what is live, in random order
            share = rng.random()
            victims = [i for i in runner.live if rng.random() < share]
            rng.shuffle(victims)
            for ident in victims:
                if made >= n:
                    return
                made += 1
                yield Op("free", runner.live[ident][1], ident)


# ---------------------------------------------------------------------------------------------
# Shrinking
# ---------------------------------------------------------------------------------------------

def close_stream(ops: Sequence[Op]) -> list[Op]:
    """Drop frees whose allocation is not in the stream (and second frees of one id)."""
    allocs: set[int] = set()
    freed: set[int] = set()
    out = []
    for op in ops:
        if op.kind == "alloc":
            allocs.add(op.id)
            out.append(op)
        elif op.id in allocs and op.id not in freed:
            freed.add(op.id)
            out.append(op)
    return out


T = TypeVar("T")


def ddmin(items: list[T], fails: Callable[[list[T]], bool], *,
          deadline: float = math.inf) -> list[T]:
    """Zeller and Hildebrandt's delta debugging: split into ``n`` chunks, try each chunk
    alone (*reduce to subset*), then each complement (*reduce to complement*), refine
    ``n`` when neither fails. Returns a 1-minimal failing subsequence of ``items``, or
    the smallest found before ``deadline``. When it gets stuck at one-element chunks
    it starts over at two chunks (once per size), which often finds smaller subsets."""
    n = 2
    last_restart = len(items) + 1
    while len(items) >= 2 and time.monotonic() < deadline:
        chunk = math.ceil(len(items) / n)
        starts = range(0, len(items), chunk)
        reduced = False
        if n > 2:  # with two chunks each subset is the other's complement
            for start in starts:
                if time.monotonic() >= deadline:
                    break
                candidate = items[start:start + chunk]
                if fails(candidate):
                    items, n, reduced = candidate, 2, True
                    break
        if not reduced:
            for start in starts:
                if time.monotonic() >= deadline:
                    break
                candidate = items[:start] + items[start + chunk:]
                if fails(candidate):
                    items, n, reduced = candidate, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(items):
                if len(items) < last_restart:  # start over at two chunks: chunks now fall
                    last_restart = len(items)  # on other boundaries
                    n = 2
                    continue
                break
            n = min(len(items), 2 * n)
    return items


def shrink_stream(ops: Sequence[Op], fails: Callable[[list[Op]], bool], *,
                  deadline: float = math.inf) -> list[Op]:
    """Reduce a failing stream in three passes, each keeping it failing:

    1. *suffixes*: the shortest failing suffix among lengths 2, 4, 8, ... (frees of
       blocks allocated before the cut are dropped) — cheap on streams of thousands
       of operations whose failure needs only their end;
    2. delta debugging over *lifetimes*: an allocation and its free go together, so
       removing one never leaves a block live that was freed;
    3. delta debugging over single operations (a free may go, keeping its block live),
       which makes the result 1-minimal when time allows.

    Every candidate is closed by :func:`close_stream`, so frees always refer to
    allocations that are in the stream.
    """
    ops = close_stream(ops)
    size = 2
    while size < len(ops) and time.monotonic() < deadline:
        candidate = close_stream(ops[len(ops) - size:])
        if fails(candidate):
            ops = candidate
            break
        size *= 2

    ids = [op.id for op in ops if op.kind == "alloc"]

    def keep(kept: list[int]) -> list[Op]:
        chosen = set(kept)
        return [op for op in ops if op.id in chosen]

    kept = ddmin(ids, lambda k: fails(keep(k)), deadline=deadline)
    ops = keep(kept)
    return ddmin(ops, lambda c: len(close_stream(c)) == len(c) and fails(c), deadline=deadline)


class Checker:
    """Runs seeded streams against one allocator program and shrinks what it finds."""

    def __init__(self, argv: Sequence[str], *, config: ZoneConfig, rule: str = "weak",
                 dump: bool = False, timeout: float = 2.0, startup_timeout: float = 30.0,
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 exact_kind: bool = False) -> None:
        """``exact_kind``: shrinking keeps the finding's kind (``unaligned`` stays
        ``unaligned``) instead of its class (any illegal result)."""
        self.argv, self.config, self.rule, self.dump = list(argv), config, rule, dump
        self.timeout, self.startup_timeout, self.env, self.cwd = timeout, startup_timeout, env, cwd
        self.exact_kind = exact_kind
        self.replays = 0
        self._adapter: SubprocessAllocator | None = None
        self._starts = 0  # program starts of adapters closed so far

    def adapter(self, config: ZoneConfig) -> SubprocessAllocator:
        if self._adapter is None:
            self._adapter = SubprocessAllocator(self.argv, config, timeout=self.timeout,
                                                startup_timeout=self.startup_timeout,
                                                env=self.env, cwd=self.cwd, start=False)
        return self._adapter

    @property
    def starts(self) -> int:
        """How many times the program was started (runs reuse it when it has ``reset``)."""
        return self._starts + (self._adapter.starts if self._adapter is not None else 0)

    def close(self) -> None:
        if self._adapter is not None:
            self._starts += self._adapter.starts
            self._adapter.close()
            self._adapter = None

    def runner(self, config: ZoneConfig, seed: int | None, record: bool = False) -> Runner:
        return Runner(self.adapter(config), config, rule=self.rule, dump=self.dump, seed=seed,
                      record=record)

    def run_seed(self, seed: int, config: ZoneConfig, n: int,
                 progress: Callable[[int], None] | None = None) -> tuple[Finding | None, int]:
        """One seeded stream of ``n`` operations; the finding (if any) and the ops run."""
        runner = self.runner(config, seed)
        rng = random.Random(seed)
        finding = runner.run(generate(rng, runner, n), progress)
        return finding, len(runner.executed)

    def replay(self, config: ZoneConfig, ops: Sequence[Op], seed: int | None = None,
               record: bool = False) -> Finding | None:
        self.replays += 1
        return self.runner(config, seed, record).run(ops)

    def shrink(self, finding: Finding, *, time_limit: float = 60.0) -> Finding:
        """Delta debugging: the shortest stream found within ``time_limit`` that shows a
        finding of the same kind; the result is replayed once more with a transcript."""
        original = len(finding.stream)

        def key(f: Finding) -> str:
            return f.kind if self.exact_kind else f.signature()

        signature = key(finding)
        deadline = time.monotonic() + time_limit

        def fails(ops: list[Op]) -> bool:
            got = self.replay(finding.config, ops, finding.seed)
            return got is not None and key(got) == signature

        ops = shrink_stream(finding.stream, fails, deadline=deadline)
        final = self.replay(finding.config, ops, finding.seed, record=True)
        if final is None or key(final) != signature:  # flaky: keep the original
            final = self.replay(finding.config, finding.stream, finding.seed, record=True) \
                or finding
        final.original_length = original
        return final


def check_allocator(allocator: Allocator, config: ZoneConfig, *, n: int = 2000, seed: int = 0,
                    rule: str = "weak", dump: bool = False) -> Finding | None:
    """Run one seeded stream of ``n`` operations against an in-process allocator (any
    object with ``alloc``/``free``; ``free_blocks`` for ``dump=True``; ``reset`` to start
    each run fresh) and return the first finding, or None."""
    runner = Runner(allocator, config, rule=rule, dump=dump, seed=seed)
    return runner.run(generate(random.Random(seed), runner, n))


def shrink_allocator(make: Callable[[], Allocator], finding: Finding, *,
                     time_limit: float = 60.0) -> Finding:
    """Shrink a finding of :func:`check_allocator`: every replay runs on a fresh allocator
    from ``make()``; returns the shortest stream found that shows the same class of
    finding (``original_length`` says how long it was)."""
    def replay(ops: Sequence[Op]) -> Finding | None:
        return Runner(make(), finding.config, rule=finding.rule, dump=finding.dump,
                      seed=finding.seed).run(ops)

    def fails(ops: list[Op]) -> bool:
        got = replay(ops)
        return got is not None and got.signature() == finding.signature()

    ops = shrink_stream(finding.stream, fails, deadline=time.monotonic() + time_limit)
    small = replay(ops)
    if small is None or small.signature() != finding.signature():
        small = finding
    small.original_length = len(finding.stream)
    return small


__all__ = ["Checker", "check_allocator", "shrink_allocator", "Finding", "Op", "Runner", "close_stream", "ddmin", "generate", "shrink_stream",
           "load_reproducer", "random_order", "read_json_file", "Reproducer", "save_finding",
           "setup_error"]
