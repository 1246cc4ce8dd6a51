"""kmem.fastimpl - the fast implementation: flat NumPy state and numba-compiled steps.

The twin of :mod:`kmem.model`, observably identical to it (same constructors, page
API, results, free lists, /proc output and exceptions), checked against the spec
and the model by the test suite:

- :class:`Machine` (``machine.py``) with policies ``"lowest"`` (per-order bitmaps
  with summary levels) and ``"linux"`` (the kernel's intrusive lists, by pfn);
- :mod:`kmem.fastimpl.api`: the page API under the kernel's names;
- :func:`run_ops` (``batch.py``): a whole array of operations in compiled code.

Needs the ``[fast]`` extra (numba, numpy): ``pip install 'kmem[fast]'``.
"""

try:
    import numba  # noqa: F401
    import numpy  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "kmem.fastimpl needs numba and numpy, the [fast] extra: pip install 'kmem[fast]' "
        f"(missing: {exc.name})") from exc

from . import api
from .batch import OP_ALLOC, OP_FREE, OP_GET, OP_PUT, pack_ops, ref, run_ops, unpack_ops
from .machine import Machine, Page, Zone

__all__ = ["Machine", "Page", "Zone", "api", "run_ops", "ref", "pack_ops", "unpack_ops",
           "OP_ALLOC", "OP_FREE", "OP_GET", "OP_PUT"]
