"""Shared fixtures. ``kmem_cli`` runs the installed ``kmem`` entry point as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: the console script pip installed next to this interpreter (``.venv/bin/kmem``)
KMEM_SCRIPT = Path(sys.executable).with_name("kmem")

RunKmem = Callable[..., subprocess.CompletedProcess]

try:  # no test may depend on the machine's speed: no Hypothesis deadline (see the profiles)
    from kmem.fuzz.profiles import load_profile_from_env

    load_profile_from_env()
except ImportError:  # hypothesis is not installed: its tests are skipped
    pass


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


@pytest.fixture
def kmem_cli() -> RunKmem:
    """``kmem_cli("gfp", "0xcc0")`` -> CompletedProcess of the real ``kmem`` command."""
    return run_kmem
