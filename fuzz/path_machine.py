"""The differential state machine of the whole allocation path: Hypothesis drives
:class:`kmem.fuzz.path.PathRunner` (model, fastimpl and any whole-path implementation
side by side, judged by the spec after every step) with rules for migratetype mixes,
atomic high-order requests (the highatomic reserve), ``exhaust`` runs, allocations on a
NUMA node, frees, get/put, misuse, ``drain_all_pages``, the vmstat worker's decay,
switching the current CPU and letting time pass. Subclass it to name other
implementations::

    from kmem.fuzz.path_machine import PathDifferentialMachine

    class Mine(PathDifferentialMachine):
        impls = "model,fast"

    TestMine = Mine.TestCase
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from .path import (
    EXHAUST_MASKS,
    NOWARN,
    PATH_CONFIGS,
    PATH_CONFIGS_61,
    PATH_MASKS,
    PATH_ORDERS,
    PathConfig,
    PathRunner,
    path_impls,
)


class PathDifferentialMachine(RuleBasedStateMachine):
    """Every rule is one whole-path operation run on every implementation and checked."""

    impls: ClassVar[str] = "model,fast"
    #: the quick ones, and four of them on Linux 6.1's path
    configs: ClassVar[tuple[PathConfig, ...]] = (*PATH_CONFIGS[:8], *PATH_CONFIGS_61[:4])

    def __init__(self) -> None:
        super().__init__()
        self.runner: PathRunner | None = None
        self.trace: list[tuple[Any, ...]] = []

    @initialize(config=st.sampled_from((*PATH_CONFIGS[:8], *PATH_CONFIGS_61[:4])))
    def boot(self, config: PathConfig) -> None:
        self.config = config
        self.runner = PathRunner(config, path_impls(self.impls))

    def _op(self, *op: Any) -> None:
        assert self.runner is not None
        self.trace.append(op)
        self.runner.apply(op)

    @rule(mask=st.sampled_from(PATH_MASKS), order=st.sampled_from(PATH_ORDERS))
    def alloc(self, mask: int, order: int) -> None:
        self._op("alloc", mask | NOWARN, order)

    @precondition(lambda self: self.runner is not None and len(self.config.nodes_mb) > 1)
    @rule(nid=st.integers(0, 3), mask=st.sampled_from(PATH_MASKS), order=st.sampled_from(PATH_ORDERS))
    def alloc_node(self, nid: int, mask: int, order: int) -> None:
        self._op("alloc_node", nid % len(self.config.nodes_mb), mask | NOWARN, order)

    @rule(mask=st.sampled_from(EXHAUST_MASKS), order=st.sampled_from((0, 1, 2, 3, 9)),
          limit=st.sampled_from((16, 128, 1024)))
    def exhaust(self, mask: int, order: int, limit: int) -> None:
        self._op("exhaust", mask | NOWARN, order, limit)

    @rule(i=st.integers(0, 1 << 16))
    def free(self, i: int) -> None:
        self._op("free", i)

    @rule(i=st.integers(0, 1 << 16))
    def get(self, i: int) -> None:
        self._op("get", i)

    @rule(i=st.integers(0, 1 << 16))
    def put(self, i: int) -> None:
        self._op("put", i)

    @rule(i=st.integers(0, 1 << 16), how=st.sampled_from((-1, 1, 2, "inner", "twice")))
    def misfree(self, i: int, how: Any) -> None:
        self._op("misfree", i, how)

    @rule()
    def drain(self) -> None:
        self._op("drain")

    @precondition(lambda self: self.runner is not None and self.config.nr_cpus > 1)
    @rule(cpu=st.integers(0, 7))
    def switch_cpu(self, cpu: int) -> None:
        self._op("cpu", cpu % self.config.nr_cpus)

    @precondition(lambda self: self.runner is not None and self.config.nr_cpus > 0)
    @rule(cpu=st.integers(0, 7))
    def decay(self, cpu: int) -> None:
        self._op("decay", cpu % self.config.nr_cpus)

    @rule(seconds=st.sampled_from((1, 11)))
    def clock(self, seconds: int) -> None:
        self._op("clock", seconds)
