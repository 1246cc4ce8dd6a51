"""Obligations on the page-fault error code (:mod:`kmem.spec.x86_fault`), the handler
decision (:mod:`kmem.spec.fault_handler`) and the x86-32 layout (:mod:`kmem.spec.x86_32_layout`).

``decode`` and ``encode`` are encoded from the spec by probing: ``decode(0)`` and
``decode(1 << i)`` for every bit give each field as a function of the code's bits
(the encoding assumes that function is an XOR of bits, and checks it on random
codes), ``encode`` of each one-field record gives its mask.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import fields
from types import ModuleType, SimpleNamespace

import z3

from kmem.spec import fault_handler as spec_handler
from kmem.spec import x86_32_layout as spec_layout
from kmem.spec import x86_fault as spec_fault
from kmem.spec.errors import InvalidArgument, KmemError

from .core import Obligation, Prover, bv_value, first_line
from .explore import choice_paths

Impl = ModuleType | SimpleNamespace
CODE_BITS = spec_fault.ERROR_CODE_BITS

#: What each bit means, from the facts (trap_pf.h, SDM vol. 3 4.7): field -> bit position.
SDM_BITS = {"prot": 0, "write": 1, "user": 2, "rsvd": 3, "instr": 4, "pk": 5, "shstk": 6,
            "hlat": 7, "sgx": 15, "rmp": 31}


def _field_names() -> list[str]:
    return [f.name for f in fields(spec_fault.PfErrorCode)]


def _decodes(impl: Impl, code: int) -> dict[str, bool] | None:
    try:
        rec = impl.decode(code)
    except InvalidArgument:
        return None
    return {name: bool(getattr(rec, name)) for name in _field_names()}


def decode_z3(prover: Prover, impl: Impl, code: z3.BitVecRef
              ) -> tuple[z3.BoolRef, dict[str, z3.BoolRef]]:
    """(the code is accepted, each field) as z3 terms probed from ``impl.decode``."""
    base = _decodes(impl, 0)
    prover.require(base is not None, "decode(0) is refused; 0 is a valid error code")
    assert base is not None
    accepted_bits, flips = [], {name: [] for name in base}
    for i in range(CODE_BITS):
        rec = _decodes(impl, 1 << i)
        if rec is None:
            continue
        accepted_bits.append(i)
        for name in base:
            if rec[name] != base[name]:
                flips[name].append(i)
    known = sum(1 << i for i in accepted_bits)
    accepted = code & ((2**CODE_BITS - 1) ^ known) == 0
    terms = {}
    for name in base:
        t = z3.BoolVal(base[name])
        for i in flips[name]:
            t = z3.Xor(t, z3.Extract(i, i, code) == 1)
        terms[name] = t
    rng = random.Random(11)
    for _ in range(200):
        c = rng.getrandbits(CODE_BITS) & known
        want = _decodes(impl, c)
        got = {n: z3.is_true(z3.simplify(z3.substitute(t, (code, z3.BitVecVal(c, CODE_BITS)))))
               for n, t in terms.items()}
        prover.require(want == got, f"decode({c:#x}) = {want} is not the bitwise reading {got}")
    return accepted, terms


def encode_z3(impl: Impl, values: dict[str, z3.BoolRef]) -> z3.BitVecRef:
    """``encode`` as the OR of the masks of the set fields (probed per field)."""
    empty = impl.encode(spec_fault.PfErrorCode())
    out = z3.BitVecVal(empty, CODE_BITS)
    for name, v in values.items():
        mask = impl.encode(spec_fault.PfErrorCode(**{name: True})) ^ empty
        out = out | z3.If(v, z3.BitVecVal(mask, CODE_BITS), z3.BitVecVal(0, CODE_BITS))
    return out


def check_decode_encode_inverse(prover: Prover, impl: Impl = spec_fault) -> None:
    """``decode`` and ``encode`` are inverse: ``encode(decode(c)) == c`` for every 32-bit
    code ``decode`` accepts, and ``decode(encode(r)) == r`` for every record; ``decode``
    accepts exactly the codes with only defined bits (P W/R U/S RSVD I/D PK SS HLAT SGX RMP)."""
    code = z3.BitVec("code", CODE_BITS)
    accepted, dec = decode_z3(prover, impl, code)
    prover.prove(accepted == (code & (2**CODE_BITS - 1 - spec_fault.KNOWN_BITS_MASK) == 0),
                 describe=lambda m: f"code {bv_value(m, code):#x} accepted wrongly or refused",
                 what="decode domain")
    prover.prove(z3.Implies(accepted, encode_z3(impl, dec) == code),
                 describe=lambda m: f"encode(decode({bv_value(m, code):#x})) differs",
                 what="encode(decode(c))")
    rec = {name: z3.Bool(name) for name in dec}
    c2 = encode_z3(impl, rec)
    _, dec2 = decode_z3(prover, impl, c2)
    prover.prove(z3.And([dec2[n] == rec[n] for n in rec]),
                 describe=lambda m: "decode(encode(r)) != r for r = " + ", ".join(
                     n for n in rec if z3.is_true(m.eval(rec[n], model_completion=True))),
                 what="decode(encode(r))")


def check_decode_reads_sdm(prover: Prover, impl: Impl = spec_fault) -> None:
    """``decode`` reads every bit as the SDM and trap_pf.h define it: bit 0 set = protection
    violation on a present page (clear = not present), bit 1 set = write, bit 2 set = user
    mode, then RSVD, I/D, PK, SS, HLAT (bit 7), SGX (bit 15), RMP (bit 31)."""
    code = z3.BitVec("code", CODE_BITS)
    accepted, dec = decode_z3(prover, impl, code)
    cases = [z3.Implies(accepted, dec[name] == (z3.Extract(bit, bit, code) == 1))
             for name, bit in SDM_BITS.items()]

    def describe(m: z3.ModelRef) -> str:
        c = bv_value(m, code)
        wrong = [f"{n} (bit {b}) reads {z3.is_true(m.eval(dec[n]))} for bit value {c >> b & 1}"
                 for n, b in SDM_BITS.items() if z3.is_false(m.eval(cases[list(SDM_BITS).index(n)]))]
        return f"code {c:#x}: " + "; ".join(wrong)

    prover.prove(z3.And(cases), describe=describe, what="decode")


#: The meaning of a reading of bits 0-2, by keyword (slide and SDM use different words).
_MEANING = (("no page present", "not-present"), ("not-present", "not-present"),
            ("protection", "present"), ("read", "read"), ("write", "write"),
            ("kernel", "kernel"), ("supervisor", "kernel"), ("user", "user"))


def _meaning(text: str) -> str:
    low = text.lower()
    return next(m for key, m in _MEANING if key in low)


def _reading_z3(reader, code: z3.BitVecRef, bit: int) -> z3.ExprRef:
    """The meaning a reader gives bit ``bit``, as a z3 string term over the code's bit."""
    zero, one = reader(0), reader(1 << bit)
    return z3.If(z3.Extract(bit, bit, code) == 1, z3.StringVal(_meaning(one[bit])),
                 z3.StringVal(_meaning(zero[bit])))


def _slide_claim(prover: Prover, impl: Impl) -> tuple[z3.BitVecRef, list[tuple[int, z3.ExprRef,
                                                                                  z3.ExprRef]]]:
    code = z3.BitVec("code", CODE_BITS)
    rng = random.Random(5)
    for c in [rng.getrandbits(3) | (rng.getrandbits(CODE_BITS) & spec_fault.KNOWN_BITS_MASK)
              for _ in range(64)]:
        for b in range(3):  # each reading depends only on its own bit
            for reader in (impl.slide_reading, impl.real_reading):
                prover.require(reader(c)[b] == reader(c & (1 << b))[b],
                               f"{reader.__name__}({c:#x}) bit {b} depends on other bits")
    return code, [(b, _reading_z3(impl.slide_reading, code, b),
                   _reading_z3(impl.real_reading, code, b)) for b in range(3)]


def check_slide_disagrees(prover: Prover, impl: Impl = spec_fault) -> None:
    """The lecture slides' reading of bits 0-2 (``slide_reading``) disagrees with the real one
    (``real_reading``) on every bit of every code: the slide swaps set and clear for
    P, W/R and U/S."""
    code, bits = _slide_claim(prover, impl)
    prover.prove(z3.And([s != r for _, s, r in bits]),
                 describe=lambda m: f"code {bv_value(m, code):#x}: the slide agrees on some bit",
                 what="slide")


def check_slide_agrees(prover: Prover, impl: Impl = spec_fault) -> None:
    """(Expected refuted) The lecture slides' table reads bits 0-2 as the SDM does. The counterexample
    shows, per bit, what the slide says and what the bit really means."""
    code, bits = _slide_claim(prover, impl)

    def describe(m: z3.ModelRef) -> str:
        c = bv_value(m, code)
        return f"code {c:#x}: " + "; ".join(
            f"bit {b} = {c >> b & 1}: slide says {m.eval(s)}, SDM says {m.eval(r)}"
            for b, s, r in bits)

    prover.prove(z3.And([s == r for _, s, r in bits]), describe=describe, what="slide reading")


# --- the handler: total and deterministic, by path exploration ---------------------------

#: The context flags of ``FaultSituation``; each is explored over False and True.
HANDLER_FLAGS = ("extable_fixup", "faulthandler_disabled", "has_mm", "smap", "eflags_ac",
                 "stack_expand_ok", "vma_pkey_denies", "kernel_ref_present",
                 "kernel_pte_allows")


def handler_domain(h: Impl = spec_handler) -> list[tuple]:
    """The concrete part of the handler obligation's domain: ``(code, address, user_mode,
    base situation, arch, era, explored)`` for both eras, every error code hardware can
    push from the bits the handler reads (``hw_can_produce``: P W/R U/S RSVD I/D PK SS,
    and SGX with P), both CPU modes, five address classes (user far below a VMA, inside
    it, in the stack-growth gap just below it, kernel direct map, vmalloc), five VMA
    kinds (none, r, rw, rx, rw+growsdown). ``explored`` maps each field that
    :func:`check_handler_total` decides lazily to its values: the nine flags (False,
    True), ``pte`` (every PteState), ``mm_fault`` (every VmFault; 2.6.11: NONE, OOM,
    SIGBUS) and ``sp``
    (None, ``address + 32``, ``address + 33``: both sides of 2.6.11's
    ``address + 32 < esp``)."""
    arch = h.X86_32
    page = 4096
    vmas = [None, h.Vma(0x10000000, 0x10010000, h.VM_READ),
            h.Vma(0x10000000, 0x10010000, h.VM_READ | h.VM_WRITE),
            h.Vma(0x10000000, 0x10010000, h.VM_READ | h.VM_EXEC),
            h.Vma(0x10000000, 0x10010000, h.VM_READ | h.VM_WRITE | h.VM_GROWSDOWN)]
    addresses = [0x1000, 0x10000000 + page, 0x0FFFF000, arch.task_size_max + page,
                 arch.vmalloc_start + page]
    codes = [c for c in range(128) if spec_fault.hw_can_produce(c)]
    codes += [c | spec_fault.X86_PF_SGX for c in (0x1, 0x3, 0x5, 0x7)]
    flags = {name: (False, True) for name in HANDLER_FLAGS}
    out = []
    for era, mm_faults in (("modern", tuple(h.VmFault)),
                           ("2.6.11", (h.VmFault.NONE, h.VmFault.OOM, h.VmFault.SIGBUS))):
        for vma, address in itertools.product(vmas, addresses):
            if vma is not None and vma.end <= address:
                vma = None  # find_vma finds nothing above a kernel address
            base = h.FaultSituation(vma=vma)
            explored = {**flags, "pte": tuple(h.PteState), "mm_fault": mm_faults,
                        "sp": (None, address + 32, address + 33)}
            for code in codes:
                for user in (False, True):
                    out.append((code, address, user, base, arch, era, explored))
    return out


class LazySituation:
    """Stands in for a ``FaultSituation``: an explored field is decided by ``choose`` when
    the handler first reads it, every other field comes from ``base``. The handler only
    reads attributes of its situation (no ``replace``, hashing, equality or isinstance), so
    it cannot tell this from the situation with the chosen values; the obligation checks
    that on every path by running the handler again on that concrete situation."""

    __slots__ = ("_base", "_choose", "_explored")

    def __init__(self, base: object, choose, explored: dict[str, tuple]) -> None:
        self._base, self._choose, self._explored = base, choose, explored

    def __getattr__(self, name: str) -> object:
        values = self._explored.get(name)
        if values is None:
            return getattr(self._base, name)
        return self._choose(name, values)


def _decide(h: Impl, args: tuple, situation: object) -> object:
    """The handler's decision, or the KmemError it raised (the path's result)."""
    code, address, user, _base, arch, era, _explored = args
    try:
        return h.handle_page_fault(code, address, user, situation, arch, era)
    except KmemError as exc:
        return exc


def handler_paths(h: Impl = spec_handler) -> Iterator[tuple[tuple, list]]:
    """Each point of :func:`handler_domain` with the handler's paths over the explored fields."""
    for args in handler_domain(h):
        base, explored = args[3], args[6]
        yield args, choice_paths(
            lambda choose, args=args, base=base, explored=explored:
            _decide(h, args, LazySituation(base, choose, explored)))


def check_handler_total(prover: Prover, h: Impl = spec_handler) -> None:
    """The handler decision (``handle_page_fault``, modern and 2.6.11 profiles) is total and
    deterministic on its whole domain: for every error code hardware can push from the bits
    it reads, both CPU modes, five address classes, five VMA kinds, every PTE state, every
    combination of the nine context flags, every ``handle_mm_fault`` result of the era and
    a user stack pointer of None or on either side of 2.6.11's ``address + 32 < esp``, it
    gives exactly one Outcome and raises nothing (154,828,800 situations, covered by path
    exploration, not z3).

    The concrete dimensions are enumerated (:func:`handler_domain`: 4,200 points); the
    flags, ``pte``, ``mm_fault`` and ``sp`` are decided when the handler first reads them
    and every value of every read is tried (:func:`kmem.proofs.explore.choice_paths`), so
    the paths cover the product of their values (2**9 * 6 * 5 * 3 modern,
    2**9 * 6 * 3 * 3 2.6.11, per point): an input a path never read cannot change its
    result. Checked on every path:
    the paths' assignments add up to the whole product, and the handler run again on the
    concrete ``FaultSituation`` of the path (unread fields at the last value of their
    domain) gives the same decision. Measured: 36,588 paths, 73,176 handler calls.
    """
    outcomes = set(h.Outcome)
    for args, paths in handler_paths(h):
        code, address, user, base, arch, era, explored = args
        sizes = {k: len(v) for k, v in explored.items()}
        last = {k: v[-1] for k, v in explored.items()}
        base_fields = {f.name: getattr(base, f.name) for f in fields(base)}
        covered = 0
        for path in paths:
            reads = dict(path.reads)
            unread = [k for k in explored if k not in reads]
            covered += math.prod(sizes[k] for k in unread)
            concrete = h.FaultSituation(**{**base_fields, **last, **reads})
            result = path.result
            if isinstance(result, Exception):
                _path_cex(prover, args, concrete, path.reads, unread,
                          f"raised {type(result).__name__}: {result}")
            again = _decide(h, args, concrete)
            if again != result or getattr(result, "outcome", None) not in outcomes:
                _path_cex(prover, args, concrete, path.reads, unread,
                          f"gave {result} lazily, then {again}")
        prover.require(covered == math.prod(sizes.values()),
                       f"the paths at code={code:#x}, address={address:#x}, user_mode={user}, "
                       f"era={era} cover {covered} of {math.prod(sizes.values())} assignments")


def _path_cex(prover: Prover, args: tuple, concrete: object, reads: tuple, unread: list,
              what: str) -> None:
    """Refute with the concrete situation of a path and the fields the path read."""
    read = "; the path read " + ", ".join(f"{k}={v}" for k, v in reads) + (
        " and no other field: the rest may take any value" if unread else "")
    raise_cex(prover, (*args[:3], concrete, *args[4:6]), what + read)


def raise_cex(prover: Prover, args: tuple, what: str) -> None:
    code, address, user, s, _arch, era = args[:6]
    prover.require(False, f"handle_page_fault(code={code:#x}, address={address:#x}, "
                          f"user_mode={user}, era={era}, {s}) {what}")


# --- x86-32 layout ----------------------------------------------------------------------

def check_layout_regions(prover: Prover, impl: Impl = spec_layout) -> None:
    """For every VMSPLIT option (both eras, with and without PAE where allowed) the kernel
    regions are non-empty, ascending, pairwise disjoint and cover PAGE_OFFSET .. 4 GB:
    every kernel address lies in exactly one region, and ``region_of`` returns it."""
    v = z3.BitVec("vaddr", 33)
    for vmsplit in impl.VMSPLIT_PAGE_OFFSET:
        for era in ("2.6.11", "modern"):
            for pae in (False, True):
                if pae and vmsplit in impl.VMSPLIT_NOT_PAE:
                    continue
                lay = impl.layout(vmsplit, era, pae=pae)
                regs = lay.regions
                inside = [z3.And(z3.ULE(r.start, v), z3.ULT(v, r.end)) for r in regs]
                label = f"VMSPLIT_{vmsplit} {era}{' PAE' if pae else ''}"
                in_kernel = z3.And(z3.ULE(lay.page_offset, v), z3.ULT(v, 2**32))
                ordered = z3.And([z3.BoolVal(r.start < r.end) for r in regs] +
                                 [z3.BoolVal(a.end <= b.start) for a, b in zip(regs, regs[1:], strict=False)])
                claim = z3.And(ordered, z3.Implies(in_kernel, z3.PbEq([(c, 1) for c in inside], 1)),
                               z3.Implies(z3.Or(inside), in_kernel))
                prover.prove(claim, describe=lambda m, label=label, regs=regs: (
                    f"{label}: address {bv_value(m, v):#x} is in "
                    f"{[r.name for r in regs if r.contains(bv_value(m, v))]}"), what="layout")
                for r in regs:  # region_of agrees at both ends of every region
                    for a in (r.start, r.end - 1):
                        got = lay.region_of(a)
                        prover.require(got.name == r.name,
                                       f"{label}: region_of({a:#x}) = {got.name}, expected {r.name}")


def check_pa_va(prover: Prover, impl: Impl = spec_layout) -> None:
    """``__pa(__va(p)) == p`` for every lowmem physical address p, and ``__va(__pa(v)) == v``
    for every direct-map address v, for every VMSPLIT option (``__pa(x) = x - PAGE_OFFSET``,
    ``__va(x) = x + PAGE_OFFSET`` over 32-bit unsigned arithmetic)."""
    p = z3.BitVec("paddr", 32)
    for vmsplit in impl.VMSPLIT_PAGE_OFFSET:
        lay = impl.layout(vmsplit)
        off, top = lay.page_offset, lay.high_memory - lay.page_offset
        for probe in (0, 1, top // 2, top - 1):  # the z3 terms agree with pa/va
            prover.require(lay.va(probe) == probe + off and lay.pa(lay.va(probe)) == probe,
                           f"VMSPLIT_{vmsplit}: va/pa of {probe:#x} are not x +/- PAGE_OFFSET")
        va = p + off
        claim = z3.And(z3.ULT(p, top) == z3.And(z3.ULE(off, va), z3.ULT(va, lay.high_memory)),
                       z3.Implies(z3.ULT(p, top), va - off == p))
        prover.prove(claim, describe=lambda m, vmsplit=vmsplit: (
            f"VMSPLIT_{vmsplit}: paddr {bv_value(m, p):#x}"), what="__pa(__va(p))")


def obligations(fault: Impl = spec_fault, handler: Impl = spec_handler,
                layout: Impl = spec_layout) -> list[Obligation]:
    """The fault-bit, handler and layout obligations (each argument: the spec or a mutant)."""
    items = [
        ("fault.decode-encode-inverse", "fault", lambda pr: check_decode_encode_inverse(pr, fault),
         check_decode_encode_inverse, False),
        ("fault.decode-reads-sdm", "fault", lambda pr: check_decode_reads_sdm(pr, fault),
         check_decode_reads_sdm, False),
        ("fault.slide-disagrees-every-bit", "fault", lambda pr: check_slide_disagrees(pr, fault),
         check_slide_disagrees, False),
        ("fault.slide-reads-like-sdm", "fault", lambda pr: check_slide_agrees(pr, fault),
         check_slide_agrees, True),
        ("fault.handler-total", "fault", lambda pr: check_handler_total(pr, handler),
         check_handler_total, False),
        ("layout.regions-partition", "layout", lambda pr: check_layout_regions(pr, layout),
         check_layout_regions, False),
        ("layout.pa-va-inverse", "layout", lambda pr: check_pa_va(pr, layout), check_pa_va, False),
    ]
    return [Obligation(name, area, first_line(fn.__doc__), run, expect)
            for name, area, run, fn, expect in items]
