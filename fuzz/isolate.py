"""Crashes and hangs of the implementation under test become findings with reproducers.

``kmem fuzz`` runs its workers in child processes. Each worker keeps a *journal*: a
small file that says what it runs now (the trace of the current state-machine example,
step by step, each step written before the implementations run it; or the bulk stream
about to run). The parent watches every worker: a worker that dies without a word (a
segfault in compiled code, an abort) is a **crash**; one that neither reports
progress nor writes its journal for ``hang_seconds`` is killed and is a **hang**
(an endless loop in a compiled step). The journal's last unit is then replayed in a
fresh child process with a watchdog (:func:`probe`) to confirm it, shrunk by delta
debugging where time allows (:func:`shrink`), and reported with a runnable
reproducer, as ``kmem check`` does for foreign programs.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

from .configs import MachineConfig

#: what a probe of a unit saw
OK, FAIL, CRASH, HANG = "ok", "fails", "crash", "hang"


class Journal:
    """What a worker runs now, in a file its parent reads after a crash or a hang."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.f = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - lives with the worker

    def _reset(self, head: dict[str, Any]) -> None:
        self.f.seek(0)
        self.f.truncate()
        self.f.write(json.dumps(head) + "\n")
        self.f.flush()

    def beat(self) -> None:
        """A sign of life without news (the file's time moves)."""
        os.utime(self.path)

    def stage(self, name: str) -> None:
        self._reset({"kind": "idle", "stage": name})

    def start_trace(self) -> None:
        self._reset({"kind": "stateful"})

    def step(self, name: str, kwargs: dict[str, Any]) -> None:
        from .campaign import _trace_to_json

        self.f.write(json.dumps(_trace_to_json([(name, kwargs)])[0]) + "\n")
        self.f.flush()

    def stream(self, config: MachineConfig, ops: list[Any]) -> None:
        self._reset({"kind": "bulk", "config": config.to_json(),
                     "ops": [list(op) for op in ops]})

    def path_stream(self, config: Any, ops: list[Any], impl_names: list[str]) -> None:
        """A whole-path stream (:mod:`kmem.fuzz.path`) about to run."""
        self._reset({"kind": "path", "config": config.to_json(),
                     "stream": [list(op) for op in ops], "impls": impl_names})


def preload_listener() -> None:
    """Import what :func:`beat_while_compiling` needs, so that forked workers inherit it."""
    try:
        import numba.core.event  # noqa: F401
    except ImportError:
        pass


def beat_while_compiling(journal: Journal, every: float = 1.0) -> None:
    """Keep ``journal`` beating while numba compiles (a first call can take tens of
    seconds on a loaded machine, which is no hang): a listener counts the compilations
    under way and a daemon thread beats while there are any. A compiled step that never
    returns holds the interpreter, so the thread cannot beat for it: it stays a hang."""
    import threading

    try:
        from numba.core import event
    except ImportError:  # no numba: nothing compiles
        return
    under_way = [0]

    class _Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            under_way[0] += 1

        def on_end(self, ev: Any) -> None:
            under_way[0] -= 1

    # the compiler lock is held while a function compiles and while its cached machine
    # code loads (the slow parts of a first call); "numba:compile" covers compiling only
    event.register("numba:compiler_lock", _Listener())

    def run() -> None:
        while True:
            time.sleep(every)
            if under_way[0] > 0:
                try:
                    journal.beat()
                except OSError:
                    return

    threading.Thread(target=run, daemon=True, name="kmem-compile-beat").start()


def read_journal(path: str | Path) -> dict[str, Any] | None:
    """The unit a worker was running: ``{"kind": "stateful", "trace": [...]}`` or
    ``{"kind": "bulk", "config": ..., "ops": [...]}``; None if it ran nothing."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    if not lines:
        return None
    try:
        head = json.loads(lines[0])
    except ValueError:
        return None
    if head.get("kind") in ("bulk", "path"):
        return head
    if head.get("kind") != "stateful":
        return None
    steps = []
    for line in lines[1:]:
        try:
            steps.append(json.loads(line))
        except ValueError:  # a line cut by the crash
            break
    return {"kind": "stateful", "trace": steps} if steps else None


def _run_unit(unit: dict[str, Any], impl_names: list[str]) -> None:
    if unit["kind"] == "path":
        from .path import PathConfig, replay_path

        replay_path(PathConfig.from_json(unit["config"]), unit["stream"], impl_names)
        return
    if unit["kind"] == "bulk":
        from .bulk import replay

        replay(MachineConfig.from_json(unit["config"]), unit["ops"], impl_names)
        return
    from .campaign import _machine_class, trace_from_json

    _machine_class(impl_names).replay(trace_from_json(unit["trace"]))


def _probe_main(unit: dict[str, Any], impl_names: list[str], beat_path: str) -> None:
    import faulthandler

    faulthandler.disable()  # the crash is expected here: no dump of the child's stack
    beat_while_compiling(Journal(beat_path))
    try:
        _run_unit(unit, impl_names)
    except Exception:  # noqa: BLE001 - a failed check: exit 1, not a crash
        os._exit(1)
    os._exit(0)


def probe(unit: dict[str, Any], impl_names: list[str], timeout: float) -> str:
    """Replay ``unit`` in a fresh child process under a watchdog: OK, FAIL (a check or an
    exception), CRASH (killed by a signal, or died without exiting), HANG (killed by
    the watchdog after ``timeout`` seconds)."""
    import tempfile

    ctx: Any = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    with tempfile.TemporaryDirectory(prefix="kmem-probe-") as tmp:
        beat = os.path.join(tmp, "beat")
        Path(beat).touch()
        p = ctx.Process(target=_probe_main, args=(unit, impl_names, beat), daemon=True)
        p.start()
        # patience counts from the latest sign of life: numba compiling is no hang
        while True:
            p.join(0.25)
            if not p.is_alive():
                break
            if time.time() - os.stat(beat).st_mtime > timeout:
                p.kill()
                p.join(5)
                return HANG
    code = p.exitcode
    return OK if code == 0 else FAIL if code == 1 else CRASH


def _parts(unit: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """(the fixed head, the items ddmin may remove)."""
    if unit["kind"] == "bulk":
        return [], list(unit["ops"])
    if unit["kind"] == "path":
        return [], list(unit["stream"])
    trace = list(unit["trace"])
    return trace[:1], trace[1:]


def _with(unit: dict[str, Any], head: list[Any], items: list[Any]) -> dict[str, Any]:
    if unit["kind"] == "bulk":
        return {**unit, "ops": items}
    if unit["kind"] == "path":
        return {**unit, "stream": items}
    return {**unit, "trace": head + items}


def shrink(unit: dict[str, Any], impl_names: list[str], kind: str, seconds: float,
           timeout: float) -> dict[str, Any]:
    """Delta debugging over the unit's steps (a trace keeps its boot step) while the
    probe still sees ``kind``, for at most ``seconds``."""
    from .bulk import ddmin

    head, items = _parts(unit)
    deadline = time.monotonic() + seconds
    small = ddmin(items, lambda cand: probe(_with(unit, head, cand), impl_names, timeout)
                  == kind, deadline)
    return _with(unit, head, small)


def reproducer(unit: dict[str, Any], impl_names: list[str]) -> str:
    """Python that replays the unit (and crashes or hangs as the worker did)."""
    if unit["kind"] == "path":
        return ("from kmem.fuzz.path import PathConfig, replay_path\n"
                f"replay_path(PathConfig.from_json({unit['config']!r}), {unit['stream']!r}, "
                f"{','.join(impl_names)!r})\n")
    if unit["kind"] == "bulk":
        ops = ",\n    ".join(repr(tuple(op)) for op in unit["ops"])
        return ("from kmem.fuzz.bulk import replay\nfrom kmem.fuzz.configs import MachineConfig\n"
                f"replay(MachineConfig.from_json({unit['config']!r}), [\n    {ops},\n], "
                f"{','.join(impl_names)!r})\n")
    from .campaign import stateful_reproducer, trace_from_json

    return stateful_reproducer(impl_names, trace_from_json(unit["trace"]))


def explain(kind: str, unit: dict[str, Any], impl_names: list[str], confirmed: bool,
            original: int) -> str:
    """The finding's text: what happened, where, and the reproducer."""
    what = ("the implementation crashed the worker process (killed by a signal, e.g. an "
            "out-of-bounds write in compiled code)" if kind == CRASH else
            "the implementation hung (no progress until the watchdog killed the worker, "
            "e.g. an endless loop in compiled code)")
    size = len(unit.get("ops") or unit.get("stream") or unit.get("trace") or ())
    where = {"bulk": "bulk stream", "path": "whole-path stream"}.get(unit["kind"],
                                                                   "state-machine trace")
    last = ""
    if unit["kind"] == "stateful" and unit["trace"]:
        name, kw = unit["trace"][-1]
        last = f"; last step {name}({', '.join(f'{k}={v!r}' for k, v in kw.items())})"
    return (f"{kind} of the implementation under test: {what}.\n"
            f"{where} of {size} steps (from {original}){last}; "
            f"{'confirmed in a fresh process' if confirmed else 'NOT confirmed on replay'}"
            f"\n\nRunnable reproducer:\n\n{reproducer(unit, impl_names)}")
