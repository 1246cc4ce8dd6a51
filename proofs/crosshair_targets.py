"""The arithmetic twins restricted to their domain, for ``crosshair diffbehavior``.

diffbehavior takes no preconditions, so each wrapper returns None outside the
domain (a negative pfn, an order outside 0..MAX_PAGE_ORDER); inside it the two
wrappers of a pair must return the same value for every input.
"""

from __future__ import annotations

from kmem.spec import buddy
from kmem.spec.constants import MAX_PAGE_ORDER


def _in_domain(pfn: int, order: int) -> bool:
    return pfn >= 0 and 0 <= order <= MAX_PAGE_ORDER


def find_buddy_bits(pfn: int, order: int) -> int | None:
    return buddy.find_buddy_pfn(pfn, order) if _in_domain(pfn, order) else None


def find_buddy_plain(pfn: int, order: int) -> int | None:
    return buddy.find_buddy_pfn_arith(pfn, order) if _in_domain(pfn, order) else None


def combined_bits(pfn: int, order: int) -> int | None:
    return buddy.combined_pfn(pfn, order) if _in_domain(pfn, order) else None


def combined_plain(pfn: int, order: int) -> int | None:
    return buddy.combined_pfn_arith(pfn, order) if _in_domain(pfn, order) else None
