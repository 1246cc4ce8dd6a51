"""The vmstat worker's clock (mm/vmstat.c of 6.12): model time, and the per-CPU
``vmstat_update`` runs it triggers, once for the model and
:class:`kmem.fastimpl.MtMachine` over a small machine interface
(:class:`ClockMachine`); what one run does is the machine's (``decay_pcp_high``:
:func:`kmem.spec.pcp.decay_pcp_high`).
"""

from __future__ import annotations

from typing import Protocol

from .errors import InvalidArgument


class ClockMachine(Protocol):
    """What :func:`advance_clock` needs of a machine: its model time, whether it has
    per-CPU lists (``nr_cpus`` and ``migratetypes``), and one vmstat worker run on a CPU
    (``vmstat_update``, returning whether there is more to do)."""

    clock_s: float

    @property
    def nr_cpus(self) -> int: ...
    @property
    def migratetypes(self) -> bool: ...
    def vmstat_update(self, cpu: int) -> bool: ...


def advance_clock(m: ClockMachine, seconds: float) -> None:
    """Let ``seconds`` of model time (jiffies) pass on ``m``. Rate limits such as
    ``warn_alloc``'s one report per 10 s look at this clock, and on a machine with per-CPU
    lists the vmstat worker runs: at every whole second the clock crosses
    (``sysctl_stat_interval`` = HZ, rounded to whole seconds by ``round_jiffies_relative``;
    mm/vmstat.c of 6.12, 1936 and 2003-2015) each CPU, in number order, runs
    ``m.vmstat_update``. Once a round finds nothing to do on any CPU, later rounds would
    change nothing (the kernel stops re-queueing the worker) and are skipped."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise InvalidArgument(f"seconds must be a number >= 0, got {seconds!r}")
    before = m.clock_s
    m.clock_s += seconds
    if not m.nr_cpus or not m.migratetypes:
        return
    for _ in range(int(m.clock_s) - int(before)):
        busy = False
        for cpu in range(m.nr_cpus):
            busy |= m.vmstat_update(cpu)
        if not busy:
            break
