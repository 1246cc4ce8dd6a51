"""The differential state machine: every implementation, side by side, checked by the spec.

:class:`DifferentialMachine` is a Hypothesis ``RuleBasedStateMachine`` that drives
several implementations of the page API through the same operations, good use and
bad, and checks after every step:

- each result is legal per :mod:`kmem.spec`: the zone an allocation comes from is
  the one the allocation passes choose (``alloc_passes``, ``choose_zone``); a
  failure is legal only when no pass can serve it; the block is legal under the
  rule the implementation claims (weak, Linux, lowest); ``__GFP_ZERO`` memory is
  zero; a bad ``gfp`` raises ``BadGfpZone``;
- each implementation's exported state (``state()``) equals the spec's transition
  of the state before: ``alloc_next``, ``free_next`` (the merge result *at that
  step*), ``free_tails_next``; and the spec's buddy invariants hold on it;
- implementations that share a policy (a *lane*) give identical results, raise
  the same exceptions, and have identical free lists, counters and kernel logs;
- every bad operation raises (the same exception in every implementation of the
  lane) and leaves every state unchanged.

Rules are switched on per run by swarm testing (a random subset each run), and
``event()``/``target()`` steer runs toward deep states (fragmentation, fallback
depth, low free memory). Use it as is or subclass it::

    from kmem.fuzz.machine import DifferentialMachine

    class MyMachine(DifferentialMachine):
        impls = "model,fast,mypkg.myalloc:Machine"   # any names kmem.fuzz.impls knows

    TestMine = MyMachine.TestCase

A failure prints Hypothesis's step-by-step reproducer (runnable after
``from kmem.fuzz.machine import DifferentialMachine`` and
``from kmem.fuzz.configs import MachineConfig``); :meth:`DifferentialMachine.replay`
runs a recorded trace again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import event as _hyp_event
from hypothesis import strategies as st
from hypothesis import target
from hypothesis.control import _current_build_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from kmem.model import api
from kmem.spec import buddy
from kmem.spec import errors as E
from kmem.spec import gfp as g
from kmem.spec.constants import MAX_PAGE_ORDER, PAGE_SIZE

from .checks import (
    Divergence,
    block_legal,
    crash_summary,
    describe_difference,
    expected_zone,
    fingerprint,
    fragmentation,
    zone_index_of,
)
from .configs import MachineConfig
from .impls import Impl, lanes, resolve
from .strategies import gfp_masks, machine_configs, orders

# module level: inside a class body api.__x and g.__X would be name-mangled
GET_FREE_PAGES = api.__get_free_pages
ZERO, COMP, HIGHMEM = g.__GFP_ZERO, g.__GFP_COMP, g.__GFP_HIGHMEM
get_zeroed_page = api.get_zeroed_page
free_pages_addr = api.free_pages



#: every event seen in this process (the campaign reads and clears it)
EVENTS: Counter[str] = Counter()


def event(text: str) -> None:
    """``hypothesis.event`` inside a test; nothing when a trace is replayed outside one."""
    EVENTS[text] += 1
    if _current_build_context.value is not None:
        _hyp_event(text)


RULES = ("alloc", "alloc_zeroed", "get_free_pages", "free", "free_by_address", "get", "put",
         "write", "double_free", "wrong_order_free", "inner_page_free", "bad_address_free",
         "bad_pfn", "reserved_free", "foreign_page", "touch_free_page", "fill", "drain",
         "exhaust", "reuse_zeroed")

#: the most allocations one ``exhaust`` step makes (in each lane)
EXHAUST_LIMIT = 64
#: masks whose limits differ: ALLOC_MIN_RESERVE (GFP_ATOMIC), lowmem_reserve from the
#: highest zone down (GFP_HIGHUSER_MOVABLE), the plain and the DMA-only case
EXHAUST_MASKS = (g.GFP_ATOMIC, g.GFP_HIGHUSER_MOVABLE, g.GFP_KERNEL, g.GFP_KERNEL | g.GFP_DMA,
                 g.GFP_NOWAIT, g.GFP_USER | g.__GFP_HIGH)


@dataclass
class Held:
    """A block this lane holds: its head pfn, order, whether compound, references."""

    pfn: int
    order: int
    compound: bool
    refs: int = 1


class Lane:
    """The implementations of one policy, their machines and what they hold."""

    def __init__(self, policy: str, impls: list[Impl], config: MachineConfig) -> None:
        self.policy = policy
        self.impls = impls
        self.machines = [i.build(config) for i in impls]
        self.states = [m.state() for m in self.machines]
        self.fps = [fingerprint(m) for m in self.machines]
        self.held: list[Held] = []
        self.ghosts: list[tuple[int, int]] = []  # freed (pfn, order), for misuse
        self.scratch: list[Any] | None = None
        self.config = config

    @property
    def lead(self) -> Any:
        return self.machines[0]

    def pick(self, i: int) -> Held | None:
        return self.held[i % len(self.held)] if self.held else None

    def covering(self, pfn: int) -> Held | None:
        for h in self.held:
            if h.pfn <= pfn < h.pfn + (1 << h.order):
                return h
        return None


Outcome = tuple[str, Any]  # ("ok", value) or ("raise", exception class name)


class DifferentialMachine(RuleBasedStateMachine):
    """Drive ``impls`` side by side through the page API; see the module docstring.

    Class attributes to override in a subclass: ``impls`` (names for
    :func:`kmem.fuzz.impls.resolve`, None = model and, when built, fast),
    ``extra_impls`` (:class:`~kmem.fuzz.impls.Impl` objects added to them: the hook
    for adapters), ``policies`` (which lanes to run).
    """

    impls: ClassVar[str | Sequence[str] | None] = None
    extra_impls: ClassVar[Sequence[Impl]] = ()
    policies: ClassVar[tuple[str, ...]] = ("lowest", "linux")
    #: the trace of the most recent run: (rule, kwargs) pairs, for the regression corpus
    last_trace: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def __init__(self) -> None:
        super().__init__()
        self.lanes: list[Lane] = []
        self.enabled: frozenset[str] = frozenset(RULES)
        self.trace: list[tuple[str, dict[str, Any]]] = []
        type(self).last_trace = self.trace
        self.max_frag = 0.0
        self.max_depth = 0
        self.min_free = 1.0
        self.steps = 0

    # -- set-up ----------------------------------------------------------------------------
    @initialize(config=machine_configs(),
                swarm=st.one_of(st.just(frozenset(RULES)),
                                st.sets(st.sampled_from(RULES), min_size=2).map(frozenset)))
    def boot(self, config: MachineConfig, swarm: frozenset[str]) -> None:
        """Boot every implementation on ``config``; enable the rules in ``swarm``."""
        self._record("boot", config=config, swarm=swarm)
        impls = [*resolve(self.impls, self.policies), *self.extra_impls]
        self.lanes = [Lane(p, group, config) for p, group in lanes(impls).items()]
        self.enabled = frozenset(swarm) | {"alloc"}
        event(f"config: {config.preset}")
        if len(self.enabled) < len(RULES):
            event("swarm: a subset of rules")

    def _record(self, name: str, **kwargs: Any) -> None:
        self.trace.append((name, kwargs))

    def on(self, name: str) -> bool:
        return bool(self.lanes) and name in self.enabled

    def holding(self, name: str) -> bool:
        return self.on(name) and any(lane.held for lane in self.lanes)

    # -- the engine: run one operation in every machine of a lane and check ---------------
    def _run(self, lane: Lane, what: str, fn: Callable[..., Any]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for k, m in enumerate(lane.machines):
            try:
                outcomes.append(("ok", fn(m, k)))
            except E.KmemError as exc:
                outcomes.append(("raise", type(exc).__name__))
            except Divergence:
                raise
            except Exception as exc:  # an internal error of the implementation under test
                others = "; before it " + ", ".join(
                    f"{i.label} gave {_fmt(o)}" for i, o in zip(lane.impls, outcomes,
                                                               strict=False)) if outcomes else ""
                raise Divergence(f"{what}: {lane.impls[k].label} crashed with "
                                 f"{crash_summary(exc)}, which is none of the kernel's "
                                 f"failure modes{others}") from exc
        lead = outcomes[0]
        for impl, out in zip(lane.impls[1:], outcomes[1:], strict=True):
            if out != lead:
                raise Divergence(f"{what}: {lane.impls[0].label} gave {_fmt(lead)}, "
                                 f"{impl.label} gave {_fmt(out)}")
        if lead[0] == "raise":
            event(f"raised {lead[1]}")
        return outcomes

    def _settle(self, lane: Lane, what: str,
                expect: Callable[[int, tuple[buddy.ZoneState, ...]],
                                 tuple[buddy.ZoneState, ...]] | None) -> None:
        """After an operation: each machine's state is the spec's expected successor (or
        unchanged when ``expect`` is None); invariants hold; the lane agrees."""
        self.steps += 1
        for k, (impl, m) in enumerate(zip(lane.impls, lane.machines, strict=True)):
            before = lane.states[k]
            now = m.state()
            want = before if expect is None else expect(k, before)
            if now != want:
                for zi, (x, y) in enumerate(zip(now, want, strict=True)):
                    if x != y:
                        raise Divergence(f"{what}: {impl.label} zone {zi} is not the spec's "
                                         f"successor state: {_state_diff(x, y)}")
            for zs, old in zip(now, before, strict=True):
                if zs is old or zs == old:
                    continue  # unchanged: it was checked when it was made
                bad = buddy.check_invariants(zs)
                if bad:
                    raise Divergence(f"{what}: {impl.label} breaks a spec invariant: "
                                     f"{'; '.join(map(str, bad[:3]))}")
            lane.states[k] = now
            fp = fingerprint(m, now)
            if expect is None and fp[0] != lane.fps[k][0]:
                raise Divergence(f"{what}: {impl.label} changed its free lists although the "
                                 f"operation failed: {describe_difference(lane.fps[k], fp)}")
            lane.fps[k] = fp
        for impl, fp in zip(lane.impls[1:], lane.fps[1:], strict=True):
            if fp != lane.fps[0]:
                raise Divergence(f"{what}: {lane.impls[0].label} and {impl.label} differ: "
                                 f"{describe_difference(lane.fps[0], fp)}")
        states = lane.states[0]
        self.max_frag = max(self.max_frag, fragmentation(states))
        managed = sum(zs.managed_pages for zs in states) or 1
        self.min_free = min(self.min_free, sum(zs.free_pages for zs in states) / managed)

    def _misuse(self, lane: Lane, what: str, fn: Callable[..., Any],
                expect: str | None = None) -> None:
        """A bad operation: it must raise (``expect``: that class) and change nothing."""
        outcomes = self._run(lane, what, fn)
        kind, value = outcomes[0]
        if kind != "raise":
            raise Divergence(f"{what}: misuse was accepted ({lane.impls[0].label} returned "
                             f"{value!r}); the kernel would BUG here")
        if expect is not None and value != expect:
            raise Divergence(f"{what}: raised {value}, expected {expect}")
        self._settle(lane, what, None)

    # -- allocation --------------------------------------------------------------------------
    def _alloc(self, lane: Lane, gfp: int, order: int, via: str = "alloc_pages") -> None:
        what = f"{via}({gfp:#x}, order {order}) [{lane.policy}]"
        call_gfp = gfp & ~HIGHMEM if via == "__get_free_pages" else gfp
        preds = [expected_zone(m, lane.states[k], call_gfp, order)
                 for k, m in enumerate(lane.machines)]

        def call(m: Any, k: int) -> int | None:
            if via == "__get_free_pages":
                addr = GET_FREE_PAGES(m, gfp, order)
                if addr == 0:
                    return None
                page = m.virt_to_page(addr)
                if m.page_address(page) != addr:
                    raise Divergence(f"{what}: address {addr:#x} is not page_address of its "
                                     f"page")
                return page.pfn
            page = m.alloc_pages(gfp, order)
            return None if page is None else page.pfn

        outcomes = self._run(lane, what, call)
        kind, pfn = outcomes[0]
        pred = preds[0]
        if pred.bad_gfp:
            if outcomes[0] != ("raise", "BadGfpZone"):
                raise Divergence(f"{what}: gfp_zone() says GFP_ZONE_BAD, so BadGfpZone must be "
                                 f"raised; got {_fmt(outcomes[0])}")
            self._settle(lane, what, None)
            return
        if pred.livelock:
            if outcomes[0] != ("raise", "AllocationLivelock"):
                raise Divergence(f"{what}: no pass can serve this __GFP_NOFAIL request, so "
                                 f"AllocationLivelock must be raised; got {_fmt(outcomes[0])}")
            self._settle(lane, what, None)
            return
        if kind == "raise":
            raise Divergence(f"{what}: raised {pfn} on a valid request")
        if pfn is None:
            if pred.zone_idx is not None:
                raise Divergence(f"{what}: failed, but the spec's {pred.pass_name} pass can "
                                 f"serve it from zone {pred.zone_idx}")
            event("alloc: failed (legal)")
            self._settle(lane, what, None)
            return
        if pred.zone_idx is None:
            raise Divergence(f"{what}: returned pfn {pfn:#x}, but no allocation pass may "
                             f"succeed (watermarks / lowmem_reserve / no block)")
        for k, m in enumerate(lane.machines):
            zi = zone_index_of(m, pfn)
            if zi != preds[k].zone_idx:
                raise Divergence(f"{what}: {lane.impls[k].label} took pfn {pfn:#x} from zone "
                                 f"{zi}; the spec's {preds[k].pass_name} pass takes zone "
                                 f"{preds[k].zone_idx}")
            why = block_legal(lane.impls[k].rule, lane.states[k][zi], order, pfn)
            if why:
                raise Divergence(f"{what}: {lane.impls[k].label}: {why}")
            if gfp & ZERO or via == "get_zeroed_page":
                for p in range(pfn, pfn + (1 << order)):
                    if m.read_page(p, 0, PAGE_SIZE) != bytes(PAGE_SIZE):
                        raise Divergence(f"{what}: {lane.impls[k].label}: page {p:#x} of a "
                                         f"zeroed allocation is not zero")
        event(f"alloc: {pred.pass_name} pass, fallback depth {pred.depth}")
        self.max_depth = max(self.max_depth, pred.depth)
        zi = pred.zone_idx

        def succ(k: int, before: tuple[buddy.ZoneState, ...]) -> tuple[buddy.ZoneState, ...]:
            out = list(before)
            out[zi] = buddy.alloc_next(before[zi], order, pfn)
            return tuple(out)

        self._settle(lane, what, succ)
        lane.held.append(Held(pfn, order, bool(order and gfp & COMP)))

    @rule(gfp=gfp_masks(), order=orders())
    def alloc(self, gfp: int, order: int) -> None:
        """``alloc_pages(gfp, order)`` in every lane."""
        self._record("alloc", gfp=gfp, order=order)
        for lane in self.lanes:
            self._alloc(lane, gfp, order)

    @precondition(lambda self: self.on("alloc_zeroed"))
    @rule(gfp=gfp_masks(bad_zones=False, arbitrary=False))
    def alloc_zeroed(self, gfp: int) -> None:
        """``get_zeroed_page(gfp)``: must read as zeros, however dirty the freed page was."""
        self._record("alloc_zeroed", gfp=gfp)
        gfp &= ~HIGHMEM  # get_zeroed_page goes through __get_free_pages
        for lane in self.lanes:
            self._alloc(lane, gfp | ZERO, 0, via="__get_free_pages")

    @precondition(lambda self: self.on("get_free_pages"))
    @rule(gfp=gfp_masks(arbitrary=False), order=orders(beyond=1))
    def get_free_pages(self, gfp: int, order: int) -> None:
        """``__get_free_pages(gfp, order)``: a direct-map address (6.x strips HIGHMEM)."""
        self._record("get_free_pages", gfp=gfp, order=order)
        for lane in self.lanes:
            self._alloc(lane, gfp, order, via="__get_free_pages")

    @precondition(lambda self: self.on("fill"))
    @rule(gfp=gfp_masks(bad_zones=False, arbitrary=False), order=orders(beyond=0),
          count=st.integers(1, 48))
    def fill(self, gfp: int, order: int, count: int) -> None:
        """Up to ``count`` allocations in a row: low memory, watermarks, fallback."""
        self._record("fill", gfp=gfp, order=order, count=count)
        for lane in self.lanes:
            for _ in range(count):
                before = len(lane.held)
                self._alloc(lane, gfp, order)
                if len(lane.held) == before:
                    break

    @precondition(lambda self: self.on("exhaust"))
    @rule(gfp=st.one_of(st.sampled_from(EXHAUST_MASKS), gfp_masks(bad_zones=False,
                                                                  arbitrary=False)),
          order=orders(beyond=0))
    def exhaust(self, gfp: int, order: int) -> None:
        """Allocate until the request fails, from MAX_PAGE_ORDER down to order 0 (at most
        ``EXHAUST_LIMIT`` blocks a mask), with ``gfp`` and then with each of
        ``EXHAUST_MASKS``: right down to the watermarks (with and without
        ALLOC_MIN_RESERVE), the lowmem_reserve and the fallback zones."""
        self._record("exhaust", gfp=gfp, order=order)
        for lane in self.lanes:
            for mask in (gfp, *EXHAUST_MASKS):  # then every kind of limit in turn
                budget = EXHAUST_LIMIT
                for o in range(max(order, MAX_PAGE_ORDER), -1, -1):
                    while budget > 0:
                        budget -= 1
                        before = len(lane.held)
                        self._alloc(lane, mask, o)
                        if len(lane.held) == before:
                            break
                if budget <= 0:
                    event("exhaust: stopped at the limit")
                    break

    @precondition(lambda self: self.holding("reuse_zeroed"))
    @rule(i=st.integers(0, 2**16), byte=st.integers(1, 255))
    def reuse_zeroed(self, i: int, byte: int) -> None:
        """Dirty a held block, free it, then ask for zeroed memory of its order: the
        pages that come back (often the same ones) must read as zeros."""
        self._record("reuse_zeroed", i=i, byte=byte)
        for lane in self.lanes:
            h = lane.pick(i)
            if h is None or h.refs != 1:
                continue
            order = h.order
            for m in lane.machines:
                for p in range(h.pfn, h.pfn + min(1 << order, 64)):
                    m.write_page(p, 0, bytes([byte]) * 16)
            self._free(lane, h, "__free_pages")
            self._alloc(lane, g.GFP_KERNEL | ZERO, order)

    # -- freeing -----------------------------------------------------------------------------
    def _free(self, lane: Lane, h: Held, how: str) -> None:
        what = f"{how}(pfn {h.pfn:#x}, order {h.order}) [{lane.policy}, refs {h.refs}]"

        def call(m: Any, k: int) -> None:
            if how == "free_pages":  # by address
                free_pages_addr(m, m.page_address(m.pfn_to_page(h.pfn)), h.order)
            elif how == "put_page":
                m.put_page(m.pfn_to_page(h.pfn))
            else:
                m.free_pages(m.pfn_to_page(h.pfn), h.order)

        outcomes = self._run(lane, what, call)
        zi = zone_index_of(lane.lead, h.pfn)
        last = h.refs == 1
        if how == "put_page" and last and h.order and not h.compound:
            if outcomes[0] != ("raise", "FreeOrderMismatch"):
                raise Divergence(f"{what}: put_page on the last reference of a non-compound "
                                 f"order-{h.order} block must raise FreeOrderMismatch; got "
                                 f"{_fmt(outcomes[0])}")
            self._settle(lane, what, None)
            return
        if outcomes[0][0] == "raise":
            raise Divergence(f"{what}: a valid free raised {outcomes[0][1]}")
        tails = not last and h.order and not h.compound and how != "put_page"

        def succ(k: int, before: tuple[buddy.ZoneState, ...]) -> tuple[buddy.ZoneState, ...]:
            out = list(before)
            if last:
                out[zi] = buddy.free_next(before[zi], h.pfn, h.order)
            elif tails:
                out[zi] = buddy.free_tails_next(before[zi], h.pfn, h.order)
            return tuple(out)

        self._settle(lane, what, succ)
        if last:
            lane.held.remove(h)
            lane.ghosts.append((h.pfn, h.order))
            event(f"free: order {h.order}")
        else:
            h.refs -= 1
            if tails:
                h.order = 0
                event("free: tails freed, first page kept")
        self._check_count(lane, h if not last else None)

    def _check_count(self, lane: Lane, h: Held | None) -> None:
        if h is None:
            return
        for impl, m in zip(lane.impls, lane.machines, strict=True):
            n = m.page_count(m.pfn_to_page(h.pfn))
            if n != h.refs:
                raise Divergence(f"{impl.label}: page_count(pfn {h.pfn:#x}) is {n}, expected "
                                 f"{h.refs}")

    @precondition(lambda self: self.holding("free"))
    @rule(i=st.integers(0, 2**16))
    def free(self, i: int) -> None:
        """``__free_pages(page, order)`` of a block this lane holds."""
        self._record("free", i=i)
        for lane in self.lanes:
            h = lane.pick(i)
            if h is not None:
                self._free(lane, h, "__free_pages")

    @precondition(lambda self: self.holding("free_by_address"))
    @rule(i=st.integers(0, 2**16))
    def free_by_address(self, i: int) -> None:
        """``free_pages(addr, order)`` of a held lowmem block."""
        self._record("free_by_address", i=i)
        for lane in self.lanes:
            h = lane.pick(i)
            if h is not None and not lane.lead.is_highmem_pfn(h.pfn):
                self._free(lane, h, "free_pages")

    @precondition(lambda self: self.holding("drain"))
    @rule(count=st.integers(1, 64))
    def drain(self, count: int) -> None:
        """Free up to ``count`` held blocks, oldest first."""
        self._record("drain", count=count)
        for lane in self.lanes:
            for h in list(lane.held[:count]):
                self._free(lane, h, "__free_pages")

    @precondition(lambda self: self.holding("get"))
    @rule(i=st.integers(0, 2**16), tail=st.booleans())
    def get(self, i: int, tail: bool) -> None:
        """``get_page`` on a held page (on a compound tail: the head's count)."""
        self._record("get", i=i, tail=tail)
        for lane in self.lanes:
            h = lane.pick(i)
            if h is None:
                continue
            pfn = h.pfn + ((1 << h.order) - 1 if tail and h.compound else 0)
            out = self._run(lane, f"get_page(pfn {pfn:#x})",
                            lambda m, k, p=pfn: m.get_page(m.pfn_to_page(p)))
            if out[0][0] == "raise":
                raise Divergence(f"get_page(pfn {pfn:#x}) on a held page raised {out[0][1]}")
            self._settle(lane, f"get_page(pfn {pfn:#x})", None)
            h.refs += 1
            self._check_count(lane, h)

    @precondition(lambda self: self.holding("put"))
    @rule(i=st.integers(0, 2**16), compound_first=st.booleans())
    def put(self, i: int, compound_first: bool = False) -> None:
        """``put_page`` on a held page (with ``compound_first``, on a compound one if the
        lane holds any: its last reference frees the whole block)."""
        self._record("put", i=i, compound_first=compound_first)
        for lane in self.lanes:
            compound = [h for h in lane.held if h.compound] if compound_first else []
            h = compound[i % len(compound)] if compound else lane.pick(i)
            if h is not None:
                self._free(lane, h, "put_page")

    @precondition(lambda self: self.holding("write"))
    @rule(i=st.integers(0, 2**16), byte=st.integers(1, 255))
    def write(self, i: int, byte: int) -> None:
        """Dirty every page of a held block (its memory is reused after a free)."""
        self._record("write", i=i, byte=byte)
        for lane in self.lanes:
            h = lane.pick(i)
            if h is None:
                continue
            for m in lane.machines:
                for p in range(h.pfn, h.pfn + min(1 << h.order, 64)):
                    m.write_page(p, 0, bytes([byte]) * 16)

    # -- misuse ------------------------------------------------------------------------------
    @precondition(lambda self: self.on("double_free") and any(la.ghosts for la in self.lanes))
    @rule(j=st.integers(0, 2**16))
    def double_free(self, j: int) -> None:
        """Free a block that was already freed (unless its pfn is in use again)."""
        self._record("double_free", j=j)
        for lane in self.lanes:
            if not lane.ghosts:
                continue
            pfn, order = lane.ghosts[j % len(lane.ghosts)]
            if lane.covering(pfn) is not None:
                continue
            self._misuse(lane, f"double free of pfn {pfn:#x} order {order}",
                         lambda m, k, p=pfn, o=order: m.free_pages(m.pfn_to_page(p), o))

    @precondition(lambda self: self.on("touch_free_page") and any(la.ghosts for la in self.lanes))
    @rule(j=st.integers(0, 2**16), put=st.booleans())
    def touch_free_page(self, j: int, put: bool) -> None:
        """``get_page``/``put_page`` on a page nobody holds."""
        self._record("touch_free_page", j=j, put=put)
        for lane in self.lanes:
            if not lane.ghosts:
                continue
            pfn, _ = lane.ghosts[j % len(lane.ghosts)]
            if lane.covering(pfn) is not None:
                continue
            if put:
                self._misuse(lane, f"put_page on free pfn {pfn:#x}",
                             lambda m, k, p=pfn: m.put_page(m.pfn_to_page(p)),
                             "RefcountUnderflow")
            else:
                self._misuse(lane, f"get_page on free pfn {pfn:#x}",
                             lambda m, k, p=pfn: m.get_page(m.pfn_to_page(p)),
                             "GetPageOnFreePage")

    @precondition(lambda self: self.holding("wrong_order_free"))
    @rule(i=st.integers(0, 2**16), delta=st.sampled_from([-2, -1, 1, 2, 12]))
    def wrong_order_free(self, i: int, delta: int) -> None:
        """``__free_pages`` of a held block (one reference) at another order."""
        self._record("wrong_order_free", i=i, delta=delta)
        for lane in self.lanes:
            h = lane.pick(i)
            if h is None or h.refs != 1 or h.order + delta < 0:
                continue
            order = h.order + delta
            self._misuse(lane, f"__free_pages(pfn {h.pfn:#x}, order {order}) of an "
                               f"order-{h.order} block",
                         lambda m, k, p=h.pfn, o=order: m.free_pages(m.pfn_to_page(p), o))

    @precondition(lambda self: self.holding("inner_page_free"))
    @rule(i=st.integers(0, 2**16), k=st.integers(1, 2**10))
    def inner_page_free(self, i: int, k: int) -> None:
        """Free a page inside a held block: a compound tail (TailPageFree) or a page with
        no reference (RefcountUnderflow)."""
        self._record("inner_page_free", i=i, k=k)
        for lane in self.lanes:
            h = lane.pick(i)
            if h is None or not h.order:
                continue
            pfn = h.pfn + (k % (1 << h.order) or 1)
            expect = "TailPageFree" if h.compound else "RefcountUnderflow"
            self._misuse(lane, f"__free_pages(pfn {pfn:#x}, 0) inside the order-{h.order} "
                               f"block at {h.pfn:#x}",
                         lambda m, kk, p=pfn: m.free_pages(m.pfn_to_page(p), 0), expect)

    @precondition(lambda self: self.on("bad_address_free"))
    @rule(addr=st.one_of(st.integers(1, 2**20), st.integers(2**32, 2**64 - 1)),
          order=st.integers(0, 3))
    def bad_address_free(self, addr: int, order: int) -> None:
        """``free_pages(addr, order)`` of an address outside the direct map (BadVirtAddr);
        ``free_pages(0, order)`` is a no-op."""
        self._record("bad_address_free", addr=addr, order=order)
        for lane in self.lanes:
            if lane.lead.virt_addr_valid(addr):
                continue
            self._misuse(lane, f"free_pages({addr:#x}, {order})",
                         lambda m, k, a=addr, o=order: free_pages_addr(m, a, o), "BadVirtAddr")
            out = self._run(lane, "free_pages(0)", lambda m, k, o=order: free_pages_addr(m, 0, o))
            if out[0] != ("ok", None):
                raise Divergence(f"free_pages(0, {order}) must be a no-op; got {_fmt(out[0])}")
            self._settle(lane, "free_pages(0)", None)

    @precondition(lambda self: self.on("bad_pfn"))
    @rule(offset=st.integers(-3, 2**20))
    def bad_pfn(self, offset: int) -> None:
        """``pfn_to_page`` beyond the last pfn (or negative): BadRange."""
        self._record("bad_pfn", offset=offset)
        for lane in self.lanes:
            pfn = offset if offset < 0 else lane.lead.layout.max_pfn + offset
            self._misuse(lane, f"pfn_to_page({pfn:#x})",
                         lambda m, k, p=pfn: m.pfn_to_page(p), "BadRange")

    @precondition(lambda self: self.on("reserved_free"))
    @rule(k=st.integers(0, 2**20))
    def reserved_free(self, k: int) -> None:
        """Free a reserved page or a page in a hole: BadPageState (PG_reserved)."""
        self._record("reserved_free", k=k)
        for lane in self.lanes:
            ranges = [r for z in lane.lead.layout.zones for r in (*z.reserved, *z.holes)]
            if not ranges:
                continue
            s, e = ranges[k % len(ranges)]
            pfn = s + (k // len(ranges)) % (e - s)
            self._misuse(lane, f"__free_pages(pfn {pfn:#x}) of a reserved/hole page",
                         lambda m, kk, p=pfn: m.free_pages(m.pfn_to_page(p), 0), "BadPageState")

    @precondition(lambda self: self.holding("foreign_page"))
    @rule(i=st.integers(0, 2**16))
    def foreign_page(self, i: int) -> None:
        """Hand a machine a page of another machine: InvalidArgument."""
        self._record("foreign_page", i=i)
        for lane in self.lanes:
            h = lane.pick(i)
            if h is None:
                continue
            if lane.scratch is None:
                lane.scratch = [impl.build(lane.config) for impl in lane.impls]
            scratch = lane.scratch
            self._misuse(lane, f"__free_pages of a foreign page (pfn {h.pfn:#x})",
                         lambda m, k, p=h.pfn, sc=scratch: m.free_pages(sc[k].pfn_to_page(p), 0),
                         "InvalidArgument")

    # -- end of a run ---------------------------------------------------------------------------
    def teardown(self) -> None:
        if self.lanes and _current_build_context.value is not None:
            target(self.max_frag, label="fragmentation")
            target(float(self.max_depth), label="fallback depth")
            target(1.0 - self.min_free, label="low free memory")

    # -- replay --------------------------------------------------------------------------------
    @classmethod
    def replay(cls, trace: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Run a recorded trace (``last_trace``, or one from the regression corpus)
        again; raises :class:`~kmem.fuzz.checks.Divergence` where it fails."""
        machine = cls()
        for name, kwargs in trace:
            getattr(machine, name)(**kwargs)


def _fmt(out: Outcome) -> str:
    kind, value = out
    if kind == "raise":
        return f"raise {value}"
    return "None" if value is None else (hex(value) if isinstance(value, int) else repr(value))


def _state_diff(got: buddy.ZoneState, want: buddy.ZoneState) -> str:
    parts = []
    extra = sorted(got.free - want.free)[:4]
    missing = sorted(want.free - got.free)[:4]
    if extra or missing:
        parts.append(f"free blocks extra {_blocks(extra)}, missing {_blocks(missing)}")
    a_extra = sorted(got.allocated - want.allocated)[:4]
    a_missing = sorted(want.allocated - got.allocated)[:4]
    if a_extra or a_missing:
        parts.append(f"allocated extra {_blocks(a_extra)}, missing {_blocks(a_missing)}")
    if got.nr_free != want.nr_free:
        parts.append(f"nr_free {got.nr_free}, spec {want.nr_free}")
    if got.free_pages != want.free_pages:
        parts.append(f"free_pages {got.free_pages}, spec {want.free_pages}")
    return "; ".join(parts) or "layout differs"


def _blocks(bs: Sequence[tuple[int, int]]) -> str:
    return "[" + ", ".join(f"({p:#x}, {o})" for p, o in bs) + "]"

