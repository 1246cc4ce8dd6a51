"""When an allocation may fail, and the slow path's sequence of attempts.

Follows ``__alloc_pages_noprof`` and ``__alloc_pages_slowpath`` of mm/page_alloc.c, Linux
6.12 (Debian linux-source-6.12, 6.12.117), with ``__alloc_pages_direct_reclaim``,
``should_reclaim_retry``, ``should_compact_retry`` and ``__alloc_pages_may_oom``.

kmem has no page reclaim, no compaction and no OOM killer. They appear here as abstract
steps whose outcomes are inputs (:class:`Outcomes`): reclaim made progress or not,
compaction's result, whether the OOM killer chose a victim. Given those, the attempts
the kernel makes (each a ``get_page_from_freelist`` with some ALLOC_* flags, a drain of
the per-CPU lists, an unreserve of the highatomic reserve) follow from the gfp mask, the
order and the caller's context, and so does the step at which the kernel gives up.

:func:`may_fail` answers the question without any outcome: can the kernel return NULL
for this request at all, whatever reclaim, compaction and the OOM killer do?
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import gfp as _gfp
from .alloc_flags import (
    ALLOC_CPUSET,
    ALLOC_KSWAPD,
    ALLOC_MIN_RESERVE,
    ALLOC_NO_WATERMARKS,
    ALLOC_OOM,
    ALLOC_WMARK_HIGH,
    ALLOC_WMARK_MASK,
)
from .constants import MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER
from .errors import AllocationLivelock, InvalidArgument
from .page_alloc import zone_allows

MAX_RECLAIM_RETRIES = 16  # mm/internal.h
MAX_COMPACT_RETRIES = 16  # mm/page_alloc.c
# enum compact_priority (include/linux/compaction.h)
COMPACT_PRIO_SYNC_FULL = 0
MIN_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_FULL
COMPACT_PRIO_SYNC_LIGHT = 1
MIN_COMPACT_COSTLY_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
DEF_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
COMPACT_PRIO_ASYNC = 2
INIT_COMPACT_PRIORITY = COMPACT_PRIO_ASYNC

#: compaction results that matter to the slow path (enum compact_result)
COMPACT_RESULTS = ("skipped", "deferred", "complete", "partial_skipped", "contended", "success")

GFP = _gfp
_GFP_NOFAIL = _gfp.__GFP_NOFAIL
_GFP_DIRECT_RECLAIM = _gfp.__GFP_DIRECT_RECLAIM
_GFP_NORETRY = _gfp.__GFP_NORETRY
_GFP_RETRY_MAYFAIL = _gfp.__GFP_RETRY_MAYFAIL
_GFP_THISNODE = _gfp.__GFP_THISNODE
_GFP_NOMEMALLOC = _gfp.__GFP_NOMEMALLOC
_GFP_MEMALLOC = _gfp.__GFP_MEMALLOC
_GFP_IO = _gfp.__GFP_IO
_GFP_FS = _gfp.__GFP_FS
_GFP_HARDWALL = _gfp.__GFP_HARDWALL


@dataclass(frozen=True)
class Context:
    """The caller's state that ``__alloc_pages_slowpath`` reads.

    ``pf_memalloc``: current->flags & PF_MEMALLOC (reclaim recursion); ``oom_victim``:
    ``tsk_is_oom_victim(current)``; ``in_interrupt``: not in task context;
    ``lowmem_only``: ``highest_zoneidx < ZONE_NORMAL`` (a GFP_DMA/GFP_DMA32 request);
    ``pf_dumpcore``: current is dumping core; ``suspended_storage``:
    ``pm_suspended_storage()``; ``oom_killer_disabled``: ``oom_killer_disable()`` is in
    force (system suspend), so ``out_of_memory`` returns false.
    """

    pf_memalloc: bool = False
    oom_victim: bool = False
    in_interrupt: bool = False
    lowmem_only: bool = False
    pf_dumpcore: bool = False
    suspended_storage: bool = False
    oom_killer_disabled: bool = False


NORMAL_CONTEXT = Context()


def _check(gfp: object, order: object) -> tuple[int, int]:
    if isinstance(gfp, bool) or not isinstance(gfp, int) or not 0 <= gfp < 1 << 32:
        raise InvalidArgument(f"gfp mask must be an int in 0..0xffffffff, got {gfp!r}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise InvalidArgument(f"order must be an int >= 0, got {order!r}")
    return gfp, order


# Inputs of the may-fail rule, each read through ``choose(name, values)`` so that the
# proof suite can explore every path of the rule as written (kmem.proofs.explore).
BOOL = (False, True)
GFP_INPUTS = {
    "nofail": _GFP_NOFAIL, "direct_reclaim": _GFP_DIRECT_RECLAIM,
    "noretry": _GFP_NORETRY, "retry_mayfail": _GFP_RETRY_MAYFAIL,
    "thisnode": _GFP_THISNODE, "nomemalloc": _GFP_NOMEMALLOC,
    "memalloc": _GFP_MEMALLOC, "io": _GFP_IO, "fs": _GFP_FS,
}
CONTEXT_INPUTS = ("pf_memalloc", "oom_victim", "in_interrupt", "lowmem_only", "pf_dumpcore",
                  "suspended_storage", "oom_killer_disabled")
ORDER_CLASSES = ("too_big", "costly", "small")


def may_fail_rule(choose: Callable[[str, tuple[object, ...]], object]) -> str | None:
    """The rule behind :func:`may_fail`, reading its inputs through ``choose``: None when
    the kernel never returns NULL, else the first place it gives up.

    * order > MAX_PAGE_ORDER: ``__alloc_pages`` warns and returns NULL at once.
    * __GFP_NOFAIL with __GFP_DIRECT_RECLAIM: every ``goto nopage`` ends in the NOFAIL
      loop (``__alloc_pages_cpuset_fallback`` then ``goto retry``); never NULL. Without
      direct reclaim the kernel "still return[s] NULL" (``goto fail``).
    * No direct reclaim: after the reserves pass, ``goto nopage``.
    * PF_MEMALLOC (reclaim calling the allocator): ``goto nopage``, no recursion.
    * __GFP_NORETRY: after one reclaim and compaction round.
    * A costly order (> PAGE_ALLOC_COSTLY_ORDER) without __GFP_RETRY_MAYFAIL, or with it
      when compaction is not allowed (``gfp_compaction_allowed``: __GFP_IO).
    * ``__alloc_pages_may_oom`` makes no progress (and the loop ends) for costly orders,
      __GFP_RETRY_MAYFAIL, __GFP_THISNODE, lowmem-only requests, PF_DUMPCORE and
      ``pm_suspended_storage``; an OOM victim with ALLOC_OOM or __GFP_NOMEMALLOC stops
      after the OOM step.
    * With the OOM killer disabled (``oom_killer_disable``, during suspend)
      ``out_of_memory`` returns false: no progress, NULL.
    * Otherwise the OOM killer frees memory (or the kernel panics with no killable
      task): the loop retries until a page comes, never NULL.
    """
    def bit(name: str) -> bool:
        return bool(choose(name, BOOL))

    order_class = choose("order", ORDER_CLASSES)
    if order_class == "too_big":
        return "order > MAX_PAGE_ORDER"
    costly = order_class == "costly"
    if bit("nofail") and bit("direct_reclaim"):
        return None
    if not bit("direct_reclaim"):
        return "no direct reclaim"
    if bit("pf_memalloc"):
        return "PF_MEMALLOC"
    if bit("noretry"):
        return "__GFP_NORETRY"
    if costly and (not bit("io") or not bit("retry_mayfail")):
        return "costly order"
    if costly:
        return "OOM skipped: costly order"
    if bit("pf_dumpcore"):
        return "OOM skipped: PF_DUMPCORE"
    if bit("retry_mayfail") or bit("thisnode"):
        return "OOM skipped: __GFP_RETRY_MAYFAIL or __GFP_THISNODE"
    if bit("lowmem_only"):
        return "OOM skipped: highest zone below ZONE_NORMAL"
    if bit("suspended_storage"):
        return "OOM skipped: pm_suspended_storage"
    if bit("oom_victim"):
        # reserve_flags = ALLOC_OOM for a victim in task context (unless NOMEMALLOC /
        # MEMALLOC, which give 0 / ALLOC_NO_WATERMARKS)
        if bit("nomemalloc"):
            return "OOM victim"
        if not bit("memalloc") and not bit("in_interrupt"):
            return "OOM victim"
    if bit("oom_killer_disabled"):
        return "OOM killer disabled"
    return None


def _order_class(order: int) -> str:
    if order > MAX_PAGE_ORDER:
        return "too_big"
    return "costly" if order > PAGE_ALLOC_COSTLY_ORDER else "small"


def may_fail_reason(gfp: int, order: int, ctx: Context = NORMAL_CONTEXT) -> str | None:
    """Where ``__alloc_pages`` can give up on (gfp, order) in ``ctx``, or None if it never
    returns NULL (:func:`may_fail_rule`)."""
    gfp, order = _check(gfp, order)
    values: dict[str, object] = {name: bool(gfp & bit) for name, bit in GFP_INPUTS.items()}
    values.update({name: getattr(ctx, name) for name in CONTEXT_INPUTS})
    values["order"] = _order_class(order)
    return may_fail_rule(lambda name, _values: values[name])


def may_fail(gfp: int, order: int, ctx: Context = NORMAL_CONTEXT) -> bool:
    """``may_fail(gfp, order, context)``: can the kernel return NULL for this request at
    all, whatever reclaim, compaction and the OOM killer achieve? False for every
    __GFP_NOFAIL request that may reclaim (order <= MAX_PAGE_ORDER) and for a small-order
    GFP_KERNEL request in a normal context."""
    return may_fail_reason(gfp, order, ctx) is not None


# --------------------------------------------------------------------------------------
# The slow path as a sequence of steps
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcomes:
    """What the abstract steps achieve, every time they run.

    ``reclaim_progress``: ``__perform_reclaim`` frees something; ``compact_result``: one
    of :data:`COMPACT_RESULTS` (the page it may capture is a ``get_page`` step);
    ``compaction_suitable``: ``compaction_zonelist_suitable`` after a skip;
    ``reclaim_retry_wmark``: ``should_reclaim_retry``'s watermark test (free plus
    reclaimable pages above MIN in some zone; None: a ``reclaim_retry_wmark`` step asks
    the caller, which can check its own zones); ``oom_progress``: ``out_of_memory`` chose
    a victim (False: it returned false, as with the OOM killer disabled; a kernel with no
    killable task panics instead, which is not a NULL either).
    """

    reclaim_progress: bool = False
    compact_result: str = "skipped"
    compaction_suitable: bool = False
    reclaim_retry_wmark: bool | None = False
    oom_progress: bool = False

    def __post_init__(self) -> None:
        if self.compact_result not in COMPACT_RESULTS:
            raise InvalidArgument(f"compact_result must be one of {COMPACT_RESULTS}, got "
                                  f"{self.compact_result!r}")


@dataclass(frozen=True)
class Step:
    """One step: ``kind`` is ``get_page`` (a ``get_page_from_freelist`` with
    ``alloc_flags``, optionally with another gfp mask), ``reclaim``, ``compact``,
    ``drain`` (``drain_all_pages``), ``unreserve`` (``unreserve_highatomic_pageblock``,
    ``force``), ``reclaim_retry_wmark`` (``should_reclaim_retry``'s zone test), ``oom``
    or ``warn`` (a __GFP_NOFAIL ``WARN_ON_ONCE`` fires here: ``label`` is its line, which
    the caller prints once per boot; :func:`kmem.spec.page_alloc.nofail_warnings`);
    ``label`` says where in the slow path it is."""

    kind: str
    label: str
    alloc_flags: int = 0
    gfp: int | None = None
    force: bool = False


@dataclass(frozen=True)
class SlowpathResult:
    """The steps made, whether a page came, and where the kernel gave up (or that it
    would loop for ever: ``gave_up`` is None and ``loops`` is True)."""

    steps: tuple[Step, ...]
    got_page: bool
    gave_up: str | None
    loops: bool = False
    attempts: tuple[Step, ...] = field(default=())


def _oom_skipped(gfp: int, costly: bool, ctx: Context) -> str | None:
    """Why ``__alloc_pages_may_oom`` returns without calling ``out_of_memory``, or None."""
    if ctx.pf_dumpcore:
        return "OOM skipped: PF_DUMPCORE"
    if costly:
        return "OOM skipped: costly order"
    if gfp & (_GFP_RETRY_MAYFAIL | _GFP_THISNODE):
        return "OOM skipped: __GFP_RETRY_MAYFAIL or __GFP_THISNODE"
    if ctx.lowmem_only:
        return "OOM skipped: highest zone below ZONE_NORMAL"
    if ctx.suspended_storage:
        return "OOM skipped: pm_suspended_storage"
    return None


class _Walk:
    """One run of ``__alloc_pages_slowpath`` over the outcomes; ``ask(step)`` answers each
    step (the model performs it)."""

    def __init__(self, gfp: int, order: int, ctx: Context, out: Outcomes,
                 ask: Callable[[Step], bool], cma: bool, max_rounds: int,
                 era: str = "6.12") -> None:
        self.gfp, self.order, self.ctx, self.out, self.ask = gfp, order, ctx, out, ask
        self.cma, self.max_rounds, self.era = cma, max_rounds, era
        self.steps: list[Step] = []

    def do(self, step: Step) -> bool:
        self.steps.append(step)
        return bool(self.ask(step))

    def get_page(self, label: str, flags: int, gfp: int | None = None) -> bool:
        return self.do(Step("get_page", label, flags, gfp))

    def run(self, fast_flags: int) -> tuple[bool, str | None, bool]:  # noqa: C901 (the kernel's shape)
        gfp, order, ctx, out = self.gfp, self.order, self.ctx, self.out
        if order > MAX_PAGE_ORDER:
            return False, "order > MAX_PAGE_ORDER", False
        if self.get_page("fast", fast_flags):
            return True, None, False
        self.warn("slowpath")
        can_direct_reclaim = bool(gfp & _GFP_DIRECT_RECLAIM)
        can_compact = bool(gfp & _GFP_IO)  # gfp_compaction_allowed
        nofail = bool(gfp & _GFP_NOFAIL)
        costly = order > PAGE_ALLOC_COSTLY_ORDER
        mt = GFP.gfp_migratetype(gfp)
        alloc_flags = GFP.gfp_to_alloc_flags(gfp, order, cma=self.cma)
        if self.get_page("slow", alloc_flags):
            return True, None, False
        compact_priority = DEF_COMPACT_PRIORITY
        compact_result = "skipped"  # restart: compact_result = COMPACT_SKIPPED
        reserve = GFP.gfp_pfmemalloc_flags(gfp, pf_memalloc=ctx.pf_memalloc,
                                           in_interrupt=ctx.in_interrupt,
                                           oom_victim=ctx.oom_victim)
        # 6.12.118 mm/page_alloc.c:4386-4390: "&& !gfp_pfmemalloc_allowed(gfp_mask)", i.e.
        # no reserve flags at all: ALLOC_OOM (an OOM victim) skips it too
        if (can_direct_reclaim and can_compact and (costly or (order > 0 and mt != 1))
                and not reserve):
            compact_result = self.direct_compact("initial compaction", "initial compaction",
                                                 alloc_flags)
            if compact_result == "got page":
                return True, None, False
            if costly and gfp & _GFP_NORETRY:
                if compact_result in ("skipped", "deferred"):
                    return self._nopage("costly __GFP_NORETRY: compaction skipped or deferred",
                                        can_direct_reclaim, nofail)
                if gfp & _GFP_THISNODE:
                    return self._nopage("costly __GFP_NORETRY | __GFP_THISNODE",
                                        can_direct_reclaim, nofail)
                compact_priority = INIT_COMPACT_PRIORITY
        no_progress_loops = 0
        compaction_retries = 0
        for _ in range(self.max_rounds):
            if reserve:
                flags = GFP.gfp_to_alloc_flags_cma(gfp, reserve, cma=self.cma) | (
                    alloc_flags & ALLOC_KSWAPD)
                alloc_flags = flags
            if self.get_page("retry", alloc_flags):
                return True, None, False
            if not can_direct_reclaim:
                return self._nopage("no direct reclaim", can_direct_reclaim, nofail)
            if ctx.pf_memalloc:
                return self._nopage("PF_MEMALLOC", can_direct_reclaim, nofail)
            # __alloc_pages_direct_reclaim
            self.do(Step("reclaim", "direct reclaim"))
            progress = out.reclaim_progress
            if progress:
                if self.get_page("after reclaim", alloc_flags):
                    return True, None, False
                self.do(Step("unreserve", "after reclaim", force=False))
                self.do(Step("drain", "after reclaim"))
                if self.get_page("after drain", alloc_flags):
                    return True, None, False
            compact_result = self.direct_compact("direct compaction", "after compaction",
                                                 alloc_flags, compact_result)
            if compact_result == "got page":
                return True, None, False
            if gfp & _GFP_NORETRY:
                return self._nopage("__GFP_NORETRY", can_direct_reclaim, nofail)
            if costly and (not can_compact or not gfp & _GFP_RETRY_MAYFAIL):
                return self._nopage("costly order", can_direct_reclaim, nofail)
            # should_reclaim_retry
            if progress and order <= PAGE_ALLOC_COSTLY_ORDER:
                no_progress_loops = 0
            else:
                no_progress_loops += 1
            retry = False
            if no_progress_loops <= MAX_RECLAIM_RETRIES:
                if out.reclaim_retry_wmark is None:
                    retry = self.do(Step("reclaim_retry_wmark", "should_reclaim_retry",
                                         alloc_flags))
                else:
                    retry = out.reclaim_retry_wmark
            if not retry:
                retry = self.do(Step("unreserve", "should_reclaim_retry", force=True))
            if retry:
                continue
            # should_compact_retry
            if progress and can_compact and order:
                again = False
                if compact_result == "skipped":
                    again = out.compaction_suitable
                else:
                    if compact_result == "success":
                        limit = MAX_COMPACT_RETRIES // 4 if costly else MAX_COMPACT_RETRIES
                        compaction_retries += 1
                        again = compaction_retries <= limit
                    if not again:
                        floor = MIN_COMPACT_COSTLY_PRIORITY if costly else MIN_COMPACT_PRIORITY
                        if compact_priority > floor:
                            compact_priority -= 1
                            # 6.12.118 mm/page_alloc.c:3869 restarts the count; 6.1.192's
                            # check_priority (4676-4683) does not
                            if self.era != "6.1":
                                compaction_retries = 0
                            again = True
                if again:
                    continue
            # __alloc_pages_may_oom
            oom_gfp = (gfp | _GFP_HARDWALL) & ~_GFP_DIRECT_RECLAIM
            if self.get_page("oom: high watermark", ALLOC_WMARK_HIGH | ALLOC_CPUSET, oom_gfp):
                return True, None, False
            oom = False
            skipped = _oom_skipped(gfp, costly, ctx)
            if skipped is None:
                self.do(Step("oom", "out_of_memory"))
                # out_of_memory (6.12.118 mm/oom_kill.c:1113-1143): false while the OOM killer
                # is disabled, else "if (!(oc->gfp_mask & __GFP_FS) && !is_memcg_oom(oc))
                # return true;" -- progress without a kill: GFP_NOFS / GFP_NOIO loop
                fs_less = not gfp & _GFP_FS and not ctx.oom_killer_disabled
                if out.oom_progress or fs_less or nofail:
                    oom = True
                    if nofail and self.get_page("oom: nofail", ALLOC_NO_WATERMARKS):
                        return True, None, False
            if ctx.oom_victim and (alloc_flags & ALLOC_OOM or gfp & _GFP_NOMEMALLOC):
                return self._nopage("OOM victim", can_direct_reclaim, nofail)
            if oom:
                no_progress_loops = 0
                continue
            return self._nopage(skipped or "OOM made no progress", can_direct_reclaim, nofail)
        return False, None, True

    def direct_compact(self, label: str, page_label: str, alloc_flags: int,
                       result: str = "skipped") -> str:
        """``__alloc_pages_direct_compact`` (6.12.118 mm/page_alloc.c:3753-3809): nothing at
        all for order 0 (``compact_result`` keeps ``result``); else compaction runs, and after
        any result but COMPACT_SKIPPED the captured page or a ``get_page_from_freelist`` is
        tried. Returns the compact_result, or ``"got page"``."""
        if not self.order:
            return result
        self.do(Step("compact", label))
        result = self.out.compact_result
        if result != "skipped" and self.get_page(page_label, alloc_flags):
            return "got page"
        return result

    def warn(self, where: str) -> None:
        """A ``warn`` step for each __GFP_NOFAIL WARN_ON_ONCE that fires at ``where``."""
        from .page_alloc import nofail_warnings

        for line in nofail_warnings(self.gfp, self.order, where, era=self.era,
                                    pf_memalloc=self.ctx.pf_memalloc):
            self.do(Step("warn", line))

    def _nopage(self, why: str, can_direct_reclaim: bool,
                nofail: bool) -> tuple[bool, str | None, bool]:
        if nofail:
            self.warn("nopage")
        if not nofail or not can_direct_reclaim:
            return False, why, False
        # the NOFAIL loop: __alloc_pages_cpuset_fallback(ALLOC_MIN_RESERVE), goto retry
        if self.get_page("nofail", ALLOC_MIN_RESERVE | ALLOC_CPUSET):
            return True, None, False
        return False, None, True


def loops_without_progress(gfp: int, order: int, *, lowmem_only: bool = False,
                           ctx: Context = NORMAL_CONTEXT) -> bool:
    """With nothing to reclaim, compaction that achieves nothing and an OOM killer that
    frees nothing (what kmem's machines have), does ``__alloc_pages_slowpath`` loop for
    ever instead of returning NULL? True for __GFP_NOFAIL with __GFP_DIRECT_RECLAIM (the
    NOFAIL loop) and for a small-order request that may reclaim but lacks __GFP_FS
    (GFP_NOFS, GFP_NOIO): ``out_of_memory`` reports progress for it without killing
    (6.12.118 mm/oom_kill.c:1143), so the slow path goes back to ``retry`` (mm/page_alloc.c
    4548-4551). ``lowmem_only``: the request's highest zone is below ZONE_NORMAL."""
    gfp, order = _check(gfp, order)
    ctx = Context(**{**{name: getattr(ctx, name) for name in CONTEXT_INPUTS},
                     "lowmem_only": lowmem_only or ctx.lowmem_only})
    return slowpath(gfp, order, lambda _step: False, fast_flags=0, ctx=ctx,
                    max_rounds=2).loops


def livelock_message(gfp: int, order: int, passes: tuple[str, ...]) -> str:
    """The text of :class:`~kmem.spec.errors.AllocationLivelock` for a request that
    :func:`loops_without_progress` and that no pass of ``passes`` satisfied."""
    return (f"alloc_pages({gfp:#x}, {order}): no pass can satisfy it and the kernel would "
            f"retry for ever (__GFP_NOFAIL, or no __GFP_FS: out_of_memory() reports "
            f"progress) waiting for reclaim or the OOM killer (kmem has neither). Passes "
            f"tried: {', '.join(passes)}")


def slowpath(gfp: int, order: int, ask: Callable[[Step], bool], *, fast_flags: int,
             ctx: Context = NORMAL_CONTEXT, outcomes: Outcomes = Outcomes(),
             cma: bool = True, max_rounds: int = 64, era: str = "6.12") -> SlowpathResult:
    """``__alloc_pages`` (fast attempt with ``fast_flags``) then ``__alloc_pages_slowpath``
    for (gfp, order), asking ``ask(step)`` for the result of each step: a page for a
    ``get_page`` step, "moved pages" for an ``unreserve`` step (other steps' answers are
    ignored; their effect is in ``outcomes``).

    The result says where the kernel gave up (``gave_up``), or ``loops`` when it would
    retry for ever (a __GFP_NOFAIL request that no attempt satisfies, or an OOM killer
    that keeps killing without the model seeing memory come back): the walk stops after
    ``max_rounds`` retries or after the NOFAIL loop's first round. With OOM progress and
    nothing freed, the kernel loops; so does kmem's walk, up to ``max_rounds``.
    ``era``: ``"6.12"`` (6.12.118) or ``"6.1"`` (6.1.192, whose ``should_compact_retry``
    keeps counting retries across a priority raise).
    """
    gfp, order = _check(gfp, order)
    walk = _Walk(gfp, order, ctx, outcomes, ask, cma, max_rounds, era)
    got, why, loops = walk.run(fast_flags)
    attempts = tuple(s for s in walk.steps if s.kind == "get_page")
    return SlowpathResult(tuple(walk.steps), got, why, loops, attempts)


_T = TypeVar("_T")


def run_on(m: Any, gfp: int, order: int, get_page: Callable[[int], _T | None], *,
           zonelist: Sequence[Any], highest_idx: int, mt: int, fast_flags: int,
           lowmem_only: bool, fast_done: bool = False) -> _T | None:
    """:func:`slowpath` run on machine ``m``'s zones, the step loop every machine with the
    whole path shares: ``get_page(alloc_flags)`` is its ``get_page_from_freelist`` over
    ``zonelist`` (a block, or None); ``warn`` prints once (``m._warn_once``), ``drain`` is
    ``m.drain_all_pages()``, ``unreserve`` is ``m._unreserve_highatomic(zonelist, mt,
    force)``, and ``reclaim_retry_wmark`` is ``should_reclaim_retry``'s zone test (6.12.118
    mm/page_alloc.c:4226 ``__zone_watermark_ok(zone, order, min_wmark, ...,
    available)``: free plus reclaimable pages, kmem reclaims nothing, at MIN with no boost
    retry) on ``m.zone_view``. ``fast_done``: the fast attempt (the walk's first step) has
    already run and failed.

    Returns the block the first successful ``get_page`` step gave (``m.last_failure`` is
    then None); else sets ``m.last_failure`` to the step that gave up, reports the failure
    (``m._warn_alloc``, ``warn_alloc`` at ``nopage``, line 4590) and returns None. A request
    the kernel would retry for ever raises :class:`~kmem.spec.errors.AllocationLivelock`.
    """
    got: list[_T] = []
    skip_fast = [fast_done]

    def ask(step: Step) -> bool:
        if step.kind == "warn":
            m._warn_once(step.label)
        elif step.kind == "get_page":
            if skip_fast[0] and step.label == "fast":
                skip_fast[0] = False
                return False
            found = get_page(step.alloc_flags)
            if found is not None:
                got.append(found)
            return found is not None
        if step.kind == "drain":
            m.drain_all_pages()
        elif step.kind == "unreserve":
            return bool(m._unreserve_highatomic(zonelist, mt, step.force))
        elif step.kind == "reclaim_retry_wmark":
            flags = step.alloc_flags & ~ALLOC_WMARK_MASK & ~ALLOC_NO_WATERMARKS
            return any(zone_allows(m.zone_view(z), order, flags, highest_idx, boost_retry=False)
                       for z in zonelist)
        return False

    result = slowpath(gfp, order, ask, fast_flags=fast_flags,
                      ctx=Context(lowmem_only=lowmem_only), cma=m.cma,
                      era=m.path_era or "6.12", outcomes=m.outcomes)
    if got:
        m.last_failure = None
        return got[0]
    if result.loops:
        raise AllocationLivelock(
            f"alloc_pages({gfp:#x}, {order}): the kernel would retry for ever (__GFP_NOFAIL, "
            f"no __GFP_FS, or an OOM killer that keeps killing) and no attempt succeeds; "
            f"kmem has no reclaim to wait for. Steps: {len(result.steps)}")
    m.last_failure = result.gave_up
    m._warn_alloc(gfp, order)
    return None
