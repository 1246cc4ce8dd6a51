"""The engine of ``kmem fuzz``: a time-boxed campaign of the state machine and the bulk runner.

Each worker alternates two phases until the time is up:

1. the Hypothesis state machine (:class:`kmem.fuzz.machine.DifferentialMachine`) for a
   batch of examples, with the campaign's example database (a directory, or a Redis
   server through Hypothesis's ``RedisExampleDatabase``), so workers share what they
   learn and a later run replays earlier failures first;
2. the bulk runner (:mod:`kmem.fuzz.bulk`) on a seeded stream (workloads a-d, random
   mixes) over one of :data:`kmem.fuzz.configs.STANDARD_CONFIGS`.

The first failure stops the campaign: its minimal reproducer is printed and saved
to the regression corpus (JSON, replayed by the normal test run), and the exit code
is 1. Workers are processes started here (``--workers K``); the fuzz targets are
plain Hypothesis tests, so HypoFuzz can run them on many machines too.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmem.spec.errors import InvalidArgument

from . import ops as O
from .bulk import run_stream
from .configs import STANDARD_CONFIGS, MachineConfig
from .impls import resolve

#: machines the bulk runner draws besides :data:`STANDARD_CONFIGS`: zones whose end is not
#: aligned to any large order (wrong, larger-order frees at the end), and zones above
#: 128 MB (the stats threshold for zones of 64 MiB or more; the "linux" lane's list
#: order on many top-order blocks)
EDGE_CONFIGS: tuple[MachineConfig, ...] = (
    MachineConfig("generic", 3 * 1024 + 17, min_free_kbytes=0),
    MachineConfig("generic", 40_000 + 3, holes=((1024, 1100),), min_free_kbytes=64),
    MachineConfig("x86_64", 200),
)
CAMPAIGN_CONFIGS = STANDARD_CONFIGS + EDGE_CONFIGS


class TimeUp(BaseException):
    """Raised inside a state-machine step when the campaign's time is up (a BaseException,
    so that Hypothesis does not take it for a failure of the test)."""


@dataclass
class Failure:
    kind: str  # "stateful", "bulk", "crash" or "hang"
    text: str  # what went wrong and the reproducer, printable
    entry: dict[str, Any]  # the corpus entry
    seconds: float = 0.0  # since the campaign started, shrinking included
    path: str | None = None
    detected: float | None = None  # seconds until the first failing check
    detected_cpu: float | None = None  # the worker's CPU seconds until then


@dataclass
class Progress:
    """What one worker has checked so far."""

    worker: int = 0
    examples: int = 0  # Hypothesis examples begun
    steps: int = 0  # checked state-machine steps of those examples
    sweep_total: int = 0  # traces in the opening sweep
    sweep_traces: int = 0  # sweep traces run to their end
    sweep_steps: int = 0  # checked steps of the sweep
    bulk_streams: int = 0
    bulk_ops: int = 0  # operations the bulk runner ran (per implementation)
    checked_ops: int = 0  # bulk operations compared between two implementations
    path_streams: int = 0  # whole-path streams (kmem.fuzz.path)
    path_ops: int = 0  # whole-path operations run (per implementation)
    path_checked: int = 0  # whole-path operations compared and judged
    events: Counter[str] = field(default_factory=Counter)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def checks(self) -> int:
        """Everything checked: sweep and state-machine steps, compared bulk operations."""
        return self.sweep_steps + self.steps + self.checked_ops + self.path_checked

    def add(self, other: Progress) -> None:
        for name in ("examples", "steps", "sweep_total", "sweep_traces", "sweep_steps",
                     "bulk_streams", "bulk_ops", "checked_ops", "path_streams", "path_ops",
                     "path_checked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.events.update(other.events)
        for k, v in other.stage_seconds.items():
            self.stage_seconds[k] = self.stage_seconds.get(k, 0.0) + v


@dataclass
class CampaignResult:
    seed: int
    seconds: float
    examples: int
    steps: int
    bulk_ops: int
    checked_ops: int
    events: int
    impls: list[str]
    failure: Failure | None = None
    totals: Progress = field(default_factory=Progress)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def summary(self) -> str:
        """One paragraph: what each stage checked, its time, and the verdict."""
        t = self.totals
        sec = t.stage_seconds
        rate = t.checked_ops / sec["bulk"] if sec.get("bulk") else 0.0
        parts = []
        if t.sweep_total:
            parts.append(f"opening sweep {t.sweep_traces}/{t.sweep_total} traces, "
                         f"{t.sweep_steps} checked steps ({sec.get('sweep', 0.0):.1f} s)")
        if "stateful" in sec:
            parts.append(f"state machine {self.examples} examples, {self.steps} checked steps "
                         f"({sec['stateful']:.1f} s)")
        if "bulk" in sec:
            parts.append(f"bulk runner {t.bulk_streams} streams, {self.bulk_ops} operations, "
                         f"{self.checked_ops} checked operations ({sec['bulk']:.1f} s, "
                         f"{rate:,.0f}/s)")
        if "path" in sec:
            parts.append(f"whole path (migratetypes, pcp lists, NUMA) {t.path_streams} streams, "
                         f"{t.path_ops} operations, {t.path_checked} checked "
                         f"({sec['path']:.1f} s)")
        return (f"kmem fuzz: seed {self.seed}, {self.seconds:.1f} s, impls "
                f"{','.join(self.impls)}: {'; '.join(parts) or 'nothing ran'}; "
                f"{self.events} distinct events: {'FAILED' if self.failure else 'clean'}")


# -- example databases ----------------------------------------------------------------------

def open_database(spec: str | None) -> Any:
    """``None`` (no database), a directory path, or ``redis://host:port/db``."""
    if spec is None or spec == "":
        return None
    if spec.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError as exc:
            raise InvalidArgument(f"--db {spec}: the redis package is missing ({exc}); "
                                  f"pip install 'kmem[fuzz]'") from None
        return RedisExampleDatabase(redis.Redis.from_url(spec))
    from hypothesis.database import DirectoryBasedExampleDatabase

    return DirectoryBasedExampleDatabase(spec)


# -- one worker -----------------------------------------------------------------------------

def _seed_hypothesis(seed: int) -> None:
    """Make Hypothesis's choice of test seeds follow ``seed`` (what --hypothesis-seed does)."""
    try:
        from hypothesis.core import threadlocal

        threadlocal._hypothesis_global_random = random.Random(seed)
    except (ImportError, AttributeError):  # pragma: no cover - other Hypothesis versions
        random.seed(seed)


def limit_shrinking(seconds: float) -> None:
    """Bound the time Hypothesis spends shrinking one failure (its own limit is 5 min;
    0 skips shrinking altogether)."""
    try:
        from hypothesis.internal.conjecture import engine

        engine.MAX_SHRINKING_SECONDS = max(1, int(seconds))
    except (ImportError, AttributeError):  # pragma: no cover - other Hypothesis versions
        pass


def _machine_class(impl_names: list[str]) -> Any:
    """A DifferentialMachine subclass for ``impl_names`` (typed Any: the campaign swaps
    its methods for counting wrappers)."""
    from .machine import DifferentialMachine

    return type("CampaignMachine", (DifferentialMachine,), {"impls": list(impl_names)})


def smoke_traces() -> list[list[tuple[str, dict[str, Any]]]]:
    """The campaign's opening sweep: on small x86 machines and a zone with holes, every
    rule on, allocate down to every limit (``exhaust``), free it all, and again."""
    from kmem.spec import gfp as g

    from .machine import RULES

    configs = (MachineConfig("x86_64", 32), MachineConfig("x86_32", 40),
               MachineConfig("generic", 700, holes=((100, 131),),
                             reserved=((300, 302), (513, 600)), min_free_kbytes=16))
    out: list[list[tuple[str, dict[str, Any]]]] = []
    for config in configs:
        out.append([("boot", {"config": config, "swarm": frozenset(RULES)}),
                    ("exhaust", {"gfp": g.GFP_HIGHUSER_MOVABLE, "order": 0}),
                    ("drain", {"count": 64}), ("drain", {"count": 64}),
                    ("exhaust", {"gfp": g.GFP_KERNEL | g.__GFP_COMP, "order": 0}),
                    ("put", {"i": 0, "compound_first": True}),
                    ("drain", {"count": 64}), ("drain", {"count": 64})])
    return out


def stateful_reproducer(impl_names: list[str], trace: list[tuple[str, dict[str, Any]]]) -> str:
    steps = ",\n    ".join(f"({name!r}, {kwargs!r})" for name, kwargs in trace)
    return ("from kmem.fuzz.configs import MachineConfig\n"
            "from kmem.fuzz.machine import DifferentialMachine\n\n"
            f"class Repro(DifferentialMachine):\n    impls = {impl_names!r}\n\n"
            f"Repro.replay([\n    {steps},\n])\n")


def _trace_to_json(trace: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    out = []
    for name, kwargs in trace:
        kw = {}
        for k, v in kwargs.items():
            if isinstance(v, MachineConfig):
                v = {"__config__": v.to_json()}
            elif isinstance(v, frozenset):
                v = {"__set__": sorted(v)}
            kw[k] = v
        out.append([name, kw])
    return out


def trace_from_json(steps: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, kw in steps:
        args = {}
        for k, v in kw.items():
            if isinstance(v, dict) and "__config__" in v:
                v = MachineConfig.from_json(v["__config__"])
            elif isinstance(v, dict) and "__set__" in v:
                v = frozenset(v["__set__"])
            args[k] = v
        out.append((name, args))
    return out


def _replays_clean(cls: Any, trace: list[tuple[str, dict[str, Any]]]) -> bool:
    """Replay ``trace`` once more: True when it runs without an exception."""
    try:
        cls.replay(list(trace))
    except Exception:
        return False
    return True


#: the stages of a worker, in the order of their first turns (the sweep stops early once
#: its traces are done; its share then goes to the others): the whole path's first turn
#: comes right after the sweep's, so that its streams (the slowest to reach their rare
#: shapes, :class:`kmem.fuzz.path.PathDeck`) start early even in a short box
STAGES = ("sweep", "path", "stateful", "bulk")


#: the whole path's part of what the sweep leaves, when other stages run beside it
PATH_SHARE = 0.6


class _Clock:
    """When the running stage must stop (read by the step hook inside Hypothesis)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # the campaign's
        self.stop = deadline  # the running stage's hard stop
        self.stage = "sweep"
        self.last_report = 0.0
        self.turn_steps = 0  # steps settled in the running turn


def _shares(stateful: bool, bulk: bool, sweep: bool, bulk_share: float,
            path: bool = False) -> dict[str, float]:
    """The stages' shares of a worker's time: the sweep at most a fifth; the whole path
    (when every implementation has it) 60 % of the rest, or all of it alone (its
    checks cover the most and cost the most per step); the state machine and the bulk
    runner split what is left by ``bulk_share``."""
    out: dict[str, float] = {}
    if stateful and sweep:
        out["sweep"] = 0.2
    rest = 1.0 - out.get("sweep", 0.0)
    if path:
        out["path"] = rest * PATH_SHARE if (stateful or bulk) else rest
        rest -= out["path"]
    if stateful and bulk:
        b = min(0.95, max(0.05, bulk_share))
        out["stateful"], out["bulk"] = rest * (1.0 - b), rest * b
    elif stateful:
        out["stateful"] = rest
    elif bulk:
        out["bulk"] = rest
    return out


def slice_seconds(total: float) -> float:
    """How long one turn of a stage lasts: an eighth of the campaign, 0.5-10 s."""
    return min(10.0, max(0.5, total / 8.0))


def worker_loop(worker: int, seed: int, deadline: float, impl_names: list[str],
                db_spec: str | None, report: Callable[[Progress], None],
                stateful: bool = True, bulk: bool = True,
                step_count: int = 50, batch: int = 25,
                shrink_seconds: float = 30.0, bulk_share: float = 0.5,
                sweep: bool = True, journal: Any = None, path: bool = True) -> Failure | None:
    """Run the stages in turns until ``deadline`` (time.monotonic()); return the first
    failure, or None when the time box ran out clean.

    The stages (the opening sweep, the Hypothesis state machine, the bulk runner) share
    the time by measured cost: each turn goes to the stage furthest below its share
    (:func:`_shares`; ``bulk_share`` is the bulk runner's part of what the sweep
    leaves), and lasts about :func:`slice_seconds`. A Hypothesis batch is sized on the
    measured cost of an example and cut at the end of its turn; a bulk stream is cut to
    what the measured rate checks in the turn. So no stage starves whatever the load.
    ``journal`` (optional) is told what runs now, so that a watching parent can report a
    crash or a hang of the implementation with a reproducer."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.errors import Flaky
    from hypothesis.reporting import with_reporter
    from hypothesis.stateful import run_state_machine_as_test

    from . import machine as machine_mod

    # each stage draws from its own generator, so that what one stage draws (how many
    # turns it had: the load) never changes another's draws; the whole-path deck's is
    # PathDeck.seeded's, the one the quality tier's path-mutant test deals from
    rng = random.Random(seed * 1000003 + worker)  # the state machine's
    bulk_rng = random.Random(f"kmem bulk {seed} {worker}")
    resolve(impl_names)  # fail early on a bad name
    cls = _machine_class(impl_names)
    db = open_database(db_spec)
    prog = Progress(worker)
    start = time.monotonic()
    cpu0 = time.process_time()
    total_s = max(0.0, deadline - start)
    streams = O.stream_chunks(bulk_rng.getrandbits(32), 0)
    clock = _Clock(deadline)
    first: list[float] = []  # when the first failing check came: wall and CPU seconds
    hyp_messages: list[object] = []  # Hypothesis's own reports, kept out of the output

    orig_settle = cls._settle

    def counting_settle(self: Any, *a: Any, **kw: Any) -> None:
        now = time.monotonic()
        if first:
            if now > deadline + shrink_seconds + 10:
                raise TimeUp  # shrinking must end too
        elif now > clock.stop and (clock.turn_steps or now > deadline):
            # a Hypothesis batch cannot be stopped otherwise; but a turn always settles
            # one step (inside the campaign's box), so that a slow first example (a cold
            # process, a big machine) cannot starve the stage turn after turn
            raise TimeUp
        orig_settle(self, *a, **kw)
        clock.turn_steps += 1
        if clock.stage == "sweep":
            prog.sweep_steps += 1
        else:
            prog.steps += 1
        if now - clock.last_report > 0.5:
            clock.last_report = now
            report(prog)

    def counting_init(self: Any) -> None:
        prog.examples += clock.stage == "stateful"
        machine_mod.DifferentialMachine.__init__(self)
        if journal is not None:
            journal.start_trace()

    cls._settle = counting_settle
    cls.__init__ = counting_init
    if journal is not None:
        from . import bulk as bulk_mod

        bulk_mod.HEARTBEAT = journal.beat
        orig_record = cls._record

        def journal_record(self: Any, name: str, **kwargs: Any) -> None:
            orig_record(self, name, **kwargs)
            journal.step(name, kwargs)  # before the implementations run it

        cls._record = journal_record
    limit_shrinking(shrink_seconds)

    failing_trace: list[tuple[str, dict[str, Any]]] = []

    def note(exc: Any) -> None:
        """Every failing check: remember when the first came, and the trace of the
        latest (after shrinking, Hypothesis replays the minimal example last)."""
        if not first:
            first[:] = [time.monotonic() - start, time.process_time() - cpu0]
        failing_trace[:] = list(cls.last_trace)
        failing_trace.append(("# failed here", {"error": str(exc)[:300]}))

    from .checks import Divergence as CheckFailure

    CheckFailure.hook = note

    from . import path as path_mod

    path_impls = path_mod.path_impls(impl_names) if path else []
    path_on = bool(path_impls) and path_mod.all_whole_path(impl_names)
    shares = _shares(stateful, bulk, sweep, bulk_share, path_on)
    spent = dict.fromkeys(shares, 0.0)
    prog.stage_seconds = dict(spent)  # every stage shows in the summary, run or not
    sweep_left = smoke_traces() if "sweep" in shares else []
    prog.sweep_total = len(sweep_left)
    per_example = 0.5  # seconds, measured as we go: sizes the Hypothesis batches
    bulk_rate = 5000.0  # operations per second, measured as we go: sizes bulk streams
    turn = slice_seconds(total_s)

    def stateful_turn(stop: float) -> Failure | None:
        nonlocal per_example
        _seed_hypothesis(rng.getrandbits(64))
        n = max(1, min(batch, int((stop - time.monotonic()) / per_example)))
        phases = [p for p in Phase if shrink_seconds > 0 or p is not Phase.shrink]
        s = settings(max_examples=n, stateful_step_count=step_count, deadline=None,
                     database=db, suppress_health_check=list(HealthCheck),
                     print_blob=False, report_multiple_bugs=False, phases=phases)
        machine_mod.EVENTS.clear()
        examples_before, t0 = prog.examples, time.monotonic()
        # an example may run over its turn by half a turn, never past the campaign
        clock.stop = min(deadline, stop + turn / 2)
        try:
            try:
                with with_reporter(hyp_messages.append):
                    run_state_machine_as_test(cls, settings=s)
            finally:
                prog.events.update(machine_mod.EVENTS)
                ran = prog.examples - examples_before
                if ran:
                    per_example = max(0.02, (time.monotonic() - t0) / ran)
        except TimeUp:
            if not first:
                return None  # the turn (or the campaign) is over: not a finding
            exc: BaseException = AssertionError(failing_trace[-1][1]["error"])
            trace = failing_trace[:-1]  # not shrunk: time ran out
            text = (f"state-machine failure (not shrunk, time ran out): {exc}\n\n"
                    f"Runnable reproducer:\n\n{stateful_reproducer(impl_names, trace)}")
            entry = {"kind": "stateful", "impls": impl_names, "error": str(exc)[:2000],
                     "trace": _trace_to_json(trace)}
            return Failure("stateful", text, entry, time.monotonic() - start,
                           detected=first[0], detected_cpu=first[1])
        except Exception as exc:  # the minimal failing example was just replayed
            if isinstance(exc, Flaky) and not first and time.monotonic() > clock.stop:
                # our TimeUp cut a replay short, so Hypothesis saw two runs of one
                # example differ: the end of the turn, not a finding
                return None
            clock.stop = float("inf")  # the replay below must run to its end
            if isinstance(exc, Flaky) and not first and _replays_clean(cls, cls.last_trace):
                # Hypothesis saw one example behave two ways, yet no check of the
                # machine ever failed and the recorded trace replays clean: the search
                # was nondeterministic, the allocators were not. Counted, not reported.
                prog.events["hypothesis Flaky, trace replays clean"] += 1
                return None
            trace = list(cls.last_trace) or failing_trace[:-1]
            text = (f"state-machine failure ({type(exc).__name__}): {exc}\n\n"
                    f"Runnable reproducer:\n\n{stateful_reproducer(impl_names, trace)}")
            entry = {"kind": "stateful", "impls": impl_names, "error": str(exc)[:2000],
                     "trace": _trace_to_json(trace)}
            return Failure("stateful", text, entry, time.monotonic() - start,
                           detected=first[0] if first else None,
                           detected_cpu=first[1] if first else None)
        return None

    sweep_at: list[Any] = [None, 0]  # the sweep's machine and its next step: a turn
    # pauses between steps and the next one goes on from there

    def sweep_turn(stop: float) -> Failure | None:
        trace = sweep_left[0]
        clock.stop = deadline
        try:
            if sweep_at[0] is None:
                sweep_at[:] = [cls(), 0]
            machine = sweep_at[0]
            while sweep_at[1] < len(trace):
                if sweep_at[1] and time.monotonic() > stop:
                    return None  # the turn is over: go on in the next
                name, kwargs = trace[sweep_at[1]]
                sweep_at[1] += 1
                getattr(machine, name)(**kwargs)
        except TimeUp:
            sweep_left.clear()  # the campaign is over
            return None
        except Exception as sweep_exc:
            text = (f"state-machine failure in the opening sweep "
                    f"({type(sweep_exc).__name__}): {sweep_exc}\n\nRunnable reproducer:\n\n"
                    f"{stateful_reproducer(impl_names, list(trace[:sweep_at[1]]))}")
            entry = {"kind": "stateful", "impls": impl_names, "error": str(sweep_exc)[:2000],
                     "trace": _trace_to_json(list(trace[:sweep_at[1]]))}
            return Failure("stateful", text, entry, time.monotonic() - start,
                           detected=time.monotonic() - start,
                           detected_cpu=time.process_time() - cpu0)
        sweep_at[:] = [None, 0]
        sweep_left.pop(0)
        prog.sweep_traces += 1
        return None

    def bulk_turn(stop: float) -> Failure | None:
        nonlocal streams, bulk_rate
        while True:
            now, cpu = time.monotonic(), time.process_time()
            if now >= stop:
                return None
            config = CAMPAIGN_CONFIGS[bulk_rng.randrange(len(CAMPAIGN_CONFIGS))]
            if config.preset == "generic":
                streams = O.stream_chunks(bulk_rng.getrandbits(32), config.size)
            label, stream = next(streams)
            # cut the stream to what the measured rate runs before the turn ends (any
            # prefix of a stream is a stream)
            fit = max(200, int(bulk_rate * (stop - now)))
            if fit < len(stream):
                stream = stream[:fit]
                label += f"[:{fit}]"
            if journal is not None:
                journal.stream(config, stream)
            rep = run_stream(config, stream, impl_names, shrink_seconds=min(15.0, shrink_seconds))
            prog.bulk_streams += 1
            prog.bulk_ops += rep.ops
            prog.checked_ops += rep.checked_ops
            prog.events[f"bulk {label.split('(')[0]} on {config.describe()}"] += 1
            if rep.divergence is not None:
                d = rep.divergence
                text = (f"bulk-runner divergence: {d.explain()}\n\nRunnable reproducer:\n\n"
                        f"{d.reproducer()}")
                return Failure("bulk", text, d.to_json(), time.monotonic() - start,
                               detected=now - start, detected_cpu=cpu - cpu0)
            if rep.seconds > 0.05:
                bulk_rate = max(200.0, rep.ops / rep.seconds)
            report(prog)

    path_rate = 100.0  # whole-path operations per second, measured as we go
    path_deck = path_mod.PathDeck.seeded(seed, worker)  # every stream shape once per round

    def path_turn(stop: float) -> Failure | None:
        """Whole-path streams (:mod:`kmem.fuzz.path`) until the turn ends."""
        nonlocal path_rate
        while True:
            now, cpu = time.monotonic(), time.process_time()
            if now >= stop:
                return None
            # short streams: each opens with a shaped prelude, and many of them reach
            # more machines and shapes than a few long ones
            n = max(40, min(200, int(path_rate * (stop - now))))
            config, ops = path_deck.stream(n)
            if journal is not None:
                journal.path_stream(config, ops, impl_names)
            rep = path_mod.run_path_stream(config, ops, path_impls,
                                           shrink_seconds=min(15.0, shrink_seconds),
                                           deadline=min(deadline, stop + turn / 2))
            prog.path_streams += 1
            prog.path_ops += rep.ops if rep.failure is None else len(rep.stream)
            prog.path_checked += rep.checked_ops
            prog.events[f"whole path on {config.preset}-{config.size or config.nodes_mb}"
                        f" cpus {config.nr_cpus}"
                        f"{'' if config.kernel is None else ' kernel ' + config.kernel}"] += 1
            if rep.failure is not None:
                text = (f"whole-path divergence: {rep.failure}\n\nRunnable reproducer:\n\n"
                        f"{rep.reproducer()}")
                return Failure("path", text, rep.to_json(), time.monotonic() - start,
                               detected=now - start + rep.found_after,
                               detected_cpu=cpu - cpu0 + rep.found_cpu)
            if rep.seconds > 0.05:
                path_rate = max(20.0, len(ops) / rep.seconds)
            report(prog)

    while time.monotonic() < deadline:
        live = [s for s in STAGES if s in shares and (s != "sweep" or sweep_left)]
        if not live:
            break
        stage = min(live, key=lambda s: spent[s] / shares[s])
        clock.stage = stage
        clock.turn_steps = 0
        t_turn = time.monotonic()
        stop = min(deadline, t_turn + turn)
        if journal is not None:
            journal.stage(stage)
        if stage == "sweep":
            fail = sweep_turn(stop)
        elif stage == "stateful":
            fail = stateful_turn(stop)
        elif stage == "path":
            fail = path_turn(stop)
        else:
            fail = bulk_turn(stop)
        spent[stage] += time.monotonic() - t_turn
        prog.stage_seconds[stage] = spent[stage]
        report(prog)
        if fail is not None:
            return fail
    return None


def _worker_main(worker: int, seed: int, deadline_s: float, impl_names: list[str],
                 db_spec: str | None, queue: Any, stateful: bool, bulk: bool,
                 options: dict[str, Any], journal_path: str | None = None) -> None:
    deadline = time.monotonic() + deadline_s
    journal = None
    if journal_path is not None:
        from .isolate import Journal, beat_while_compiling

        journal = Journal(journal_path)
        beat_while_compiling(journal)
    try:
        fail = worker_loop(worker, seed, deadline, impl_names, db_spec,
                           lambda p: queue.put(("progress", p)), stateful, bulk,
                           journal=journal, **options)
    except Exception:
        queue.put(("error", worker, traceback.format_exc()))
        return
    queue.put(("done", worker, fail))


# -- the campaign ---------------------------------------------------------------------------

class Display:
    """Live progress through :class:`kmem.progress.Progress`: a live line on a terminal
    (with rich), plain status lines on stderr every ``KMEM_PROGRESS_INTERVAL`` seconds
    elsewhere, nothing with ``KMEM_PROGRESS=off``."""

    def __init__(self, out: Any = None) -> None:
        from kmem.progress import Progress as Bar

        self.bar = Bar("kmem fuzz", unit="checks", out=out)
        self.bar.__enter__()

    def update(self, elapsed: float, total: Progress, workers: int) -> None:
        self.bar.done = total.checks
        self.bar.start(f"{workers} worker(s): sweep {total.sweep_steps} steps, "
                       f"{total.examples} examples / {total.steps} steps, "
                       f"{total.bulk_ops} bulk ops / {total.checked_ops} checked, "
                       f"{len(total.events)} events")

    def close(self) -> None:
        self.bar.close()


def save_failure(failure: Failure, corpus: str | Path | None) -> str | None:
    if corpus is None:
        return None
    d = Path(corpus)
    d.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(failure.entry, sort_keys=True)
    name = f"{failure.kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.json"
    (d / name).write_text(json.dumps(failure.entry, indent=1, sort_keys=True) + "\n")
    return str(d / name)


def run_campaign(*, seconds: float, seed: int | None = None, workers: int = 1,
                 impls: str | None = None, db: str | None = None,
                 corpus: str | Path | None = None, stateful: bool = True, bulk: bool = True,
                 out: Any = None, shrink_seconds: float = 30.0,
                 bulk_share: float = 0.5, sweep: bool = True, path: bool = True,
                 isolate: bool = True, hang_s: float | None = None) -> CampaignResult:
    """Run a campaign; print progress to ``out``; return the totals and any failure.

    ``isolate`` (default): the workers run in child processes under a watchdog, so a
    crash or a hang of the implementation under test (compiled code included) is a
    finding with a reproducer (:mod:`kmem.fuzz.isolate`); without it one worker runs
    in this process. ``hang_s``: the watchdog's patience (default
    :func:`hang_seconds`)."""
    out = out or sys.stdout
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little")
    names = [i.label for i in resolve(impls)]
    if workers < 1:
        raise InvalidArgument(f"--workers must be >= 1, got {workers}")
    open_database(db)  # fail early on a bad --db
    print(f"kmem fuzz: seed {seed}, {seconds:g} s, {workers} worker(s), impls {','.join(names)}"
          f", db {db or 'none'}", file=out, flush=True)
    display = Display(out)
    t0 = time.monotonic()
    totals: dict[int, Progress] = {}
    failure: Failure | None = None

    def total() -> Progress:
        t = Progress()
        for p in totals.values():
            t.add(p)
        return t

    def report(p: Progress) -> None:
        totals[p.worker] = p
        display.update(time.monotonic() - t0, total(), workers)

    try:
        options: dict[str, Any] = {"shrink_seconds": shrink_seconds, "bulk_share": bulk_share,
                                   "sweep": sweep, "path": path}
        if workers == 1 and not isolate:
            failure = worker_loop(0, seed, t0 + seconds, names, db, report, stateful, bulk,
                                  **options)
        else:
            failure = _run_workers(workers, seed, seconds, names, db, report, stateful, bulk,
                                   options, hang_s, shrink_seconds)
    finally:
        display.close()
    elapsed = time.monotonic() - t0
    t = total()
    res = CampaignResult(seed, elapsed, t.examples, t.steps, t.bulk_ops, t.checked_ops,
                         len(t.events), names, failure, t)
    if failure is not None:
        failure.path = save_failure(failure, corpus)
        print(failure.text, file=out)
        if failure.path:
            print(f"saved to the regression corpus: {failure.path}", file=out)
    print(res.summary(), file=out, flush=True)
    return res


def hang_seconds(seconds: float) -> float:
    """How long a worker may go without a sign of life before the watchdog calls it a
    hang: three turns and 20 s (a turn is the longest a stage runs without reporting;
    numba compiling or loading compiled code beats, :func:`kmem.fuzz.isolate.
    beat_while_compiling`)."""
    return 3 * slice_seconds(seconds) + 20.0


def _run_workers(workers: int, seed: int, seconds: float, names: list[str], db: str | None,
                 report: Callable[[Progress], None], stateful: bool,
                 bulk: bool, options: dict[str, Any], hang_s: float | None = None,
                 shrink_seconds: float = 30.0) -> Failure | None:
    """Run the workers in child processes and watch them: a worker that dies without a
    word is a crash, one silent for ``hang_s`` is killed as a hang; either comes back as
    a finding with the unit it ran, confirmed and shrunk in fresh processes."""
    import tempfile

    from . import isolate

    hang_s = hang_seconds(seconds) if hang_s is None else hang_s
    # numba's event module (0.4 s of CPU to import) once here, not in every forked worker
    # against its time box
    isolate.preload_listener()
    ctx: Any = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    queue = ctx.Queue()
    tmp = tempfile.TemporaryDirectory(prefix="kmem-fuzz-")
    journals = [os.path.join(tmp.name, f"worker{k}.journal") for k in range(workers)]
    procs = [ctx.Process(target=_worker_main, args=(k, seed, seconds, names, db, queue,
                                                    stateful, bulk, options, journals[k]),
                         daemon=True)
             for k in range(workers)]
    started = time.monotonic()
    for p in procs:
        p.start()
    alive = dict.fromkeys(range(workers), started)  # worker -> last sign of life
    failure: Failure | None = None

    def handle(msg: Any, now: float) -> Failure | None:
        if msg[0] == "progress":
            alive[msg[1].worker] = now
            report(msg[1])
        elif msg[0] == "error":
            return Failure("crash", f"worker {msg[1]} crashed:\n{msg[2]}", {})
        else:
            alive.pop(msg[1], None)
            return msg[2]
        return None

    try:
        while alive and failure is None:
            try:
                msg = queue.get(timeout=0.5)
            except Exception:
                msg = None
            now = time.monotonic()
            if msg is not None:
                failure = handle(msg, now)
                continue
            dead = [k for k in alive if not procs[k].is_alive()]
            if dead:  # its last words may still be in the queue
                procs[dead[0]].join(1)
                while failure is None:
                    try:
                        failure = handle(queue.get(timeout=0.5), now)
                    except Exception:
                        break
                if failure is not None:
                    break
            for k in list(alive):
                try:
                    alive[k] = max(alive[k], os.stat(journals[k]).st_mtime - time.time() + now)
                except OSError:
                    pass
                died = k in dead
                if died or now - alive[k] > hang_s:
                    kind = isolate.CRASH if died else isolate.HANG
                    if not died:
                        procs[k].kill()
                        procs[k].join(5)
                    failure = _isolated_failure(kind, k, procs[k].exitcode, journals[k], names,
                                                started, shrink_seconds, hang_s)
                    break
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=10)
        tmp.cleanup()
    return failure


def _isolated_failure(kind: str, worker: int, exitcode: int | None, journal: str,
                      names: list[str], started: float, shrink_seconds: float,
                      hang_s: float) -> Failure:
    """A crash or a hang of worker ``worker``: the unit from its journal, confirmed and
    shrunk in fresh child processes under a watchdog."""
    from . import isolate

    detected = time.monotonic() - started
    how = (f"killed by signal {-exitcode}" if exitcode is not None and exitcode < 0
           else f"exit status {exitcode}")
    unit = isolate.read_journal(journal)
    if unit is None:
        text = (f"{kind} of worker {worker} ({how}) before it ran anything it could "
                f"journal")
        return Failure(kind, text, {"kind": kind}, detected, detected=detected)
    original = len(unit.get("ops") or unit.get("stream") or unit.get("trace") or ())
    # a probe that lasts as long as the watchdog's patience is a hang; a shrink probe
    # gives up sooner (a shorter unit runs no longer than the whole)
    patience = hang_s  # a fresh process loads the compiled code first: as patient
    seen = isolate.probe(unit, names, patience)
    confirmed = seen == kind
    if confirmed and shrink_seconds > 0:
        small = isolate.shrink(unit, names, kind, shrink_seconds,
                               timeout=max(2.0, hang_s / 4))
        if small != unit and isolate.probe(small, names, patience) == kind:
            unit = small
    text = isolate.explain(kind, unit, names, confirmed, original)
    text = f"worker {worker} {how} after {detected:.1f} s: " + text
    entry = {"kind": kind, "impls": names, "unit": unit}
    return Failure(kind, text, entry, time.monotonic() - started, detected=detected)


def replay_entry(entry: dict[str, Any], impls: str | list[str] | None = None) -> None:
    """Replay one regression-corpus entry against ``impls`` (default: model and, when
    built, fast); raise AssertionError (or a Divergence) if it fails."""
    if entry["kind"] in ("crash", "hang"):
        from . import isolate

        names = [i.label for i in resolve(impls)]
        seen = isolate.probe(entry["unit"], names, hang_seconds(60.0))
        if seen in (isolate.CRASH, isolate.HANG):
            raise AssertionError(f"the {entry['kind']} entry still ends in a {seen} on "
                                 f"{','.join(names)}")
        return
    if entry["kind"] == "path":
        from .path import PathConfig, replay_path

        replay_path(PathConfig.from_json(entry["config"]), entry["stream"],
                    impls if impls is not None else entry["impls"])
        return
    if entry["kind"] == "bulk":
        from .bulk import replay

        replay(MachineConfig.from_json(entry["config"]), entry["ops"], impls)
        return
    cls = _machine_class([i.label for i in resolve(impls)])
    cls.replay(trace_from_json(entry["trace"]))
