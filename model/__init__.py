"""kmem.model — the reference model: a plain, obviously correct page allocator obeying kmem.spec.

- :class:`Machine` (``model/machine.py``): zones, the page API under Pythonic names,
  /proc output, ``Machine.from_proc``.
- :mod:`kmem.model.api`: the same page API under the kernel's names
  (``alloc_pages(m, gfp, order)``, ``__free_pages(m, page, order)``, ...).
- :class:`Zone` (``model/zone.py``): one zone's buddy allocator (``free_area[]``).
- :mod:`kmem.model.slab`: the slab layer over the page allocator (SLUB, or 2.6.11 SLAB
  with ``Machine(..., slab="slab")``): ``kmalloc(m, size, gfp)``, ``kmem_cache_create``, ...
"""

from . import api, slab
from .machine import Machine
from .page import Page
from .zone import Zone

__all__ = ["Machine", "Page", "Zone", "api", "slab"]
