"""Shared fixtures. ``kmem_cli`` runs a ``kmem`` command and returns what a user would see:
its exit status, stdout and stderr (in this process for the commands that only print and
for arguments that do not parse, through the installed entry point for the others); ``run_kmem`` always starts the real
``kmem`` process."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

#: the console script pip installed next to this interpreter (``.venv/bin/kmem``)
KMEM_SCRIPT = Path(sys.executable).with_name("kmem")

RunKmem = Callable[..., subprocess.CompletedProcess]

# Every ``kmem`` and ``python`` the tests start imports the package from source, and pytest
# rewrites every test module's asserts: where the environment says PYTHONDONTWRITEBYTECODE,
# each process would compile all of it again on every run (about half of a ``kmem``
# command's start-up, and seconds of CPU per pytest process and xdist worker). The tests
# and their children keep that bytecode in one folder outside the source tree instead
# (KMEM_TEST_PYCACHE, else the user's cache folder), kept between runs as __pycache__
# folders would be: Python and pytest check each entry against its source's size and time.
if sys.dont_write_bytecode or "KMEM_TEST_PYCACHE" in os.environ:
    _PYCACHE = os.environ.get("KMEM_TEST_PYCACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kmem" / "pycache")
    os.environ["KMEM_TEST_PYCACHE"] = os.environ["PYTHONPYCACHEPREFIX"] = _PYCACHE
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.pycache_prefix, sys.dont_write_bytecode = _PYCACHE, False

try:  # no test may depend on the machine's speed: no Hypothesis deadline (see the profiles)
    from kmem.fuzz.profiles import load_profile_from_env

    load_profile_from_env()
except ImportError:  # hypothesis is not installed: its tests are skipped
    pass


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject's addopts): one worker per core for the fast tier; the other
    tiers (``-m slow``, ``proof``, ``quality``, ``live``, ``fuzz``) run in one process, as
    their time boxes and CPU-time measurements were set for. PYTEST_XDIST_AUTO_NUM_WORKERS
    still decides where it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    if "not fuzz" in (config.getoption("markexpr", "") or ""):
        return None  # the fast tier: xdist's own count (the machine's cores)
    return 0


def run_kmem(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
             **kwargs) -> subprocess.CompletedProcess:
    """``kmem ARGS...`` in a subprocess: returns the CompletedProcess (text stdout/stderr).

    Progress display is off unless ``env`` sets ``KMEM_PROGRESS``, so that stderr
    holds only what the command itself says.
    """
    assert KMEM_SCRIPT.exists(), f"the kmem entry point is not installed at {KMEM_SCRIPT}"
    full_env = {**os.environ, "KMEM_PROGRESS": "off", **(env or {})}
    return subprocess.run([str(KMEM_SCRIPT), *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, **kwargs)


#: commands that only compute and print (no child processes, signals, workers, solvers):
#: ``kmem_cli`` runs them in the test's own process through :func:`kmem.cli.main`, the
#: function the entry point calls. ``run_kmem`` and tests/test_bad_inputs.py still run
#: every command through the installed entry point.
IN_PROCESS = frozenset({"buddyinfo", "decode-pf", "demo", "gfp", "kmalloc", "pagetypeinfo",
                        "slab", "slabinfo", "vmmap", "zoneinfo"})
#: sub-commands that only read files and print, of commands that do more elsewhere
IN_PROCESS_SUB = frozenset({("trace", "check"), ("trace", "stats")})


def run_kmem_in_process(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
                        **kwargs) -> subprocess.CompletedProcess:
    """``kmem ARGS...`` as :func:`run_kmem` returns it, run in this process where the command
    only prints (:data:`IN_PROCESS`, :data:`IN_PROCESS_SUB`, ``--version``, ``--help``) or
    where the arguments do not parse (argparse's usage error is all such a command does),
    and nothing but ``env`` is asked for; otherwise the real process. What the interpreter would do with an exception
    that escapes ``main`` (traceback on stderr, exit 1) or with ``SystemExit`` is done here
    too, so that tests for "no traceback" and exit codes see the same."""
    if kwargs or not args:
        return run_kmem(*args, env=env, timeout=timeout, **kwargs)
    if not (args[0] in IN_PROCESS or args[0] in ("--version", "--help")
            or tuple(args[:2]) in IN_PROCESS_SUB):
        refused = _in_process(args, env, parse_only=True)
        return refused if refused is not None else run_kmem(*args, env=env, timeout=timeout)
    done = _in_process(args, env, parse_only=False)
    assert done is not None
    return done


def _in_process(args: tuple[str, ...], env: dict[str, str] | None,
                parse_only: bool) -> subprocess.CompletedProcess | None:
    """:func:`kmem.cli.main` of ``args`` in this process (``parse_only``: only its argument
    parsing; None when the arguments parse, so that the command has yet to run)."""
    from kmem import cli

    out, err = io.StringIO(), io.StringIO()
    new_env = {"KMEM_PROGRESS": "off", **(env or {})}
    old_env = {k: os.environ.get(k) for k in new_env}
    os.environ.update(new_env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if parse_only:
                    cli.build_parser().parse_args(list(args))
                    return None
                rc = cli.main(list(args))
            except SystemExit as exc:  # argparse: --help, --version, usage errors
                if exc.code is None or isinstance(exc.code, int):
                    rc = exc.code or 0
                else:
                    print(exc.code, file=sys.stderr)
                    rc = 1
            except Exception:  # what the interpreter prints for an uncaught exception
                traceback.print_exc()
                rc = 1
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["kmem", *args], rc, out.getvalue(), err.getvalue())


@pytest.fixture
def kmem_cli() -> RunKmem:
    """``kmem_cli("gfp", "0xcc0")`` -> CompletedProcess of the ``kmem`` command (in this
    process where it only prints: :func:`run_kmem_in_process`)."""
    return run_kmem_in_process
