"""The page-fault handler decision: every outcome, both profiles, every error path, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmem.spec.errors import InvalidArgument
from kmem.spec.fault_handler import (
    RESOLVED,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_READ,
    VM_SHADOW_STACK,
    VM_WRITE,
    X86_32,
    X86_64,
    FaultArch,
    FaultSituation,
    Outcome,
    PteState,
    SiCode,
    Signal,
    Vma,
    VmFault,
    access_error,
    calc_vm_prot_bits,
    handle_page_fault,
    kernel_log,
)

RW = VM_READ | VM_WRITE
HEAP = Vma(0x08050000, 0x08060000, RW)
RO = Vma(0x08048000, 0x08049000, VM_READ | VM_EXEC)
NOACCESS = Vma(0x08070000, 0x08071000, 0)
STACK = Vma(0xBF000000, 0xC0000000, RW | VM_GROWSDOWN)
VMALLOC_ADDR = 0xF8800000
KERNEL_LOWMEM = 0xC8000000


def hpf(code, addr, user_mode, era="modern", arch=X86_32, **kw):
    return handle_page_fault(code, addr, user_mode, FaultSituation(**kw), arch, era)


# --- resolved outcomes --------------------------------------------------------------------

@pytest.mark.parametrize("era", ["modern", "2.6.11"])
def test_demand_paging(era):
    read = hpf(0x4, 0x08050010, True, era, vma=HEAP)
    assert read.outcome is Outcome.DEMAND_ZERO_PAGE and read.resolved
    assert read.signal is None and read.si_code is None
    write = hpf(0x6, 0x08050010, True, era, vma=HEAP)
    assert write.outcome is Outcome.DEMAND_ALLOC
    assert "do_anonymous_page" in write.path


@pytest.mark.parametrize("era", ["modern", "2.6.11"])
def test_copy_on_write(era):
    assert hpf(0x7, 0x08050000, True, era, vma=HEAP,
               pte=PteState.PRESENT_RO_SHARED).outcome is Outcome.COW_COPY
    assert hpf(0x7, 0x08050000, True, era, vma=HEAP,
               pte=PteState.PRESENT_RO_EXCLUSIVE).outcome is Outcome.COW_REUSE
    zero = hpf(0x7, 0x08050000, True, era, vma=HEAP, pte=PteState.ZERO_PAGE)
    assert zero.outcome is Outcome.COW_COPY and "do_wp_page" in zero.path


@pytest.mark.parametrize("era", ["modern", "2.6.11"])
def test_swap_in_and_spurious(era):
    assert hpf(0x4, 0x08050000, True, era, vma=HEAP, pte=PteState.SWAP).outcome is \
        Outcome.SWAP_IN
    assert hpf(0x6, 0x08050000, True, era, vma=HEAP, pte=PteState.SWAP).outcome is \
        Outcome.SWAP_IN
    # a write fault on a pte that is already writable: another thread got there first
    assert hpf(0x6, 0x08050000, True, era, vma=HEAP, pte=PteState.PRESENT_WRITE).outcome is \
        Outcome.SPURIOUS
    assert hpf(0x4, 0x08050000, True, era, vma=HEAP, pte=PteState.ZERO_PAGE).outcome is \
        Outcome.SPURIOUS


def test_kernel_uaccess_to_user_memory_is_demand_paged():
    d = hpf(0x2, 0x08050000, False, vma=HEAP, extable_fixup=True)
    assert d.outcome is Outcome.DEMAND_ALLOC


def test_spurious_kernel_fault_only_for_write_prot_or_instr_prot():
    for code in (0x3, 0x11):
        d = hpf(code, KERNEL_LOWMEM, False, kernel_pte_allows=True)
        assert d.outcome is Outcome.SPURIOUS and d.path[-1] == "spurious_kernel_fault"
    # the entry does not allow it: a real protection fault -> oops
    assert hpf(0x3, KERNEL_LOWMEM, False).outcome is Outcome.OOPS
    # a read-protection fault and a not-present fault are never spurious
    assert hpf(0x1, KERNEL_LOWMEM, False, kernel_pte_allows=True).outcome is Outcome.OOPS
    assert hpf(0x2, KERNEL_LOWMEM, False, kernel_pte_allows=True).outcome is Outcome.OOPS


# --- vmalloc fault ------------------------------------------------------------------------

def test_modern_vmalloc_sync_x86_32_only_in_range_and_not_present():
    d = hpf(0x0, VMALLOC_ADDR, False, kernel_ref_present=True)
    assert d.outcome is Outcome.VMALLOC_SYNC and d.path[-1] == "vmalloc_fault"
    assert hpf(0x2, VMALLOC_ADDR, False, kernel_ref_present=True).outcome is Outcome.VMALLOC_SYNC
    # outside VMALLOC_START..VMALLOC_END (the direct map) -> no sync, oops
    assert hpf(0x0, KERNEL_LOWMEM, False, kernel_ref_present=True).outcome is Outcome.OOPS
    # reference entry missing -> oops (or fixup)
    assert hpf(0x0, VMALLOC_ADDR, False).outcome is Outcome.OOPS
    assert hpf(0x0, VMALLOC_ADDR, False, extable_fixup=True).outcome is Outcome.EXTABLE_FIXUP
    # PROT or RSVD set -> never a vmalloc sync
    assert hpf(0x1, VMALLOC_ADDR, False, kernel_ref_present=True).outcome is Outcome.OOPS
    assert hpf(0x9, VMALLOC_ADDR, False, kernel_ref_present=True).outcome is Outcome.OOPS
    # x86-64 has no vmalloc faults
    addr64 = 0xFFFFC90000000000
    assert hpf(0x0, addr64, False, arch=X86_64, kernel_ref_present=True).outcome is Outcome.OOPS


def test_2611_vmalloc_fault_any_kernel_address():
    d = hpf(0x0, KERNEL_LOWMEM, False, "2.6.11", kernel_ref_present=True)
    assert d.outcome is Outcome.VMALLOC_SYNC
    d = hpf(0x2, VMALLOC_ADDR, False, "2.6.11")
    assert d.outcome is Outcome.OOPS and d.path[-2:] == ("no_context", "die")
    assert hpf(0x2, VMALLOC_ADDR, False, "2.6.11", extable_fixup=True).outcome is \
        Outcome.EXTABLE_FIXUP


# --- stack expansion ------------------------------------------------------------------------

def test_stack_expansion_modern():
    below = STACK.start - 0x1000
    d = hpf(0x6, below, True, vma=STACK)
    assert d.outcome is Outcome.DEMAND_ALLOC and d.stack_expanded
    assert "expand_stack_locked" in d.path
    # far below %esp is fine in modern kernels
    d = hpf(0x6, below, True, vma=STACK, sp=STACK.start + 0x10000)
    assert d.outcome is Outcome.DEMAND_ALLOC and d.stack_expanded
    # expansion refused (rlimit / guard gap) -> SIGSEGV MAPERR
    d = hpf(0x6, below, True, vma=STACK, stack_expand_ok=False)
    assert (d.outcome, d.si_code, d.stack_expanded) == (Outcome.SIGSEGV, SiCode.SEGV_MAPERR, False)
    # not VM_GROWSDOWN -> MAPERR
    assert hpf(0x6, HEAP.start - 0x1000, True, vma=HEAP).si_code is SiCode.SEGV_MAPERR
    # kernel-mode fault below the stack: expansion only with an exception-table entry
    assert hpf(0x2, below, False, vma=STACK).outcome is Outcome.OOPS
    d = hpf(0x2, below, False, vma=STACK, extable_fixup=True)
    assert d.outcome is Outcome.DEMAND_ALLOC and d.stack_expanded


def test_stack_expansion_then_access_error_is_accerr():
    stack_ro = Vma(0xBF000000, 0xC0000000, VM_READ | VM_GROWSDOWN)
    d = hpf(0x6, stack_ro.start - 0x1000, True, vma=stack_ro)
    assert (d.outcome, d.si_code, d.stack_expanded) == (Outcome.SIGSEGV, SiCode.SEGV_ACCERR, True)


def test_2611_esp_rule():
    below = STACK.start - 0x1000
    ok = hpf(0x6, below, True, "2.6.11", vma=STACK, sp=below + 32)
    assert ok.outcome is Outcome.DEMAND_ALLOC and ok.stack_expanded
    bad = hpf(0x6, below, True, "2.6.11", vma=STACK, sp=below + 33)
    assert (bad.outcome, bad.si_code) == (Outcome.SIGSEGV, SiCode.SEGV_MAPERR)
    # the rule only applies to user-mode faults (error_code & 4)
    kern = hpf(0x2, below, False, "2.6.11", vma=STACK, sp=below + 0x10000)
    assert kern.outcome is Outcome.DEMAND_ALLOC
    # and the modern handler has no such rule
    assert hpf(0x6, below, True, vma=STACK, sp=below + 33).outcome is Outcome.DEMAND_ALLOC
    assert hpf(0x6, below, True, "2.6.11", vma=STACK,
               stack_expand_ok=False).si_code is SiCode.SEGV_MAPERR
    assert hpf(0x6, HEAP.start - 0x1000, True, "2.6.11", vma=HEAP).si_code is SiCode.SEGV_MAPERR


# --- signals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("era", ["modern", "2.6.11"])
def test_sigsegv_maperr_no_vma(era):
    d = hpf(0x4, 0x1000, True, era)
    assert (d.outcome, d.signal, d.si_code, d.reported_error_code) == \
        (Outcome.SIGSEGV, Signal.SIGSEGV, SiCode.SEGV_MAPERR, 0x4)


@pytest.mark.parametrize("era", ["modern", "2.6.11"])
def test_write_to_read_only_mapping_is_accerr(era):
    d = hpf(0x7, RO.start, True, era, vma=RO, pte=PteState.PRESENT_RO_EXCLUSIVE)
    assert (d.outcome, d.si_code, d.reported_error_code) == \
        (Outcome.SIGSEGV, SiCode.SEGV_ACCERR, 0x7)
    d = hpf(0x6, RO.start, True, era, vma=RO)
    assert d.si_code is SiCode.SEGV_ACCERR


@pytest.mark.parametrize("era", ["modern", "2.6.11"])
def test_user_access_to_kernel_address_reports_sanitized_code(era):
    d = hpf(0x4, KERNEL_LOWMEM, True, era)
    assert (d.outcome, d.si_code, d.reported_error_code) == \
        (Outcome.SIGSEGV, SiCode.SEGV_MAPERR, 0x5)
    d = hpf(0x6, 0xC0000000, True, era)
    assert d.reported_error_code == 0x7


def test_prot_none_and_read_protection():
    assert hpf(0x4, NOACCESS.start, True, vma=NOACCESS).si_code is SiCode.SEGV_ACCERR
    assert hpf(0x5, HEAP.start, True, vma=HEAP).si_code is SiCode.SEGV_ACCERR
    # NX: a fetch from a present non-exec page
    assert hpf(0x15, HEAP.start, True, vma=HEAP).si_code is SiCode.SEGV_ACCERR
    # x86 does not check VM_EXEC for a not-present fetch (the PTE gets NX)
    assert hpf(0x14, HEAP.start, True, vma=HEAP).outcome is Outcome.DEMAND_ZERO_PAGE
    # 2.6.11: read not present needs VM_READ|VM_EXEC; VM_WRITE alone is not enough
    wonly = Vma(0x08080000, 0x08081000, VM_WRITE)
    assert hpf(0x4, wonly.start, True, "2.6.11", vma=wonly).si_code is SiCode.SEGV_ACCERR
    assert hpf(0x4, wonly.start, True, vma=wonly).outcome is Outcome.DEMAND_ZERO_PAGE
    assert hpf(0x5, HEAP.start, True, "2.6.11", vma=HEAP).si_code is SiCode.SEGV_ACCERR


def test_pkey_faults_are_pkuerr():
    d = hpf(0x25, HEAP.start, True, vma=HEAP, pte=PteState.PRESENT_WRITE)
    assert (d.outcome, d.si_code) == (Outcome.SIGSEGV, SiCode.SEGV_PKUERR)
    d = hpf(0x6, HEAP.start, True, vma=HEAP, vma_pkey_denies=True)
    assert d.si_code is SiCode.SEGV_PKUERR
    assert d.si_code.number == 4 and SiCode.SEGV_ACCERR.number == 2


def test_sgx_is_accerr():
    assert hpf(0x8005, HEAP.start, True, vma=HEAP).si_code is SiCode.SEGV_ACCERR


def test_shadow_stack_rules():
    shstk = Vma(0x7F000000, 0x7F001000, VM_READ | VM_WRITE | VM_SHADOW_STACK)
    assert hpf(0x46, shstk.start, True, vma=shstk).outcome is Outcome.DEMAND_ALLOC
    assert hpf(0x44, shstk.start, True, vma=shstk).outcome is Outcome.DEMAND_ALLOC  # SS = write
    assert hpf(0x46, HEAP.start, True, vma=HEAP).si_code is SiCode.SEGV_ACCERR
    assert hpf(0x6, shstk.start, True, vma=shstk).si_code is SiCode.SEGV_ACCERR


@pytest.mark.parametrize("era,mm_fault,outcome,si", [
    ("modern", VmFault.SIGBUS, Outcome.SIGBUS, SiCode.BUS_ADRERR),
    ("modern", VmFault.HWPOISON, Outcome.SIGBUS, SiCode.BUS_MCEERR_AR),
    ("modern", VmFault.SIGSEGV, Outcome.SIGSEGV, SiCode.SEGV_MAPERR),
    ("modern", VmFault.OOM, Outcome.OOM_KILL, None),
    ("2.6.11", VmFault.SIGBUS, Outcome.SIGBUS, SiCode.BUS_ADRERR),
    ("2.6.11", VmFault.OOM, Outcome.OOM_KILL, None),
])
def test_handle_mm_fault_errors_user(era, mm_fault, outcome, si):
    d = hpf(0x6, HEAP.start, True, era, vma=HEAP, mm_fault=mm_fault)
    assert (d.outcome, d.si_code) == (outcome, si)
    if outcome is Outcome.SIGBUS:
        assert d.signal is Signal.SIGBUS and d.reported_error_code == 0x6
    if outcome is Outcome.OOM_KILL:
        assert d.signal is (Signal.SIGKILL if era == "2.6.11" else None)


@pytest.mark.parametrize("era", ["modern", "2.6.11"])
@pytest.mark.parametrize("mm_fault", [VmFault.SIGBUS, VmFault.OOM])
def test_handle_mm_fault_errors_kernel(era, mm_fault):
    assert hpf(0x2, HEAP.start, False, era, vma=HEAP, mm_fault=mm_fault).outcome is Outcome.OOPS
    assert hpf(0x2, HEAP.start, False, era, vma=HEAP, mm_fault=mm_fault,
               extable_fixup=True).outcome is Outcome.EXTABLE_FIXUP


# --- kernel-mode dead ends ------------------------------------------------------------------

@pytest.mark.parametrize("era", ["modern", "2.6.11"])
def test_null_dereference_oops_and_fixup(era):
    d = hpf(0x0, 0x0, False, era)
    assert (d.outcome, d.signal) == (Outcome.OOPS, Signal.SIGKILL)
    assert hpf(0x0, 0x0, False, era, extable_fixup=True).outcome is Outcome.EXTABLE_FIXUP


@pytest.mark.parametrize("era", ["modern", "2.6.11"])
def test_atomic_context_or_no_mm(era):
    for kw in ({"faulthandler_disabled": True}, {"has_mm": False}):
        assert hpf(0x2, HEAP.start, False, era, vma=HEAP, **kw).outcome is Outcome.OOPS
        assert hpf(0x2, HEAP.start, False, era, vma=HEAP, extable_fixup=True,
                   **kw).outcome is Outcome.EXTABLE_FIXUP
        d = hpf(0x6, HEAP.start, True, era, vma=HEAP, **kw)
        assert (d.outcome, d.si_code) == (Outcome.SIGSEGV, SiCode.SEGV_MAPERR)


def test_kernel_executing_user_memory_oopses_even_with_fixup():
    d = hpf(0x11, HEAP.start, False, vma=HEAP, extable_fixup=True)
    assert d.outcome is Outcome.OOPS and d.path == ("do_user_addr_fault", "page_fault_oops")


def test_rsvd_on_user_address_is_bad_pagetable():
    d = hpf(0xD, HEAP.start, True, vma=HEAP)
    assert (d.outcome, d.signal) == (Outcome.BAD_PAGETABLE, Signal.SIGKILL)
    # 2.6.11 had no such check: a present read fault -> ACCERR
    assert hpf(0xD, HEAP.start, True, "2.6.11", vma=HEAP).si_code is SiCode.SEGV_ACCERR


def test_smap():
    assert hpf(0x2, HEAP.start, False, vma=HEAP, smap=True,
               extable_fixup=True).outcome is Outcome.OOPS
    assert hpf(0x2, HEAP.start, False, vma=HEAP, smap=True, eflags_ac=True,
               extable_fixup=True).outcome is Outcome.DEMAND_ALLOC
    assert hpf(0x6, HEAP.start, True, vma=HEAP, smap=True).outcome is Outcome.DEMAND_ALLOC


def test_implicit_supervisor_access_from_user_mode_oopses():
    assert hpf(0x1, KERNEL_LOWMEM, True).outcome is Outcome.OOPS
    assert hpf(0x0, 0x1000, True).outcome is Outcome.OOPS


def test_2611_decides_mode_from_error_code_not_regs():
    # user_mode is ignored by 2.6.11: U/S clear means kernel for do_page_fault
    assert hpf(0x0, 0x1000, True, "2.6.11").outcome is Outcome.OOPS
    assert hpf(0x4, 0x1000, False, "2.6.11").outcome is Outcome.SIGSEGV


# --- access_error ---------------------------------------------------------------------------

@pytest.mark.parametrize("code,flags,err", [
    (0x20, RW, True), (0x8000, RW, True),
    (0x40, VM_READ | VM_WRITE | VM_SHADOW_STACK, False), (0x40, RW, True),
    (0x40, VM_READ | VM_SHADOW_STACK, True),
    (0x2, RW, False), (0x2, VM_READ, True), (0x2, RW | VM_SHADOW_STACK, True),
    (0x3, RW, False), (0x1, RW, True), (0x0, VM_EXEC, False), (0x0, VM_WRITE, False),
    (0x0, 0, True), (0x10, VM_READ, False), (0x11, VM_READ | VM_EXEC, True),
])
def test_access_error(code, flags, err):
    assert access_error(code, Vma(0, 0x1000, flags)) is err


def test_calc_vm_prot_bits():
    assert calc_vm_prot_bits(0) == 0
    assert calc_vm_prot_bits(0x3) == VM_READ | VM_WRITE
    assert calc_vm_prot_bits(0x7) == VM_READ | VM_WRITE | VM_EXEC
    with pytest.raises(InvalidArgument):
        calc_vm_prot_bits(0x8)


# --- validation -----------------------------------------------------------------------------

def test_invalid_inputs():
    with pytest.raises(InvalidArgument, match="undefined bits"):
        hpf(0x100, 0, False)
    with pytest.raises(InvalidArgument, match="32-bit address"):
        hpf(0, 1 << 32, False)
    with pytest.raises(InvalidArgument, match="find_vma"):
        hpf(0x4, 0x09000000, True, vma=HEAP)
    with pytest.raises(InvalidArgument, match="TASK_SIZE_MAX"):
        hpf(0x4, 0x1000, True, vma=Vma(0xBFF00000, 0xC0100000, RW))
    with pytest.raises(InvalidArgument, match="never returns"):
        hpf(0x6, HEAP.start, True, "2.6.11", vma=HEAP, mm_fault=VmFault.HWPOISON)
    with pytest.raises(InvalidArgument, match="word_bits 32"):
        hpf(0x4, 0x1000, True, "2.6.11", arch=X86_64)
    with pytest.raises(InvalidArgument, match="unknown era"):
        hpf(0x4, 0x1000, True, "2.4")
    with pytest.raises(InvalidArgument, match="page aligned"):
        Vma(0x1001, 0x2000, RW)
    with pytest.raises(InvalidArgument, match="vm_flags"):
        Vma(0x1000, 0x2000, 0x8)  # VM_SHARED is not modelled
    with pytest.raises(InvalidArgument):
        FaultArch(16, 0x1000)
    with pytest.raises(InvalidArgument):
        FaultArch(32, 1 << 32)


def test_fault_arch_from_layout():
    assert (X86_32.task_size_max, X86_32.vmalloc_start, X86_32.vmalloc_end) == \
        (0xC0000000, 0xF7BFE000, 0xFF3FE000)  # modern (default)
    old = FaultArch.x86_32("3G", "2.6.11")
    assert (old.task_size_max, old.vmalloc_start, old.vmalloc_end) == \
        (0xC0000000, 0xF8800000, 0xFF7FE000)
    one_g = FaultArch.x86_32("1G")
    assert one_g.task_size_max == 0x40000000
    assert X86_64.task_size_max == 0x7FFFFFFFF000


# --- kernel log ------------------------------------------------------------------------------

def test_kernel_log_modern_and_2611():
    d = hpf(0x0, 0x0, False)
    assert kernel_log(d, 0x0, 0x0, False) == (
        "BUG: kernel NULL pointer dereference, address: 00000000",
        "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page",
        "CR2: 0000000000000000")
    d = hpf(0x4, KERNEL_LOWMEM, True)
    assert kernel_log(d, 0x4, KERNEL_LOWMEM, True, comm="cat", pid=7, ip=0x8048000,
                      sp=0xBFFFF000) == (
        "cat[7]: segfault at c8000000 ip 08048000 sp bffff000 error 5"
        " likely on CPU 0 (core 0, socket 0)",)
    assert kernel_log(d, 0x4, KERNEL_LOWMEM, True, comm="cat", pid=7, ip=0x8048000,
                      sp=0xBFFFF000, kernel="5.10") == (
        "cat[7]: segfault at c8000000 ip 08048000 sp bffff000 error 5",)
    d = hpf(0xD, HEAP.start, True, vma=HEAP)
    assert kernel_log(d, 0xD, HEAP.start, True) == \
        ("a.out: Corrupted page table at address 8050000",)
    d = hpf(0x0, 0x0, False, "2.6.11")
    assert kernel_log(d, 0x0, 0x0, False) == \
        ("Unable to handle kernel NULL pointer dereference at virtual address 00000000",)
    d = hpf(0x6, HEAP.start, True, "2.6.11", vma=HEAP, mm_fault=VmFault.OOM)
    assert kernel_log(d, 0x6, HEAP.start, True, comm="big") == ("VM: killing process big",)
    assert kernel_log(hpf(0x4, 0x1000, True, "2.6.11"), 0x4, 0x1000, True) == ()
    assert kernel_log(hpf(0x6, HEAP.start, True, vma=HEAP), 0x6, HEAP.start, True) == ()


# --- properties: total, deterministic, consistent -------------------------------------------

CODES = st.integers(0, 0x7F).map(lambda c: c & ~0x80) | st.sampled_from([0x8005, 0x8007])
ADDRS = st.sampled_from([0x0, 0x0804F000, HEAP.start, HEAP.start + 0x10, STACK.start - 0x1000,
                         0xBFFFFFFF, 0xC0000000, KERNEL_LOWMEM, VMALLOC_ADDR, 0xFFFFF000])
VMAS = st.sampled_from([None, HEAP, RO, NOACCESS, STACK,
                        Vma(0xB0000000, 0xC0000000, VM_READ | VM_GROWSDOWN)])
SITUATIONS = st.builds(
    FaultSituation, vma=VMAS, pte=st.sampled_from(list(PteState)), extable_fixup=st.booleans(),
    faulthandler_disabled=st.booleans(), has_mm=st.booleans(), smap=st.booleans(),
    eflags_ac=st.booleans(), sp=st.sampled_from([None, 0, STACK.start - 0x800, 0xBFFFFFF0]),
    stack_expand_ok=st.booleans(), vma_pkey_denies=st.booleans(),
    kernel_ref_present=st.booleans(), kernel_pte_allows=st.booleans(),
    mm_fault=st.sampled_from(list(VmFault)))


@settings(max_examples=800, deadline=None)
@given(code=CODES, addr=ADDRS, user_mode=st.booleans(), s=SITUATIONS,
       era=st.sampled_from(["modern", "2.6.11"]))
def test_decision_is_total_deterministic_and_consistent(code, addr, user_mode, s, era):
    if s.vma is not None and s.vma.end <= addr:
        s = FaultSituation(**{**s.__dict__, "vma": None})
    if era == "2.6.11" and s.mm_fault in (VmFault.HWPOISON, VmFault.SIGSEGV):
        with pytest.raises(InvalidArgument):
            handle_page_fault(code, addr, user_mode, s, X86_32, era)
        return
    d = handle_page_fault(code, addr, user_mode, s, X86_32, era)
    assert d == handle_page_fault(code, addr, user_mode, s, X86_32, era)
    assert isinstance(d.outcome, Outcome)
    assert d.era.value == era
    # signal and si_code agree with the outcome
    if d.outcome is Outcome.SIGSEGV:
        assert d.signal is Signal.SIGSEGV and d.si_code.value[0] is Signal.SIGSEGV
        assert d.reported_error_code is not None
        assert d.reported_error_code & 0x1 or addr < 0xC0000000
        assert d.reported_error_code & ~0x1 == code & ~0x1
    elif d.outcome is Outcome.SIGBUS:
        assert d.signal is Signal.SIGBUS and d.si_code.value[0] is Signal.SIGBUS
    else:
        assert d.si_code is None and d.reported_error_code is None
    if d.outcome in (Outcome.OOPS, Outcome.BAD_PAGETABLE):
        assert d.signal is Signal.SIGKILL
    if d.outcome in RESOLVED:
        assert d.signal is None
    # a fixup only when there is an exception-table entry; kernel space resolves only by sync
    if d.outcome is Outcome.EXTABLE_FIXUP:
        assert s.extable_fixup
    if addr >= 0xC0000000:
        assert d.outcome not in RESOLVED - {Outcome.VMALLOC_SYNC, Outcome.SPURIOUS}
        assert not d.stack_expanded
    if d.stack_expanded:
        assert s.vma is not None and s.vma.start > addr and s.vma.flags & VM_GROWSDOWN
    # signals go to user mode (2.6.11: as the error code says)
    user = bool(code & 0x4) if era == "2.6.11" else user_mode
    if d.outcome in (Outcome.SIGSEGV, Outcome.SIGBUS):
        assert user
    if d.outcome is Outcome.VMALLOC_SYNC:
        assert s.kernel_ref_present and not code & 0x5
