"""The x86 page-fault handler as a decision function: one outcome for every situation.

Follows arch/x86/mm/fault.c of 6.10+ (``handle_page_fault``, ``do_kern_addr_fault``,
``do_user_addr_fault``, ``access_error``, ``__bad_area_nosemaphore``,
``kernelmode_fixup_or_oops``, ``do_sigbus``), mm/memory.c (``lock_mm_and_find_vma``,
``handle_pte_fault``, ``do_anonymous_page``, ``do_wp_page``, ``do_swap_page``) and,
as the ``"2.6.11"`` profile, 2.6.11 arch/i386/mm/fault.c ``do_page_fault`` with
2.6.11 mm/memory.c.

:func:`handle_page_fault` is a plain function of frozen inputs: the hardware
error code, the faulting address (CR2), whether the CPU was in user mode
(``user_mode(regs)``), an abstract :class:`FaultSituation` (the VMA that
``find_vma`` returns, the PTE state, an exception-table entry, atomic context,
SMAP/EFLAGS.AC, the x86-32 vmalloc reference entry, what ``handle_mm_fault``
reports) and the address-space :class:`FaultArch`. It returns a
:class:`FaultDecision` with exactly one :class:`Outcome`.

Scope: private anonymous VMAs; races (mmap trylock failure, retry, pending
signals), errata (AMD prefetch #91, #93, #100, F00F), kprobes, KFENCE, EFI and
vsyscall emulation are outside the domain and never chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .constants import PAGE_SIZE
from .errors import InvalidArgument
from .kernel import Kernel
from .kernel import kernel as kernel_rules
from .x86_32_layout import Era, era_of, layout
from .x86_fault import (
    X86_PF_INSTR,
    X86_PF_PK,
    X86_PF_PROT,
    X86_PF_RSVD,
    X86_PF_SGX,
    X86_PF_SHSTK,
    X86_PF_USER,
    X86_PF_WRITE,
    decode,
    sanitize_error_code,
)

# vm_flags (include/linux/mm.h); VM_SHADOW_STACK is VM_HIGH_ARCH_5 on x86-64
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_GROWSDOWN = 0x00000100
VM_SHADOW_STACK = 1 << 37
VM_FLAGS_MODELLED = VM_READ | VM_WRITE | VM_EXEC | VM_GROWSDOWN | VM_SHADOW_STACK

# PROT_* (include/uapi/asm-generic/mman-common.h) and calc_vm_prot_bits()
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4


def calc_vm_prot_bits(prot: int) -> int:
    """calc_vm_prot_bits(): PROT_READ/WRITE/EXEC -> VM_READ/WRITE/EXEC (include/linux/mman.h)."""
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
        raise InvalidArgument(f"prot {prot:#x} has bits other than PROT_READ|PROT_WRITE|PROT_EXEC")
    return ((VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0)
            | (VM_EXEC if prot & PROT_EXEC else 0))


class Signal(Enum):
    """Signal numbers (x86 asm/signal.h)."""

    SIGKILL = 9
    SIGBUS = 7
    SIGSEGV = 11


class SiCode(Enum):
    """si_code values for page-fault signals (include/uapi/asm-generic/siginfo.h).

    The value is (signal, number): the numbers overlap between signals.
    """

    SEGV_MAPERR = (Signal.SIGSEGV, 1)  # address not mapped to object
    SEGV_ACCERR = (Signal.SIGSEGV, 2)  # invalid permissions for mapped object
    SEGV_PKUERR = (Signal.SIGSEGV, 4)  # failed protection key checks
    BUS_ADRERR = (Signal.SIGBUS, 2)  # nonexistent physical address
    BUS_MCEERR_AR = (Signal.SIGBUS, 4)  # hardware memory error consumed on a machine check

    @property
    def number(self) -> int:
        """The si_code number as the kernel stores it."""
        return self.value[1]


class PteState(Enum):
    """What the page-table entry for the address holds when the handler looks at it."""

    NONE = "none"  # pte_none(): never populated
    SWAP = "swap"  # a swap entry: the page is on swap
    ZERO_PAGE = "zero_page"  # present, read-only, maps the shared ZERO_PAGE
    PRESENT_RO_EXCLUSIVE = "ro_exclusive"  # present, write-protected, page used only here
    PRESENT_RO_SHARED = "ro_shared"  # present, write-protected, page shared (after fork)
    PRESENT_WRITE = "present_write"  # present and writable


class VmFault(Enum):
    """The error ``handle_mm_fault`` reports (VM_FAULT_* in include/linux/mm_types.h)."""

    NONE = "none"  # no VM_FAULT_ERROR bit: the fault was handled
    OOM = "oom"  # VM_FAULT_OOM: could not allocate
    SIGBUS = "sigbus"  # VM_FAULT_SIGBUS (e.g. a file mapping beyond EOF)
    HWPOISON = "hwpoison"  # VM_FAULT_HWPOISON: the page has a memory error (not in 2.6.11)
    SIGSEGV = "sigsegv"  # VM_FAULT_SIGSEGV (not in 2.6.11)


class Outcome(Enum):
    """Everything the handler can end in."""

    VMALLOC_SYNC = "vmalloc sync"  # x86-32: copied the pmd from init_mm's reference table
    SPURIOUS = "spurious fault"  # stale TLB: nothing to do but flush / set young+dirty
    DEMAND_ZERO_PAGE = "demand zero page"  # anonymous read: map the shared zero page
    DEMAND_ALLOC = "demand allocation"  # anonymous write: allocate a zeroed page
    COW_COPY = "copy-on-write"  # write to a shared/zero page: copy into a new page
    COW_REUSE = "copy-on-write reuse"  # write to an exclusive read-only page: make it writable
    SWAP_IN = "swap-in"  # read the page back from swap
    EXTABLE_FIXUP = "exception-table fixup"  # uaccess returns -EFAULT
    SIGSEGV = "SIGSEGV"
    SIGBUS = "SIGBUS"
    BAD_PAGETABLE = "bad page table"  # RSVD on a user address: pgtable_bad(), SIGKILL
    OOPS = "oops"  # page_fault_oops() / no_context: __die("Oops"), SIGKILL
    OOM_KILL = "out of memory"  # pagefault_out_of_memory() / 2.6.11 "VM: killing process"


#: Outcomes after which the faulting access is retried and succeeds.
RESOLVED = frozenset({Outcome.VMALLOC_SYNC, Outcome.SPURIOUS, Outcome.DEMAND_ZERO_PAGE,
                      Outcome.DEMAND_ALLOC, Outcome.COW_COPY, Outcome.COW_REUSE,
                      Outcome.SWAP_IN})


@dataclass(frozen=True)
class Vma:
    """A VMA: [vm_start, vm_end) with vm_flags (include/linux/mm_types.h)."""

    start: int
    end: int
    flags: int

    def __post_init__(self) -> None:
        if self.start % PAGE_SIZE or self.end % PAGE_SIZE or not 0 <= self.start < self.end:
            raise InvalidArgument(f"VMA [{self.start:#x}, {self.end:#x}) must be page aligned "
                                  "and non-empty")
        if self.flags & ~VM_FLAGS_MODELLED:
            raise InvalidArgument(f"vm_flags {self.flags:#x} has bits outside VM_READ|VM_WRITE|"
                                  "VM_EXEC|VM_GROWSDOWN|VM_SHADOW_STACK")


@dataclass(frozen=True)
class FaultSituation:
    """The state the handler consults besides the error code, address and CPU mode.

    ``vma`` is what ``find_vma(mm, address)`` returns: the first VMA with
    ``vm_end > address`` (it may start above the address), or None.
    ``stack_expand_ok``: ``expand_stack`` would succeed (RLIMIT_STACK, guard gap).
    ``sp``: the user stack pointer, used only by the 2.6.11 ``address + 32 < esp`` rule.
    ``vma_pkey_denies``: ``arch_vma_access_permitted`` refuses (the VMA's pkey and PKRU).
    ``kernel_ref_present``: x86-32 ``init_mm`` maps the address (``vmalloc_fault`` works).
    ``kernel_pte_allows``: ``init_mm``'s entry now allows the access (a spurious fault).
    ``mm_fault``: the error ``handle_mm_fault`` would report (e.g. OOM when allocation fails).
    """

    vma: Vma | None = None
    pte: PteState = PteState.NONE
    extable_fixup: bool = False
    faulthandler_disabled: bool = False
    has_mm: bool = True
    smap: bool = False
    eflags_ac: bool = False
    sp: int | None = None
    stack_expand_ok: bool = True
    vma_pkey_denies: bool = False
    kernel_ref_present: bool = False
    kernel_pte_allows: bool = False
    mm_fault: VmFault = VmFault.NONE


@dataclass(frozen=True)
class FaultArch:
    """Where user space ends and (x86-32) where the vmalloc area is.

    ``task_size_max``: ``fault_in_kernel_space(addr)`` is ``addr >= TASK_SIZE_MAX``
    (2.6.11: ``TASK_SIZE``). On x86-64 the vmalloc range is unused (no vmalloc faults).
    """

    word_bits: int
    task_size_max: int
    vmalloc_start: int = 0
    vmalloc_end: int = 0

    def __post_init__(self) -> None:
        if self.word_bits not in (32, 64):
            raise InvalidArgument(f"word_bits must be 32 or 64, got {self.word_bits}")
        if not 0 < self.task_size_max < 2**self.word_bits:
            raise InvalidArgument(f"TASK_SIZE_MAX {self.task_size_max:#x} out of range")

    @staticmethod
    def x86_32(vmsplit: str = "3G", era: str | Era = Era.MODERN) -> FaultArch:
        """The x86-32 arch for a VMSPLIT, with the vmalloc range of :mod:`x86_32_layout`."""
        lay = layout(vmsplit, era)
        return FaultArch(32, lay.task_size, lay.vmalloc_start, lay.vmalloc_end)


#: x86-32, 3G/1G split, modern layout (the default everywhere): TASK_SIZE 0xC0000000,
#: vmalloc 0xF73FE000..0xFF5FE000 (see :mod:`kmem.spec.x86_32_layout`)
X86_32 = FaultArch.x86_32("3G")
#: x86-32, 3G/1G split, 2.6.11 layout: TASK_SIZE 0xC0000000, vmalloc 0xF8800000..0xFF7FE000
X86_32_2611 = FaultArch.x86_32("3G", Era.LINUX_2_6_11)
#: x86-64 4-level paging: TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE
X86_64 = FaultArch(64, (1 << 47) - PAGE_SIZE)


@dataclass(frozen=True)
class FaultDecision:
    """The handler's verdict.

    ``signal``/``si_code``: what the task gets (SIGKILL for oops, bad page table and
    a user OOM kill). ``reported_error_code``: the code recorded in
    ``thread.error_code`` and printed in the segfault line (sanitized). ``path``:
    the kernel functions and labels it went through, outermost first.
    """

    outcome: Outcome
    era: Era
    signal: Signal | None = None
    si_code: SiCode | None = None
    reported_error_code: int | None = None
    stack_expanded: bool = False
    path: tuple[str, ...] = ()

    @property
    def resolved(self) -> bool:
        """The faulting instruction is restarted and now succeeds."""
        return self.outcome in RESOLVED


def _validate(code: int, address: int, arch: FaultArch, s: FaultSituation, era: Era) -> None:
    decode(code)
    if not isinstance(address, int) or not 0 <= address < 2**arch.word_bits:
        raise InvalidArgument(f"address {address!r} is not a {arch.word_bits}-bit address")
    if s.vma is not None and s.vma.end <= address:
        raise InvalidArgument(f"vma [{s.vma.start:#x}, {s.vma.end:#x}) is not what find_vma "
                              f"returns for {address:#x}: it needs vm_end > address")
    if s.vma is not None and s.vma.end > arch.task_size_max:
        raise InvalidArgument(f"vma end {s.vma.end:#x} is above TASK_SIZE_MAX "
                              f"{arch.task_size_max:#x}")
    if era is Era.LINUX_2_6_11:
        if arch.word_bits != 32:
            raise InvalidArgument("the 2.6.11 profile is the i386 do_page_fault: word_bits 32")
        if s.mm_fault in (VmFault.HWPOISON, VmFault.SIGSEGV):
            raise InvalidArgument(f"2.6.11 handle_mm_fault never returns VM_FAULT_"
                                  f"{s.mm_fault.name}; expected NONE, OOM or SIGBUS")


def handle_page_fault(code: int, address: int, user_mode: bool, situation: FaultSituation,
                      arch: FaultArch = X86_32, era: str | Era = Era.MODERN, *,
                      kernel: str | Kernel | None = None) -> FaultDecision:
    """What the kernel does with a page fault (modern ``handle_page_fault`` by default).

    ``era="2.6.11"`` selects the 2.6.11 i386 ``do_page_fault`` (which decides kernel
    versus user from ``error_code & 4``, not from ``user_mode``). ``kernel`` (a
    ``uname -r`` string) picks the era instead (:attr:`kmem.spec.kernel.Kernel.fault_era`:
    2.6 kernels -> 2.6.11, 5.0 onwards -> modern). Total over its
    domain: every valid input gets exactly one outcome; invalid inputs raise
    :class:`InvalidArgument` before anything is decided.
    """
    if kernel is not None:
        era = kernel_rules(kernel).fault_era
    era = era_of(era)
    _validate(code, address, arch, situation, era)
    if era is Era.LINUX_2_6_11:
        return _do_page_fault_2611(code, address, situation, arch)
    if address >= arch.task_size_max:  # fault_in_kernel_space()
        return _do_kern_addr_fault(code, address, user_mode, situation, arch)
    return _do_user_addr_fault(code, address, user_mode, situation, arch)


# --- modern (6.x) ---------------------------------------------------------------------


def _d(outcome: Outcome, path: list[str], **kw: object) -> FaultDecision:
    return FaultDecision(outcome, Era.MODERN, path=tuple(path), **kw)  # type: ignore[arg-type]


def _do_kern_addr_fault(code: int, address: int, user_mode: bool, s: FaultSituation,
                        arch: FaultArch) -> FaultDecision:
    """do_kern_addr_fault(): vmalloc sync (x86-32), spurious fault, else bad area."""
    path = ["do_kern_addr_fault"]
    if arch.word_bits == 32 and not code & (X86_PF_RSVD | X86_PF_USER | X86_PF_PROT):
        if arch.vmalloc_start <= address < arch.vmalloc_end and s.kernel_ref_present:
            return _d(Outcome.VMALLOC_SYNC, path + ["vmalloc_fault"])
    if code in (X86_PF_WRITE | X86_PF_PROT, X86_PF_INSTR | X86_PF_PROT) and s.kernel_pte_allows:
        return _d(Outcome.SPURIOUS, path + ["spurious_kernel_fault"])
    return _bad_area(code, address, user_mode, s, arch, SiCode.SEGV_MAPERR,
                     path + ["bad_area_nosemaphore"])


def _bad_area(code: int, address: int, user_mode: bool, s: FaultSituation, arch: FaultArch,
              si_code: SiCode, path: list[str], expanded: bool = False) -> FaultDecision:
    """__bad_area_nosemaphore(): kernel -> fixup or oops; user -> SIGSEGV, sanitized code."""
    if not user_mode:
        return _fixup_or_oops(path + ["kernelmode_fixup_or_oops"], s, expanded)
    if not code & X86_PF_USER:
        # implicit supervisor access from user mode (descriptor tables): just oops
        return _d(Outcome.OOPS, path + ["page_fault_oops"], signal=Signal.SIGKILL,
                  stack_expanded=expanded)
    reported = sanitize_error_code(address, code, arch.task_size_max)
    return _d(Outcome.SIGSEGV, path + ["show_signal_msg", "force_sig_fault"],
              signal=Signal.SIGSEGV, si_code=si_code, reported_error_code=reported,
              stack_expanded=expanded)


def _fixup_or_oops(path: list[str], s: FaultSituation, expanded: bool = False) -> FaultDecision:
    """kernelmode_fixup_or_oops(): an exception-table entry turns the fault into -EFAULT."""
    if s.extable_fixup:
        return _d(Outcome.EXTABLE_FIXUP, path + ["fixup_exception"], stack_expanded=expanded)
    return _d(Outcome.OOPS, path + ["page_fault_oops"], signal=Signal.SIGKILL,
              stack_expanded=expanded)


def access_error(code: int, vma: Vma, pkey_denies: bool = False) -> bool:
    """access_error() (arch/x86/mm/fault.c): the VMA does not allow this access."""
    if code & X86_PF_PK:
        return True
    if code & X86_PF_SGX:
        return True
    if pkey_denies:  # !arch_vma_access_permitted()
        return True
    if code & X86_PF_SHSTK:
        return not (vma.flags & VM_SHADOW_STACK and vma.flags & VM_WRITE)
    if code & X86_PF_WRITE:
        return bool(vma.flags & VM_SHADOW_STACK) or not vma.flags & VM_WRITE
    if code & X86_PF_PROT:  # read or fetch on a present page
        return True
    return not vma.flags & (VM_READ | VM_WRITE | VM_EXEC)  # !vma_is_accessible()


def _do_user_addr_fault(code: int, address: int, user_mode: bool, s: FaultSituation,
                        arch: FaultArch) -> FaultDecision:
    """do_user_addr_fault(): checks, VMA lookup with stack expansion, access_error, fault-in."""
    path = ["do_user_addr_fault"]
    if code & (X86_PF_USER | X86_PF_INSTR) == X86_PF_INSTR:
        # the kernel tried to execute user memory
        return _d(Outcome.OOPS, path + ["page_fault_oops"], signal=Signal.SIGKILL)
    if code & X86_PF_RSVD:
        return _d(Outcome.BAD_PAGETABLE, path + ["pgtable_bad"], signal=Signal.SIGKILL)
    if s.smap and not code & X86_PF_USER and not s.eflags_ac:
        return _d(Outcome.OOPS, path + ["page_fault_oops"], signal=Signal.SIGKILL)
    if s.faulthandler_disabled or not s.has_mm:
        return _bad_area(code, address, user_mode, s, arch, SiCode.SEGV_MAPERR,
                         path + ["bad_area_nosemaphore"])
    vma = s.vma
    path.append("lock_mm_and_find_vma")
    expanded = False
    if vma is not None and vma.start > address:
        if not vma.flags & VM_GROWSDOWN:
            vma = None
        elif not user_mode and not s.extable_fixup:
            vma = None  # upgrade_mmap_lock_carefully() refuses kernel faults without extable
        elif not s.stack_expand_ok:
            vma = None
        else:
            expanded = True
            path.append("expand_stack_locked")
    if vma is None:
        return _bad_area(code, address, user_mode, s, arch, SiCode.SEGV_MAPERR,
                         path + ["bad_area_nosemaphore"])
    if access_error(code, vma, s.vma_pkey_denies):
        si = SiCode.SEGV_PKUERR if code & X86_PF_PK or s.vma_pkey_denies else SiCode.SEGV_ACCERR
        return _bad_area(code, address, user_mode, s, arch, si,
                         path + ["access_error", "bad_area_access_error"], expanded)
    write = bool(code & (X86_PF_WRITE | X86_PF_SHSTK))  # FAULT_FLAG_WRITE
    path.append("handle_mm_fault")
    if s.mm_fault is VmFault.NONE:
        return _d(_handle_pte_fault(write, s.pte), path + _pte_path(write, s.pte),
                  stack_expanded=expanded)
    if s.mm_fault is VmFault.OOM:
        if not user_mode:
            return _fixup_or_oops(path, s, expanded)
        return _d(Outcome.OOM_KILL, path + ["pagefault_out_of_memory"], stack_expanded=expanded)
    if s.mm_fault in (VmFault.SIGBUS, VmFault.HWPOISON):
        path.append("do_sigbus")
        if not user_mode:
            return _fixup_or_oops(path, s, expanded)
        si = SiCode.BUS_MCEERR_AR if s.mm_fault is VmFault.HWPOISON else SiCode.BUS_ADRERR
        return _d(Outcome.SIGBUS, path + ["force_sig_fault"], signal=Signal.SIGBUS, si_code=si,
                  reported_error_code=sanitize_error_code(address, code, arch.task_size_max),
                  stack_expanded=expanded)
    return _bad_area(code, address, user_mode, s, arch, SiCode.SEGV_MAPERR,
                     path + ["bad_area_nosemaphore"], expanded)


def _handle_pte_fault(write: bool, pte: PteState) -> Outcome:
    """handle_pte_fault() for a private anonymous VMA (mm/memory.c).

    pte_none -> do_anonymous_page (zero page for a read, a zeroed page for a write);
    swap entry -> do_swap_page; present and a write without write permission ->
    do_wp_page (reuse an exclusive page, else copy; the zero page is always
    copied); anything else is spurious (set young/dirty, flush the stale TLB entry).
    """
    if pte is PteState.NONE:
        return Outcome.DEMAND_ALLOC if write else Outcome.DEMAND_ZERO_PAGE
    if pte is PteState.SWAP:
        return Outcome.SWAP_IN
    if write and pte is PteState.PRESENT_RO_EXCLUSIVE:
        return Outcome.COW_REUSE
    if write and pte in (PteState.PRESENT_RO_SHARED, PteState.ZERO_PAGE):
        return Outcome.COW_COPY
    return Outcome.SPURIOUS


def _pte_path(write: bool, pte: PteState) -> list[str]:
    outcome = _handle_pte_fault(write, pte)
    return ["handle_pte_fault", {
        Outcome.DEMAND_ALLOC: "do_anonymous_page",
        Outcome.DEMAND_ZERO_PAGE: "do_anonymous_page",
        Outcome.SWAP_IN: "do_swap_page",
        Outcome.COW_REUSE: "do_wp_page",
        Outcome.COW_COPY: "do_wp_page",
        Outcome.SPURIOUS: "pte_mkyoung",
    }[outcome]]


# --- 2.6.11 i386 do_page_fault ---------------------------------------------------------


def _d26(outcome: Outcome, path: list[str], **kw: object) -> FaultDecision:
    return FaultDecision(outcome, Era.LINUX_2_6_11, path=tuple(path), **kw)  # type: ignore[arg-type]


def _no_context_2611(path: list[str], s: FaultSituation, expanded: bool = False) -> FaultDecision:
    """no_context: fixup_exception() or the oops (die("Oops"), do_exit(SIGKILL))."""
    path = path + ["no_context"]
    if s.extable_fixup:
        return _d26(Outcome.EXTABLE_FIXUP, path + ["fixup_exception"], stack_expanded=expanded)
    return _d26(Outcome.OOPS, path + ["die"], signal=Signal.SIGKILL, stack_expanded=expanded)


def _bad_area_2611(code: int, address: int, s: FaultSituation, arch: FaultArch,
                   si_code: SiCode, path: list[str], expanded: bool = False) -> FaultDecision:
    """bad_area_nosemaphore: user (error_code & 4) -> SIGSEGV, else no_context."""
    path = path + ["bad_area_nosemaphore"]
    if code & X86_PF_USER:
        reported = code | (X86_PF_PROT if address >= arch.task_size_max else 0)
        return _d26(Outcome.SIGSEGV, path + ["force_sig_info"], signal=Signal.SIGSEGV,
                    si_code=si_code, reported_error_code=reported, stack_expanded=expanded)
    return _no_context_2611(path, s, expanded)


def _do_page_fault_2611(code: int, address: int, s: FaultSituation,
                        arch: FaultArch) -> FaultDecision:
    """2.6.11 arch/i386/mm/fault.c do_page_fault()."""
    path = ["do_page_fault"]
    if address >= arch.task_size_max:
        if not code & (X86_PF_PROT | X86_PF_USER):  # !(error_code & 5)
            path.append("vmalloc_fault")
            if s.kernel_ref_present:
                return _d26(Outcome.VMALLOC_SYNC, path)
            return _no_context_2611(path, s)
        return _bad_area_2611(code, address, s, arch, SiCode.SEGV_MAPERR, path)
    if s.faulthandler_disabled or not s.has_mm:  # in_atomic() || !mm
        return _bad_area_2611(code, address, s, arch, SiCode.SEGV_MAPERR, path)
    vma = s.vma
    path.append("find_vma")
    expanded = False
    if vma is None:
        return _bad_area_2611(code, address, s, arch, SiCode.SEGV_MAPERR, path + ["bad_area"])
    if vma.start > address:
        if not vma.flags & VM_GROWSDOWN:
            return _bad_area_2611(code, address, s, arch, SiCode.SEGV_MAPERR,
                                  path + ["bad_area"])
        if code & X86_PF_USER and s.sp is not None and address + 32 < s.sp:
            return _bad_area_2611(code, address, s, arch, SiCode.SEGV_MAPERR,
                                  path + ["bad_area"])
        if not s.stack_expand_ok:
            return _bad_area_2611(code, address, s, arch, SiCode.SEGV_MAPERR,
                                  path + ["bad_area"])
        expanded = True
        path.append("expand_stack")
    path.append("good_area")
    low = code & (X86_PF_PROT | X86_PF_WRITE)
    if low & X86_PF_WRITE:  # 3: write, present; 2: write, not present
        ok = bool(vma.flags & VM_WRITE)
    elif low == X86_PF_PROT:  # 1: read, present
        ok = False
    else:  # 0: read, not present
        ok = bool(vma.flags & (VM_READ | VM_EXEC))
    if not ok:
        return _bad_area_2611(code, address, s, arch, SiCode.SEGV_ACCERR, path + ["bad_area"],
                              expanded)
    write = bool(code & X86_PF_WRITE)
    path.append("handle_mm_fault")
    if s.mm_fault is VmFault.NONE:
        return _d26(_handle_pte_fault(write, s.pte), path + _pte_path(write, s.pte),
                    stack_expanded=expanded)
    if s.mm_fault is VmFault.OOM:
        path.append("out_of_memory")
        if code & X86_PF_USER:
            return _d26(Outcome.OOM_KILL, path + ["do_exit"], signal=Signal.SIGKILL,
                        stack_expanded=expanded)
        return _no_context_2611(path, s, expanded)
    path.append("do_sigbus")  # VM_FAULT_SIGBUS
    if not code & X86_PF_USER:
        return _no_context_2611(path, s, expanded)
    return _d26(Outcome.SIGBUS, path + ["force_sig_info"], signal=Signal.SIGBUS,
                si_code=SiCode.BUS_ADRERR, reported_error_code=code, stack_expanded=expanded)


# --- the kernel log for a decision ------------------------------------------------------


def kernel_log(decision: FaultDecision, code: int, address: int, user_mode: bool,
               arch: FaultArch = X86_32, *, comm: str = "a.out", pid: int = 1000,
               ip: int = 0, sp: int = 0, cpu: tuple[int, int, int] = (0, 0, 0),
               vma_file: tuple[str, int, int, int] | None = None,
               kernel: str | Kernel | None = None) -> tuple[str, ...]:
    """The lines the kernel prints for ``decision`` (without log levels or timestamps).

    Modern: the oops's BUG and ``#PF:`` lines and ``CR2:``, the segfault line (with
    show_unhandled_signals = 1, default) of kernel version ``kernel`` (default:
    newest; ``cpu`` = (cpu, core, socket) and ``vma_file`` for its tails, see
    :func:`kmem.spec.x86_fault.segfault_line`), pgtable_bad's line. 2.6.11 i386: the
    "Unable to handle kernel ..." line, "VM: killing process" for OOM; it printed
    no segfault line.
    """
    from .x86_fault import (
        oops_cr2_line,
        oops_line_2611,
        oops_lines,
        pgtable_bad_line,
        segfault_line,
    )

    o = decision.outcome
    if decision.era is Era.LINUX_2_6_11:
        if o is Outcome.OOPS:
            return (oops_line_2611(address),)
        if o is Outcome.OOM_KILL:
            return (f"VM: killing process {comm}",)
        return ()
    if o is Outcome.OOPS:
        return oops_lines(code, address, user_mode, arch.word_bits, kernel=kernel) + \
            (oops_cr2_line(address),)
    if o is Outcome.SIGSEGV and decision.reported_error_code is not None:
        rules = kernel_rules(kernel)
        return (segfault_line(comm, pid, address, ip, sp, decision.reported_error_code,
                              word_bits=arch.word_bits, vma_file=vma_file,
                              cpu=cpu if rules.segfault_format in ("cpu", "offset") else None,
                              kernel=rules),)
    if o is Outcome.BAD_PAGETABLE:
        return (pgtable_bad_line(comm, address),)
    return ()
