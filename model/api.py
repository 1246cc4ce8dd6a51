"""The page API under the kernel's names: :mod:`kmem.spec.page_api`, written once over the
machine interface every implementation provides (``api.alloc_pages(m, gfp, order)``,
``api.__free_pages(m, page, order)``, ...). This module re-exports it."""

from kmem.spec.page_api import *  # noqa: F403
from kmem.spec.page_api import __all__  # noqa: F401
