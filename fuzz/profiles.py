"""Hypothesis profiles for kmem's property tests and fuzz targets.

- ``ci``: deterministic (``derandomize=True``: the same examples on every run, no example
  database), no deadline: what CI runs per commit. Randomised search happens in the
  time-boxed ``kmem fuzz`` campaign that CI runs beside it.
- ``dev``: Hypothesis's defaults without the 200 ms deadline and the too-slow health
  checks: what a plain ``pytest`` runs (a loaded machine must not fail a test that an
  idle one passes).
- ``fuzz``: random, 2,000 examples per test, no deadline: a developer's long local run.
- ``nightly``: random, 20,000 examples per test, 100 steps per state-machine run.

Select one with ``HYPOTHESIS_PROFILE=fuzz pytest`` (``tests/conftest.py`` loads ``ci``
when the ``CI`` environment variable is set and nothing else is asked for, ``dev``
otherwise), or with
``pytest -p kmem.fuzz.pytest_plugin --kmem-profile nightly``.
"""

from __future__ import annotations

import os

PROFILES = ("ci", "dev", "fuzz", "nightly")


def register_profiles() -> None:
    from hypothesis import HealthCheck, settings

    slow = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                              print_blob=True, suppress_health_check=slow)
    # Hypothesis's defaults without what depends on the machine's speed (the 200 ms
    # deadline per example, the too-slow health checks): a loaded machine must not fail
    # a test that an idle one passes
    settings.register_profile("dev", deadline=None, suppress_health_check=slow)
    settings.register_profile("fuzz", max_examples=2000, deadline=None,
                              suppress_health_check=slow)
    settings.register_profile("nightly", max_examples=20000, stateful_step_count=100,
                              deadline=None, suppress_health_check=slow)


def load_profile_from_env() -> str:
    """Register the profiles and load ``$HYPOTHESIS_PROFILE``, else ``ci`` under CI, else
    ``dev`` (Hypothesis's defaults without the deadline). Returns the name loaded."""
    from hypothesis import settings

    register_profiles()
    name = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    settings.load_profile(name)
    return name
