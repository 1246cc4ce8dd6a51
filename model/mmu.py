"""A small MMU over the page model: address spaces, page tables and page faults.

An :class:`Mm` (``struct mm_struct``) holds private anonymous VMAs and a page
table of :class:`Pte` entries on a :class:`~kmem.model.machine.Machine`.
:meth:`Mm.access` is one memory access: it computes the paging entry the CPU
sees, the error code the CPU pushes (:func:`kmem.spec.x86_fault.hw_error_code`),
asks :func:`kmem.spec.fault_handler.handle_page_fault` what the kernel does,
performs that on the machine, and retries the access until it completes or ends
in a signal, a fixup or an oops. Signals are results, never Python exceptions.

Performed outcomes (mm/memory.c): demand paging allocates with
``GFP_HIGHUSER_MOVABLE | __GFP_ZERO`` (``do_anonymous_page``); a read of
untouched anonymous memory maps the shared ZERO_PAGE read-only (not refcounted:
``vm_normal_page`` treats it as special); copy-on-write allocates, copies, maps
the copy writable and drops the old reference (``wp_page_copy``), or reuses an
exclusive page (``wp_page_reuse``); swap-in reads the page back
(``do_swap_page``); stack expansion moves ``vm_start`` down
(``expand_downwards``, with RLIMIT_STACK and ``stack_guard_gap``). On x86-32 a
vmalloc address first touched from this mm is synced from ``init_mm``
(``vmalloc_fault``). Kernel log lines go to ``m.dmesg``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from kmem.spec import gfp as gfp_spec
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import InvalidArgument, KernelBug
from kmem.spec.fault_handler import (
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_READ,
    VM_WRITE,
    X86_64,
    FaultArch,
    FaultDecision,
    FaultSituation,
    Outcome,
    PteState,
    SiCode,
    Signal,
    Vma,
    VmFault,
    calc_vm_prot_bits,
    handle_page_fault,
    kernel_log,
)
from kmem.spec.x86_32_layout import Era, era_of, layout
from kmem.spec.x86_fault import (
    X86_PF_SHSTK,
    X86_PF_WRITE,
    Access,
    CpuState,
    PagingEntry,
    hw_error_code,
)

from .machine import Machine
from .page import Page

__all__ = ["Mm", "Pte", "AccessResult", "FaultRecord", "vmalloc", "MAP_PRIVATE", "MAP_ANONYMOUS",
           "MAP_GROWSDOWN", "MAP_FIXED", "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_EXEC",
           "GFP_ANON", "VM_READ"]

# include/uapi/asm-generic/mman-common.h, asm/mman.h (x86)
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_GROWSDOWN = 0x0100

EFAULT = 14
STACK_GUARD_GAP = 256 * PAGE_SIZE  # stack_guard_gap (mm/mmap.c): 1 MB with 4 KB pages
RLIMIT_STACK_DEFAULT = 8 * 1024 * 1024  # _STK_LIM
PMD_SHIFT_X86_32 = 22  # non-PAE: one pgd entry maps 4 MB
GFP_ANON = gfp_spec.GFP_HIGHUSER_MOVABLE | gfp_spec.__GFP_ZERO  # 0x100dca
MAX_RETRIES = 4


@dataclass
class Pte:
    """One page-table entry of a user address: present (pfn) or a swap entry."""

    pfn: int | None = None
    writable: bool = False
    nx: bool = False
    zero: bool = False  # maps the shared ZERO_PAGE
    swap_slot: int | None = None
    dirty: bool = False
    pkey: int = 0
    rsvd: bool = False  # a reserved bit is set (a corrupted entry)
    hwpoison: bool = False  # a hwpoison swap entry (memory_failure unmapped the page)


@dataclass(frozen=True)
class FaultRecord:
    """One page fault during an access: what the CPU pushed and what the kernel decided."""

    address: int
    error_code: int
    decision: FaultDecision


@dataclass(frozen=True)
class AccessResult:
    """The end of an access: completed (``ok``), or a signal / -EFAULT / oops."""

    ok: bool
    data: bytes | None = None
    faults: tuple[FaultRecord, ...] = ()
    signal: Signal | None = None
    si_code: SiCode | None = None
    errno: int | None = None  # -EFAULT after an exception-table fixup
    outcome: Outcome | None = None  # the last fault's outcome, None if there was no fault

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        return tuple(f.decision.outcome for f in self.faults)


@dataclass
class _Swap:
    """A swap device: slot -> (contents, number of swap entries that refer to it)."""

    slots: dict[int, list[object]] = field(default_factory=dict)
    next_slot: int = 1


@dataclass
class _InitMm:
    """init_mm's vmalloc mappings (x86-32): vpn -> pfn, and which pmds exist."""

    vmalloc: dict[int, int] = field(default_factory=dict)
    next_addr: int = 0


_SWAP: weakref.WeakKeyDictionary[Machine, _Swap] = weakref.WeakKeyDictionary()
_INIT_MM: weakref.WeakKeyDictionary[Machine, _InitMm] = weakref.WeakKeyDictionary()


def _swap(m: Machine) -> _Swap:
    return _SWAP.setdefault(m, _Swap())


def _arch_for(m: Machine) -> FaultArch:
    if m.layout.arch == "x86_32":
        return FaultArch.x86_32(m.layout.vmsplit or "3G", m.layout.era or "modern")
    return X86_64


def vmalloc(m: Machine, npages: int) -> int:
    """``vmalloc()`` on x86-32: map ``npages`` fresh pages into init_mm's vmalloc area.

    Existing address spaces do not see the new pmd until they fault on it and
    ``vmalloc_fault`` copies it. Returns the start address (a guard page follows).
    """
    if m.layout.arch != "x86_32":
        raise InvalidArgument("vmalloc faults exist only on x86-32 (x86-64 pre-populates)")
    if getattr(m, "kernel_version", None) == "2.6.11":
        raise InvalidArgument("vmalloc allocates with the 6.x gfp numbering; on 2.6.11 use "
                              "Machine.x86_32(mb, era='2.6.11')")
    if type(npages) is not int or npages <= 0:
        raise InvalidArgument(f"npages must be a positive int, got {npages!r}")
    lay = layout(m.layout.vmsplit or "3G", m.layout.era or "modern")
    im = _INIT_MM.setdefault(m, _InitMm(next_addr=lay.vmalloc_start))
    start = im.next_addr
    if start + (npages + 1) * PAGE_SIZE > lay.vmalloc_end:
        raise InvalidArgument("vmalloc area exhausted")
    pages: list[Page] = []
    for _ in range(npages):
        page = m.alloc_pages(gfp_spec.GFP_KERNEL | gfp_spec.__GFP_HIGHMEM | gfp_spec.__GFP_ZERO)
        if page is None:
            for p in pages:
                m.free_pages(p, 0)
            raise InvalidArgument("vmalloc: out of memory")
        pages.append(page)
    for i, page in enumerate(pages):
        im.vmalloc[start // PAGE_SIZE + i] = page.pfn
    im.next_addr = start + (npages + 1) * PAGE_SIZE
    return start


class Mm:
    """An address space (``struct mm_struct``): VMAs and a page table on a machine.

    ``era`` picks the fault handler profile ("modern" or "2.6.11"); ``comm`` and
    ``pid`` name the task in log lines; ``smap`` enables CR4.SMAP.
    """

    def __init__(self, m: Machine, *, era: str | Era = Era.MODERN, comm: str = "a.out",
                 pid: int = 1000, smap: bool = False,
                 rlimit_stack: int = RLIMIT_STACK_DEFAULT) -> None:
        if getattr(m, "kernel_version", None) == "2.6.11":
            raise InvalidArgument("kmem.model.mmu allocates with the 6.x gfp numbering; on 2.6.11 "
                                  "use Machine.x86_32(mb, era='2.6.11') (its layout and fault "
                                  "handler) with Mm(..., era='2.6.11')")
        self.m = m
        self.era = era_of(era)
        self.arch = _arch_for(m)
        if self.era is Era.LINUX_2_6_11 and self.arch.word_bits != 32:
            raise InvalidArgument("the 2.6.11 profile needs an x86-32 machine")
        self.comm = comm
        self.pid = pid
        self.smap = smap
        self.rlimit_stack = rlimit_stack
        self.vmas: list[Vma] = []
        self.ptes: dict[int, Pte] = {}  # vpn -> entry
        self.synced_pmds: set[int] = set()  # vmalloc pmds copied from init_mm
        self.tlb: dict[int, dict[int, PagingEntry]] = {}  # cpu -> vpn -> cached translation
        self.vma_pkeys: dict[int, int] = {}  # vm_start -> protection key (x86-64 only)
        self.pkru = 0  # the task's PKRU register
        self.task_unmapped_base = self.arch.task_size_max // 3 // PAGE_SIZE * PAGE_SIZE

    # --- VMAs -----------------------------------------------------------------------------
    def find_vma(self, addr: int) -> Vma | None:
        """find_vma(): the first VMA with vm_end > addr."""
        for v in self.vmas:
            if v.end > addr:
                return v
        return None

    def mmap(self, addr: int | None, length: int, prot: int,
             flags: int = MAP_PRIVATE | MAP_ANONYMOUS) -> int:
        """mmap() of private anonymous memory; ``addr`` None picks a free range.

        ``MAP_GROWSDOWN`` makes a stack VMA. Overlapping an existing VMA is refused.
        """
        if flags & MAP_SHARED or not flags & MAP_PRIVATE or not flags & MAP_ANONYMOUS:
            raise InvalidArgument("only MAP_PRIVATE|MAP_ANONYMOUS mappings are modelled")
        if flags & ~(MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED):
            raise InvalidArgument(f"unsupported mmap flags {flags:#x}")
        if type(length) is not int or length <= 0:
            raise InvalidArgument(f"length must be a positive int, got {length!r}")
        vm_flags = calc_vm_prot_bits(prot) | (VM_GROWSDOWN if flags & MAP_GROWSDOWN else 0)
        size = -(-length // PAGE_SIZE) * PAGE_SIZE
        if addr is None:
            addr = self._free_range(size)
        if addr % PAGE_SIZE:
            raise InvalidArgument(f"mmap address {addr:#x} is not page aligned (-EINVAL)")
        if not 0 < addr or addr + size > self.arch.task_size_max:
            raise InvalidArgument(f"[{addr:#x}, {addr + size:#x}) is outside user space "
                                  f"(0 .. TASK_SIZE {self.arch.task_size_max:#x})")
        for v in self.vmas:
            if v.start < addr + size and addr < v.end:
                raise InvalidArgument(f"[{addr:#x}, {addr + size:#x}) overlaps the VMA "
                                      f"[{v.start:#x}, {v.end:#x}) (-EEXIST)")
        self.vmas.append(Vma(addr, addr + size, vm_flags))
        self.vmas.sort(key=lambda v: v.start)
        return addr

    def _free_range(self, size: int) -> int:
        addr = self.task_unmapped_base
        for v in self.vmas:
            if v.end <= addr:
                continue
            if v.start >= addr + size:
                break
            addr = v.end
        if addr + size > self.arch.task_size_max:
            raise InvalidArgument("no free range in the address space (-ENOMEM)")
        return addr

    def munmap(self, addr: int, length: int) -> None:
        """munmap(): drop the range from the VMAs (splitting them) and free its pages."""
        if addr % PAGE_SIZE or type(length) is not int or length <= 0:
            raise InvalidArgument(f"munmap({addr:#x}, {length!r}): need a page-aligned address "
                                  "and a positive length (-EINVAL)")
        end = addr + -(-length // PAGE_SIZE) * PAGE_SIZE
        kept: list[Vma] = []
        pkeys: dict[int, int] = {}
        for v in self.vmas:
            key = self.vma_pkeys.get(v.start, 0)
            if v.end <= addr or v.start >= end:
                kept.append(v)
                pkeys[v.start] = key
                continue
            if v.start < addr:
                kept.append(Vma(v.start, addr, v.flags))
                pkeys[v.start] = key
            if v.end > end:
                kept.append(Vma(end, v.end, v.flags))
                pkeys[end] = key
        self.vma_pkeys = {k: v for k, v in pkeys.items() if v}
        for vpn in [vpn for vpn in self.ptes if addr // PAGE_SIZE <= vpn < end // PAGE_SIZE]:
            self._zap_pte(vpn)
        self.vmas = sorted(kept, key=lambda v: v.start)

    def exit_mmap(self) -> None:
        """exit_mmap(): unmap everything (the task exits)."""
        for vpn in list(self.ptes):
            self._zap_pte(vpn)
        self.vmas = []

    def _zap_pte(self, vpn: int) -> None:
        self._flush_all(vpn)
        pte = self.ptes.pop(vpn)
        if pte.swap_slot is not None:
            self._swap_put(pte.swap_slot)
        elif pte.pfn is not None and not pte.zero:
            page = self.m.pfn_to_page(pte.pfn)
            page._mapcount -= 1
            self.m.put_page(page)

    def mprotect(self, addr: int, length: int, prot: int, pkey: int | None = None) -> None:
        """mprotect() / pkey_mprotect(): new protections (and key) for a range of VMAs.

        Like change_protection(): removing PROT_WRITE write-protects the PTEs; adding it
        leaves them read-only (the next write takes a fault that reuses or copies);
        the changed range is flushed from every TLB.
        """
        if addr % PAGE_SIZE or type(length) is not int or length <= 0:
            raise InvalidArgument(f"mprotect({addr:#x}, {length!r}): need a page-aligned "
                                  "address and a positive length (-EINVAL)")
        if pkey is not None and (self.arch.word_bits != 64 or not 0 <= pkey < 16):
            raise InvalidArgument("protection keys exist on x86-64 only, keys 0..15")
        end = addr + -(-length // PAGE_SIZE) * PAGE_SIZE
        covered = sum(min(v.end, end) - max(v.start, addr) for v in self.vmas
                      if v.start < end and addr < v.end)
        if covered != end - addr:
            raise InvalidArgument(f"[{addr:#x}, {end:#x}) is not fully mapped (-ENOMEM)")
        new_bits = calc_vm_prot_bits(prot)
        out: list[Vma] = []
        pkeys: dict[int, int] = {}
        for v in self.vmas:
            old_key = self.vma_pkeys.get(v.start, 0)
            if v.end <= addr or v.start >= end:
                out.append(v)
                pkeys[v.start] = old_key
                continue
            for s, e, flags, key in ((v.start, addr, v.flags, old_key),
                                     (max(v.start, addr), min(v.end, end),
                                      new_bits | (v.flags & VM_GROWSDOWN),
                                      old_key if pkey is None else pkey),
                                     (end, v.end, v.flags, old_key)):
                if s < e:
                    out.append(Vma(s, e, flags))
                    pkeys[s] = key
        self.vmas = sorted(out, key=lambda v: v.start)
        self.vma_pkeys = {k: v for k, v in pkeys.items() if v}
        for vpn in range(addr // PAGE_SIZE, end // PAGE_SIZE):
            pte = self.ptes.get(vpn)
            if pte is None:
                continue
            if not new_bits & VM_WRITE:
                pte.writable = False
            pte.nx = not new_bits & VM_EXEC
            if pkey is not None:
                pte.pkey = pkey
            self._flush_all(vpn)

    def _vma_pkey(self, vma: Vma | None) -> int:
        return 0 if vma is None else self.vma_pkeys.get(vma.start, 0)

    def _pkey_denies(self, vma: Vma | None, write: bool) -> bool:
        """!arch_vma_access_permitted(): PKRU denies this access to the VMA's key."""
        if vma is None or self.arch.word_bits != 64:
            return False
        key = self._vma_pkey(vma)
        ad = self.pkru // 2 ** (2 * key) % 2
        wd = self.pkru // 2 ** (2 * key + 1) % 2
        return bool(ad or (write and wd))

    def memory_failure(self, addr: int) -> None:
        """memory_failure(): the page at ``addr`` has an uncorrectable error.

        The page is unmapped and kept out of circulation; the PTE becomes a hwpoison
        entry, so the next access gets SIGBUS with BUS_MCEERR_AR (modern kernels; the
        2.6.11 profile has no hwpoison handling).
        """
        if self.era is Era.LINUX_2_6_11:
            raise InvalidArgument("hwpoison handling (memory_failure) arrived in 2.6.32; "
                                  "not available in the 2.6.11 profile")
        pte = self.ptes.get(addr // PAGE_SIZE)
        if pte is None or pte.pfn is None or pte.zero:
            raise InvalidArgument(f"no anonymous page is mapped at {addr:#x}")
        self.ptes[addr // PAGE_SIZE] = Pte(nx=pte.nx, hwpoison=True)
        self.m.pfn_to_page(pte.pfn)._mapcount -= 1  # the reference stays: the page is lost
        self._flush_all(addr // PAGE_SIZE)

    def corrupt_pte(self, addr: int) -> None:
        """Set a reserved bit in the present PTE at ``addr`` (a corrupted page table)."""
        pte = self.ptes.get(addr // PAGE_SIZE)
        if pte is None or pte.pfn is None:
            raise InvalidArgument(f"no present PTE at {addr:#x}")
        pte.rsvd = True
        self._flush_all(addr // PAGE_SIZE)

    def _flush_all(self, vpn: int) -> None:
        """flush_tlb_page() on every CPU (a shootdown)."""
        for entries in self.tlb.values():
            entries.pop(vpn, None)

    def _flush_local(self, cpu: int, vpn: int) -> None:
        """A local flush only (flush_tlb_fix_spurious_fault, ptep_set_access_flags)."""
        self.tlb.get(cpu, {}).pop(vpn, None)

    # --- fork and swap ---------------------------------------------------------------------
    def fork(self, *, pid: int | None = None) -> Mm:
        """dup_mmap(): a child sharing every anonymous page copy-on-write.

        Both parent and child PTEs become read-only (``copy_present_pte`` write-protects
        private writable mappings); each shared page gains a reference and a mapping.
        """
        child = Mm(self.m, era=self.era, comm=self.comm,
                   pid=self.pid + 1 if pid is None else pid, smap=self.smap,
                   rlimit_stack=self.rlimit_stack)
        child.vmas = list(self.vmas)
        child.vma_pkeys = dict(self.vma_pkeys)
        child.pkru = self.pkru
        child.synced_pmds = set(self.synced_pmds)
        for vpn, pte in self.ptes.items():
            if pte.swap_slot is not None:
                _swap(self.m).slots[pte.swap_slot][1] += 1  # type: ignore[operator]
            elif pte.pfn is not None and not pte.zero:
                page = self.m.pfn_to_page(pte.pfn)
                self.m.get_page(page)
                page._mapcount += 1
                pte.writable = False
                self._flush_all(vpn)
            child.ptes[vpn] = Pte(pte.pfn, pte.writable, pte.nx, pte.zero, pte.swap_slot,
                                  pte.dirty, pte.pkey, pte.rsvd, pte.hwpoison)
        return child

    def swap_out(self, addr: int) -> int:
        """Move the page at ``addr`` to swap (what reclaim's ``try_to_unmap`` + pageout do).

        Only a page mapped by this mm alone; returns the swap slot.
        """
        vpn = addr // PAGE_SIZE
        pte = self.ptes.get(vpn)
        if pte is None or pte.pfn is None or pte.zero:
            raise InvalidArgument(f"nothing to swap at {addr:#x}: no anonymous page is mapped")
        page = self.m.pfn_to_page(pte.pfn)
        if page._mapcount != 0 or self.m.page_count(page) != 1:
            raise InvalidArgument(f"the page at {addr:#x} is shared; this model swaps out only "
                                  "pages mapped once")
        sw = _swap(self.m)
        slot = sw.next_slot
        sw.next_slot += 1
        sw.slots[slot] = [self.m.read_page(pte.pfn), 1]
        page._mapcount -= 1
        self.m.put_page(page)
        self.ptes[vpn] = Pte(swap_slot=slot, nx=pte.nx, pkey=pte.pkey)
        self._flush_all(vpn)
        return slot

    def _swap_put(self, slot: int) -> None:
        entry = _swap(self.m).slots[slot]
        entry[1] -= 1  # type: ignore[operator]
        if entry[1] == 0:
            del _swap(self.m).slots[slot]

    # --- what the hardware sees ------------------------------------------------------------
    def _kernel_entry(self, addr: int) -> PagingEntry:
        """The translation of a kernel address: direct map present; vmalloc via init_mm."""
        m = self.m
        if m.virt_addr_valid(addr):
            return PagingEntry(present=True, writable=True, user=False, nx=True)
        im = _INIT_MM.get(m)
        if im is not None and addr // PAGE_SIZE in im.vmalloc:
            if addr >> PMD_SHIFT_X86_32 in self.synced_pmds:
                return PagingEntry(present=True, writable=True, user=False, nx=True)
        return PagingEntry(present=False)

    def _kernel_ref_present(self, addr: int) -> bool:
        """init_mm has the pmd (and the pte) for ``addr``: vmalloc_fault can sync it."""
        im = _INIT_MM.get(self.m)
        return im is not None and addr // PAGE_SIZE in im.vmalloc

    def _user_entry(self, addr: int, cpu: int) -> PagingEntry:
        """The translation the CPU uses: its TLB entry if cached, else the page table."""
        cached = self.tlb.get(cpu, {}).get(addr // PAGE_SIZE)
        if cached is not None:
            return cached
        pte = self.ptes.get(addr // PAGE_SIZE)
        if pte is None or pte.pfn is None:
            return PagingEntry(present=False)
        return PagingEntry(present=True, writable=pte.writable, user=True, nx=pte.nx,
                           dirty=pte.dirty, rsvd=pte.rsvd, pkey=pte.pkey)

    def pte_state(self, addr: int) -> PteState:
        """The abstract PTE state the fault handler reasons about."""
        pte = self.ptes.get(addr // PAGE_SIZE)
        if pte is None:
            return PteState.NONE
        if pte.swap_slot is not None or pte.hwpoison:
            return PteState.SWAP
        if pte.zero:
            return PteState.ZERO_PAGE
        if pte.writable:
            return PteState.PRESENT_WRITE
        assert pte.pfn is not None
        page = self.m.pfn_to_page(pte.pfn)
        if page._mapcount == 0 and self.m.page_count(page) == 1:
            return PteState.PRESENT_RO_EXCLUSIVE
        return PteState.PRESENT_RO_SHARED

    def _stack_expand_ok(self, vma: Vma | None, addr: int) -> bool:
        """expand_downwards(): within RLIMIT_STACK and stack_guard_gap above the VMA below."""
        if vma is None or vma.start <= addr or not vma.flags & VM_GROWSDOWN:
            return True
        new_start = addr // PAGE_SIZE * PAGE_SIZE
        if vma.end - new_start > self.rlimit_stack:
            return False
        below = [v for v in self.vmas if v.end <= vma.start]
        if below and self.era is Era.MODERN and below[-1].end + STACK_GUARD_GAP > new_start:
            return False
        return not (below and below[-1].end > new_start)

    # --- one access --------------------------------------------------------------------------
    def access(self, addr: int, kind: Access | str, mode: str = "user", *,
               data: bytes | None = None, length: int = 1, extable: bool = False,
               atomic: bool = False, eflags_ac: bool = False, sp: int | None = None,
               ip: int = 0, cpu: int = 0) -> AccessResult:
        """One memory access by the task (``mode="user"``) or the kernel on its behalf.

        ``kind``: read, write or fetch. ``data`` is written by a write (default one
        zero byte); a read returns ``length`` bytes. ``extable``: the kernel
        instruction has an exception-table entry (copy_from_user and friends).
        ``atomic``: pagefault_disable()/interrupt context. ``sp``: the user stack
        pointer (2.6.11's esp rule). ``cpu``: which CPU (each has its own TLB; threads
        of one mm run on different CPUs). The access must stay within one page.
        """
        kind = Access(kind) if isinstance(kind, str) else kind
        if mode not in ("user", "kernel"):
            raise InvalidArgument(f"mode must be 'user' or 'kernel', got {mode!r}")
        if not isinstance(addr, int) or not 0 <= addr < 2**self.arch.word_bits:
            raise InvalidArgument(f"address {addr!r} is not a {self.arch.word_bits}-bit address")
        if kind is Access.WRITE:
            data = b"\0" if data is None else bytes(data)
            length = len(data)
        if length <= 0 or addr % PAGE_SIZE + length > PAGE_SIZE:
            raise InvalidArgument(f"access of {length} bytes at {addr:#x} must lie within "
                                  "one page")
        user = mode == "user"
        faults: list[FaultRecord] = []
        for _ in range(MAX_RETRIES):
            entry = self._kernel_entry(addr) if addr >= self.arch.task_size_max \
                else self._user_entry(addr, cpu)
            state = CpuState(smap=self.smap, eflags_ac=eflags_ac,
                             pke=self.arch.word_bits == 64, pkru=self.pkru)
            code = hw_error_code(kind, user, entry, state)
            if code is None:
                if addr < self.arch.task_size_max:
                    self.tlb.setdefault(cpu, {})[addr // PAGE_SIZE] = entry
                return self._complete(addr, kind, data, length, faults)
            decision = self._decide(code, addr, user, extable, atomic, eflags_ac, sp)
            decision = self._perform(decision, code, addr, user, extable, atomic, eflags_ac, sp,
                                     cpu)
            faults.append(FaultRecord(addr, code, decision))
            # the model's CPUs: one socket, one core per CPU (no SMT)
            self.m.dmesg.extend(kernel_log(decision, code, addr, user, self.arch,
                                           comm=self.comm, pid=self.pid, ip=ip, sp=sp or 0,
                                           cpu=(cpu, cpu, 0)))
            if not decision.resolved:
                return AccessResult(
                    False, None, tuple(faults), decision.signal, decision.si_code,
                    -EFAULT if decision.outcome is Outcome.EXTABLE_FIXUP else None,
                    decision.outcome)
        raise KernelBug(f"access at {addr:#x} still faults after {MAX_RETRIES} handled faults: "
                        f"{[f.decision.outcome.value for f in faults]}")

    def _situation(self, addr: int, extable: bool, atomic: bool, eflags_ac: bool,
                   sp: int | None, mm_fault: VmFault = VmFault.NONE,
                   write: bool = False) -> FaultSituation:
        user_addr = addr < self.arch.task_size_max
        vma = self.find_vma(addr) if user_addr else None
        return FaultSituation(
            vma=vma, pte=self.pte_state(addr) if user_addr else PteState.NONE,
            extable_fixup=extable, faulthandler_disabled=atomic, has_mm=True, smap=self.smap,
            eflags_ac=eflags_ac, sp=sp, stack_expand_ok=self._stack_expand_ok(vma, addr),
            vma_pkey_denies=self._pkey_denies(vma, bool(write)),
            kernel_ref_present=not user_addr and self._kernel_ref_present(addr),
            kernel_pte_allows=False, mm_fault=mm_fault)

    def _decide(self, code: int, addr: int, user: bool, extable: bool, atomic: bool,
                eflags_ac: bool, sp: int | None, mm_fault: VmFault = VmFault.NONE
                ) -> FaultDecision:
        s = self._situation(addr, extable, atomic, eflags_ac, sp, mm_fault,
                            bool(code & (X86_PF_WRITE | X86_PF_SHSTK)))
        return handle_page_fault(code, addr, user, s, self.arch, self.era)

    def _perform(self, d: FaultDecision, code: int, addr: int, user: bool, extable: bool,
                 atomic: bool, eflags_ac: bool, sp: int | None, cpu: int) -> FaultDecision:
        """Carry out a decision; an allocation failure turns it into the VM_FAULT_OOM one."""
        vpn = addr // PAGE_SIZE
        o = d.outcome
        new_page: Page | None = None
        pte_now = self.ptes.get(vpn)
        if o is Outcome.SWAP_IN and pte_now is not None and pte_now.hwpoison:
            # do_swap_page() on a hwpoison entry returns VM_FAULT_HWPOISON
            d = self._decide(code, addr, user, extable, atomic, eflags_ac, sp, VmFault.HWPOISON)
            o = d.outcome
        if o in (Outcome.DEMAND_ALLOC, Outcome.COW_COPY, Outcome.SWAP_IN):
            new_page = self.m.alloc_pages(GFP_ANON, 0)
            if new_page is None:  # handle_mm_fault returns VM_FAULT_OOM
                d = self._decide(code, addr, user, extable, atomic, eflags_ac, sp, VmFault.OOM)
                o = d.outcome
        if d.stack_expanded:
            vma = self.find_vma(addr)
            assert vma is not None
            self.vmas[self.vmas.index(vma)] = Vma(vpn * PAGE_SIZE, vma.end, vma.flags)
            if vma.start in self.vma_pkeys:
                self.vma_pkeys[vpn * PAGE_SIZE] = self.vma_pkeys.pop(vma.start)
        vma = self.find_vma(addr)
        nx = vma is None or not vma.flags & VM_EXEC
        if o is Outcome.VMALLOC_SYNC:
            self.synced_pmds.add(addr >> PMD_SHIFT_X86_32)
        elif o is Outcome.DEMAND_ZERO_PAGE:
            self.ptes[vpn] = Pte(self.m.zero_page().pfn, writable=False, nx=nx, zero=True,
                                 pkey=self._vma_pkey(vma))
        elif o is Outcome.DEMAND_ALLOC:
            assert new_page is not None
            new_page._mapcount = 0
            self.ptes[vpn] = Pte(new_page.pfn, writable=True, nx=nx, dirty=True,
                                 pkey=self._vma_pkey(vma))
        elif o is Outcome.COW_COPY:
            assert new_page is not None
            old = self.ptes[vpn]
            assert old.pfn is not None
            if not old.zero:  # wp_page_copy: a zero page is not copied, the new one is zeroed
                self.m.copy_page(new_page.pfn, old.pfn)
                old_page = self.m.pfn_to_page(old.pfn)
                old_page._mapcount -= 1
                self.m.put_page(old_page)
            new_page._mapcount = 0
            self.ptes[vpn] = Pte(new_page.pfn, writable=True, nx=old.nx, dirty=True,
                                 pkey=old.pkey)
            self._flush_all(vpn)  # ptep_clear_flush: the pfn changed
        elif o is Outcome.COW_REUSE:
            self.ptes[vpn].writable = True
            self.ptes[vpn].dirty = True
            self._flush_local(cpu, vpn)  # an upgrade: other CPUs may keep a stale entry
        elif o is Outcome.SWAP_IN:
            assert new_page is not None
            old = self.ptes[vpn]
            assert old.swap_slot is not None
            contents = _swap(self.m).slots[old.swap_slot][0]
            assert isinstance(contents, bytes)
            self.m.write_page(new_page.pfn, 0, contents)
            self._swap_put(old.swap_slot)
            new_page._mapcount = 0
            write = bool(code & X86_PF_WRITE)
            writable = write and vma is not None and bool(vma.flags & VM_WRITE)
            self.ptes[vpn] = Pte(new_page.pfn, writable=writable, nx=old.nx, dirty=writable,
                                 pkey=old.pkey)
        elif o is Outcome.SPURIOUS and addr < self.arch.task_size_max:
            self.ptes[vpn].dirty = self.ptes[vpn].dirty or bool(code & X86_PF_WRITE)
            self._flush_local(cpu, vpn)  # flush_tlb_fix_spurious_fault()
        return d

    def _complete(self, addr: int, kind: Access, data: bytes | None, length: int,
                  faults: list[FaultRecord]) -> AccessResult:
        last = faults[-1].decision.outcome if faults else None
        if addr >= self.arch.task_size_max:
            pfn = self._kernel_pfn(addr)
        else:
            pte = self.ptes[addr // PAGE_SIZE]
            assert pte.pfn is not None
            pfn = pte.pfn
        off = addr % PAGE_SIZE
        if kind is Access.WRITE:
            assert data is not None
            self.m.write_page(pfn, off, data)
            return AccessResult(True, None, tuple(faults), outcome=last)
        return AccessResult(True, self.m.read_page(pfn, off, length), tuple(faults), outcome=last)

    def _kernel_pfn(self, addr: int) -> int:
        if self.m.virt_addr_valid(addr):
            return self.m.virt_to_page(addr).pfn
        return _INIT_MM[self.m].vmalloc[addr // PAGE_SIZE]

    # --- convenience --------------------------------------------------------------------------
    def read(self, addr: int, length: int = 1, mode: str = "user", **kw: object) -> AccessResult:
        return self.access(addr, Access.READ, mode, length=length, **kw)  # type: ignore[arg-type]

    def write(self, addr: int, data: bytes, mode: str = "user", **kw: object) -> AccessResult:
        return self.access(addr, Access.WRITE, mode, data=data, **kw)  # type: ignore[arg-type]

    def page_at(self, addr: int) -> Page | None:
        """The page mapped at ``addr`` (None if nothing is present)."""
        pte = self.ptes.get(addr // PAGE_SIZE)
        if pte is None or pte.pfn is None:
            return None
        return self.m.pfn_to_page(pte.pfn)

