"""An opt-in pytest plugin: kmem's oracle and reference machines as fixtures.

Enable it with ``pytest -p kmem.fuzz.pytest_plugin`` or, in a ``conftest.py``,
``pytest_plugins = ["kmem.fuzz.pytest_plugin"]``. Then::

    def test_my_buddy_allocator(kmem_oracle):
        oracle = kmem_oracle(1 << 12, rule="weak")   # a ZoneOracle for a 4096-page zone
        pfn = my_alloc(0)
        oracle.alloc(0, pfn)
        my_free(pfn, 0)
        oracle.free(pfn, 0)

    def test_against_the_model(kmem_machine):
        m = kmem_machine(MachineConfig("x86_64", 64), policy="linux")

``--kmem-profile ci|fuzz|nightly`` loads one of kmem's Hypothesis profiles
(:mod:`kmem.fuzz.profiles`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .configs import MachineConfig


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kmem")
    group.addoption("--kmem-profile", default=None, choices=("ci", "fuzz", "nightly"),
                    help="load one of kmem's Hypothesis profiles")


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("--kmem-profile", default=None)
    if name:
        from hypothesis import settings

        from .profiles import register_profiles

        register_profiles()
        settings.load_profile(name)


def _config(config: MachineConfig | int) -> MachineConfig:
    if isinstance(config, int):
        return MachineConfig("generic", config, min_free_kbytes=0)
    return config


@pytest.fixture
def kmem_oracle() -> Callable[..., Any]:
    """A factory: ``kmem_oracle(config_or_npages, zone=None, rule="linux", **kwargs)`` gives
    a :class:`kmem.fuzz.oracle.ZoneOracle` for one zone of the configuration (default:
    its first zone with managed pages), with that zone's span, holes and reserved
    ranges. Other keyword arguments go to ZoneOracle."""
    from .oracle import ZoneOracle

    def make(config: MachineConfig | int = 1 << 10, *, zone: int | None = None,
             rule: str = "linux", **kwargs: Any) -> ZoneOracle:
        layout = _config(config).layout()
        spans = [z for z in layout.zones if z.managed_pages]
        span = layout.zones[zone] if zone is not None else spans[0]
        return ZoneOracle(span.start_pfn, span.end_pfn, holes=span.holes,
                          reserved=span.reserved, rule=rule, **kwargs)

    return make


@pytest.fixture
def kmem_machine() -> Callable[..., Any]:
    """A factory: ``kmem_machine(config_or_npages, policy="lowest", impl="model")`` boots a
    reference machine (or any implementation :mod:`kmem.fuzz.impls` knows)."""
    from .impls import resolve

    def make(config: MachineConfig | int = 1 << 10, *, policy: str = "lowest",
             impl: str = "model") -> Any:
        return resolve(f"{impl}@{policy}")[0].build(_config(config))

    return make
