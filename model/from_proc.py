"""Moved: the /proc placement lives in :mod:`kmem.spec.from_proc` (one placement for every
implementation). This module re-exports it for code that imports it from here."""

from kmem.spec.from_proc import (
    SYSCTL_NAMES,
    PlacementError,
    boost_problems,
    machine_from_proc,
    place_free_blocks,
    read_sysctl_dir,
    read_sysctls,
)

__all__ = ["SYSCTL_NAMES", "PlacementError", "boost_problems", "machine_from_proc",
           "place_free_blocks", "read_sysctl_dir", "read_sysctls"]
