"""Page contents: the sparse store lives in :mod:`kmem.spec.memory` (shared with fastimpl)."""

from kmem.spec.memory import PageContents

__all__ = ["PageContents"]
