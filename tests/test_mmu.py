"""The MMU model: scripted scenarios that reach every outcome the fault spec names."""

from __future__ import annotations

import pytest

from kmem.model import Machine, api
from kmem.model.mmu import (
    GFP_ANON,
    MAP_ANONYMOUS,
    MAP_GROWSDOWN,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Mm,
    vmalloc,
)
from kmem.spec import gfp
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import InvalidArgument
from kmem.spec.fault_handler import Outcome, SiCode, Signal
from kmem.spec.x86_fault import Access
from kmem.spec.zones import ZoneType

RW = PROT_READ | PROT_WRITE
REACHED: set[Outcome] = set()


def record(result):
    REACHED.update(result.outcomes)
    return result


@pytest.fixture
def m32():
    return Machine.x86_32(mem_mb=1024)


@pytest.fixture
def mm(m32):
    return Mm(m32, comm="test", pid=42)


def test_gfp_anon_is_the_trace_flag_combination():
    assert GFP_ANON == gfp.GFP_HIGHUSER_MOVABLE | gfp.__GFP_ZERO == 0x100DCA


def test_read_maps_the_shared_zero_page(m32, mm):
    a = mm.mmap(None, 2 * PAGE_SIZE, RW)
    r = record(mm.read(a, 4))
    assert r.ok and r.data == b"\0\0\0\0" and r.outcomes == (Outcome.DEMAND_ZERO_PAGE,)
    assert r.faults[0].error_code == 0x4
    zero = m32.zero_page()
    assert mm.page_at(a) is zero
    assert record(mm.read(a + PAGE_SIZE)).ok
    assert mm.page_at(a + PAGE_SIZE) is zero  # shared, never refcounted per mapping
    assert api.page_count(m32, zero) == 1
    assert mm.read(a).faults == ()  # no second fault


def test_write_demand_allocates_zeroed_highuser_page(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, RW)
    free_before = m32.free_pages_total
    r = record(mm.write(a + 8, b"kmem"))
    assert r.ok and r.outcomes == (Outcome.DEMAND_ALLOC,) and r.faults[0].error_code == 0x6
    page = mm.page_at(a)
    assert api.page_zone(m32, page) is ZoneType.HIGHMEM  # GFP_HIGHUSER_MOVABLE on 1 GB
    assert api.page_count(m32, page) == 1
    assert m32.free_pages_total == free_before - 1
    assert m32.read_page(page.pfn, 0, 12) == b"\0" * 8 + b"kmem"
    assert mm.read(a + 8, 4).data == b"kmem"


def test_write_after_read_copies_the_zero_page(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, RW)
    mm.read(a)
    r = record(mm.write(a, b"x"))
    assert r.outcomes == (Outcome.COW_COPY,) and r.faults[0].error_code == 0x7
    assert mm.page_at(a) is not m32.zero_page()
    assert m32.read_page(m32.zero_page().pfn, 0, 1) == b"\0"


def test_cow_after_fork(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, RW)
    mm.write(a, b"parent")
    page = mm.page_at(a)
    child = mm.fork()
    assert api.page_count(m32, page) == 2 and child.page_at(a) is page
    r = record(child.write(a, b"CHILD!"))
    assert r.ok and r.outcomes == (Outcome.COW_COPY,) and r.faults[0].error_code == 0x7
    assert child.page_at(a) is not page
    assert child.read(a, 6).data == b"CHILD!" and mm.read(a, 6).data == b"parent"
    assert api.page_count(m32, page) == 1  # the child's reference was dropped
    # the parent's page is exclusive again: reuse, no copy
    free = m32.free_pages_total
    r = record(mm.write(a, b"P"))
    assert r.outcomes == (Outcome.COW_REUSE,) and mm.page_at(a) is page
    assert m32.free_pages_total == free


def test_exit_frees_everything(m32, mm):
    m32.zero_page()  # created once, never freed
    free = m32.free_pages_total
    a = mm.mmap(None, 5 * PAGE_SIZE, RW)
    for i in range(4):
        mm.write(a + i * PAGE_SIZE, b"z")
    mm.read(a + 4 * PAGE_SIZE)  # the zero page
    child = mm.fork()
    child.write(a, b"c")
    assert m32.free_pages_total == free - 5
    child.exit_mmap()
    mm.exit_mmap()
    assert m32.free_pages_total == free
    assert not m32.check_invariants()


def test_munmap_splits_and_frees(m32, mm):
    a = mm.mmap(None, 3 * PAGE_SIZE, RW)
    for i in range(3):
        mm.write(a + i * PAGE_SIZE, b"z")
    free = m32.free_pages_total
    mm.munmap(a + PAGE_SIZE, PAGE_SIZE)
    assert m32.free_pages_total == free + 1
    assert [(v.start, v.end) for v in mm.vmas] == [(a, a + PAGE_SIZE),
                                                   (a + 2 * PAGE_SIZE, a + 3 * PAGE_SIZE)]
    r = record(mm.read(a + PAGE_SIZE))
    assert (r.ok, r.signal, r.si_code) == (False, Signal.SIGSEGV, SiCode.SEGV_MAPERR)
    assert m32.dmesg[-1] == (f"test[42]: segfault at {a + PAGE_SIZE:x} ip 00000000 sp 00000000 "
                             f"error 4 likely on CPU 0 (core 0, socket 0)")


def test_stack_growth(m32, mm):
    top = 0xC0000000
    base = mm.mmap(top - 2 * PAGE_SIZE, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS |
                   MAP_GROWSDOWN)
    below = base - 3 * PAGE_SIZE + 16
    r = record(mm.write(below, b"s", sp=below))
    assert r.ok and r.outcomes == (Outcome.DEMAND_ALLOC,) and r.faults[0].decision.stack_expanded
    assert mm.vmas[0].start == base - 3 * PAGE_SIZE
    # beyond RLIMIT_STACK: SIGSEGV, the VMA unchanged
    small = Mm(m32, rlimit_stack=4 * PAGE_SIZE)
    small.mmap(top - PAGE_SIZE, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN)
    r = small.write(top - 5 * PAGE_SIZE, b"s")
    assert (r.signal, r.si_code) == (Signal.SIGSEGV, SiCode.SEGV_MAPERR)
    assert small.vmas[0].start == top - PAGE_SIZE


def test_stack_guard_gap_modern_only(m32):
    top = 0xC0000000
    for era, ok in (("modern", False), ("2.6.11", True)):
        mm = Mm(m32, era=era)
        mm.mmap(top - PAGE_SIZE, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN)
        mm.mmap(top - 0x100000, PAGE_SIZE, RW)  # a mapping 1 MB below the stack top
        r = mm.write(top - 0x80000, b"s")  # inside the 1 MB stack_guard_gap
        assert r.ok is ok


def test_2611_esp_rule_in_the_model(m32):
    mm = Mm(m32, era="2.6.11")
    top = 0xC0000000
    mm.mmap(top - PAGE_SIZE, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN)
    addr = top - 2 * PAGE_SIZE
    r = record(mm.write(addr, b"x", sp=addr + 64))
    assert (r.signal, r.si_code) == (Signal.SIGSEGV, SiCode.SEGV_MAPERR)
    assert r.faults[0].decision.path[-1] == "force_sig_info"
    assert m32.dmesg == []  # 2.6.11 i386 printed no segfault line
    assert mm.write(addr, b"x", sp=addr + 32).ok


def test_write_to_read_only_mapping(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, PROT_READ)
    mm.read(a)
    r = record(mm.write(a, b"w"))
    assert (r.ok, r.signal, r.si_code) == (False, Signal.SIGSEGV, SiCode.SEGV_ACCERR)
    assert r.faults[0].error_code == 0x7 and r.faults[0].decision.reported_error_code == 0x7
    assert m32.dmesg[-1] == (f"test[42]: segfault at {a:x} ip 00000000 sp 00000000 error 7"
                             f" likely on CPU 0 (core 0, socket 0)")
    n = mm.mmap(None, PAGE_SIZE, PROT_NONE)
    assert record(mm.read(n)).si_code is SiCode.SEGV_ACCERR


def test_fetch_from_non_exec_memory(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, RW)
    r = record(mm.access(a, Access.FETCH))
    # not present: the page is faulted in (with NX), the retried fetch hits NX
    assert r.outcomes == (Outcome.DEMAND_ZERO_PAGE, Outcome.SIGSEGV)
    assert [f.error_code for f in r.faults] == [0x14, 0x15]
    assert r.si_code is SiCode.SEGV_ACCERR
    x = mm.mmap(None, PAGE_SIZE, PROT_READ | PROT_EXEC)
    assert mm.access(x, "fetch").ok


def test_user_access_to_kernel_address_sanitized(m32, mm):
    r = record(mm.read(0xF8000000))  # the VMALLOC_OFFSET gap: not mapped
    assert r.faults[0].error_code == 0x4
    assert (r.signal, r.si_code) == (Signal.SIGSEGV, SiCode.SEGV_MAPERR)
    assert r.faults[0].decision.reported_error_code == 0x5
    assert m32.dmesg[-1] == ("test[42]: segfault at f8000000 ip 00000000 sp 00000000 error 5"
                             " likely on CPU 0 (core 0, socket 0)")
    # the direct map is present but supervisor-only: a protection fault, also code 5
    r = mm.read(0xC0001000)
    assert r.faults[0].error_code == 0x5 and r.faults[0].decision.reported_error_code == 0x5


def test_kernel_null_dereference_oops(m32, mm):
    r = record(mm.read(0x0, mode="kernel"))
    assert (r.ok, r.outcome, r.signal) == (False, Outcome.OOPS, Signal.SIGKILL)
    assert m32.dmesg[-4:] == [
        "BUG: kernel NULL pointer dereference, address: 00000000",
        "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page",
        "CR2: 0000000000000000"]
    mm26 = Mm(m32, era="2.6.11")
    record(mm26.write(0x10, b"x", mode="kernel"))
    assert m32.dmesg[-1] == \
        "Unable to handle kernel NULL pointer dereference at virtual address 00000010"


def test_copy_from_user_bad_pointer_is_efault(m32, mm):
    r = record(mm.read(0x1000, mode="kernel", extable=True))
    assert (r.ok, r.outcome, r.errno, r.signal) == (False, Outcome.EXTABLE_FIXUP, -14, None)
    # a good pointer is demand-paged for the kernel, too
    a = mm.mmap(None, PAGE_SIZE, RW)
    assert mm.write(a, b"k", mode="kernel", extable=True).outcomes == (Outcome.DEMAND_ALLOC,)
    # atomic context: no paging at all, -EFAULT
    b = mm.mmap(None, PAGE_SIZE, RW)
    assert mm.write(b, b"k", mode="kernel", extable=True, atomic=True).errno == -14


def test_smap(m32):
    mm = Mm(m32, smap=True)
    a = mm.mmap(None, PAGE_SIZE, RW)
    mm.write(a, b"u")
    r = mm.read(a, mode="kernel", extable=True)
    assert r.faults[0].error_code == 0x1 and r.outcome is Outcome.OOPS
    assert mm.read(a, mode="kernel", extable=True, eflags_ac=True).ok


def test_swap_out_and_in(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, RW)
    mm.write(a, b"swapme")
    free = m32.free_pages_total
    mm.swap_out(a)
    assert m32.free_pages_total == free + 1 and mm.page_at(a) is None
    r = record(mm.read(a, 6))
    assert r.ok and r.outcomes == (Outcome.SWAP_IN,) and r.data == b"swapme"
    # read swap-in maps it read-only; the write then reuses the exclusive page
    assert record(mm.write(a, b"S")).outcomes == (Outcome.COW_REUSE,)
    with pytest.raises(InvalidArgument, match="shared"):
        mm.fork().swap_out(a)


def test_spurious_fault_from_a_stale_tlb_entry(m32, mm):
    """Two threads: CPU 0's write upgrades the PTE with a local flush only."""
    a = mm.mmap(None, PAGE_SIZE, RW)
    mm.write(a, b"t")
    mm.swap_out(a)
    mm.read(a, cpu=0)  # swap-in: read-only, exclusive
    assert mm.read(a, cpu=1).ok  # CPU 1 caches the read-only translation
    assert mm.write(a, b"0", cpu=0).outcomes == (Outcome.COW_REUSE,)
    r = record(mm.write(a, b"1", cpu=1))
    assert r.ok and r.outcomes == (Outcome.SPURIOUS,) and r.faults[0].error_code == 0x7
    assert mm.write(a, b"1", cpu=1).faults == ()  # flushed: no second fault
    assert mm.read(a, cpu=0).data == b"1"


def test_vmalloc_sync(m32, mm):
    v = vmalloc(m32, 2)
    assert 0xF7BFE000 <= v < 0xFF3FE000  # modern VMALLOC_START .. VMALLOC_END (1 GB machine)
    r = record(mm.read(v, mode="kernel"))
    assert r.ok and r.outcomes == (Outcome.VMALLOC_SYNC,) and r.faults[0].error_code == 0x0
    assert mm.read(v + PAGE_SIZE, mode="kernel").faults == ()  # same pmd: already synced
    # the 2.6.11 profile syncs the same way
    mm26 = Mm(m32, era="2.6.11")
    assert mm26.write(v, b"v", mode="kernel").outcomes == (Outcome.VMALLOC_SYNC,)
    assert mm.read(v, mode="kernel").data == b"v"  # the same page behind it
    # a vmalloc address nothing maps: oops
    assert mm.read(v + 2 * PAGE_SIZE, mode="kernel").outcome is Outcome.OOPS


def test_bad_pagetable(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, RW)
    mm.write(a, b"r")
    mm.corrupt_pte(a)
    r = record(mm.read(a))
    assert (r.outcome, r.signal) == (Outcome.BAD_PAGETABLE, Signal.SIGKILL)
    assert r.faults[0].error_code == 0xD
    assert m32.dmesg[-1] == f"test: Corrupted page table at address {a:x}"


def test_hwpoison_sigbus(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, RW)
    mm.write(a, b"p")
    mm.memory_failure(a)
    r = record(mm.read(a))
    assert (r.outcome, r.signal, r.si_code) == (Outcome.SIGBUS, Signal.SIGBUS,
                                               SiCode.BUS_MCEERR_AR)
    with pytest.raises(InvalidArgument, match="2.6.32"):
        Mm(m32, era="2.6.11").memory_failure(a)


def test_oom_when_memory_runs_out():
    m = Machine.x86_32(mem_mb=32)
    while api.alloc_pages(m, gfp.GFP_HIGHUSER_MOVABLE, 0) is not None:
        pass
    mm = Mm(m)
    a = mm.mmap(None, PAGE_SIZE, RW)
    r = record(mm.write(a, b"x"))
    assert (r.ok, r.outcome) == (False, Outcome.OOM_KILL)
    assert mm.page_at(a) is None
    k = mm.write(a, b"x", mode="kernel")
    assert k.outcome is Outcome.OOPS
    mm26 = Mm(m, era="2.6.11", comm="hog")
    r = mm26.write(a, b"x") if mm26.mmap(a, PAGE_SIZE, RW) else None
    assert (r.outcome, r.signal) == (Outcome.OOM_KILL, Signal.SIGKILL)
    assert m.dmesg[-1] == "VM: killing process hog"


def test_protection_keys_x86_64():
    m = Machine.x86_64(mem_mb=256)
    mm = Mm(m)
    a = mm.mmap(None, PAGE_SIZE, RW)
    mm.write(a, b"k")
    mm.mprotect(a, PAGE_SIZE, RW, pkey=3)
    mm.pkru = 1 << (2 * 3 + 1)  # WD for key 3
    assert mm.read(a).ok
    r = record(mm.write(a, b"k"))
    assert (r.signal, r.si_code) == (Signal.SIGSEGV, SiCode.SEGV_PKUERR)
    assert r.faults[0].error_code == 0x27
    mm.pkru = 0
    assert mm.write(a, b"k").ok
    with pytest.raises(InvalidArgument, match="x86-64 only"):
        Mm(Machine.x86_32(mem_mb=64)).mprotect(a, PAGE_SIZE, RW, pkey=1)


def test_mprotect_write_protects_and_splits(m32, mm):
    a = mm.mmap(None, 2 * PAGE_SIZE, RW)
    mm.write(a, b"m")
    mm.mprotect(a, PAGE_SIZE, PROT_READ)
    assert len(mm.vmas) == 2
    assert mm.write(a, b"m").si_code is SiCode.SEGV_ACCERR
    mm.mprotect(a, PAGE_SIZE, RW)
    assert mm.write(a, b"m").outcomes == (Outcome.COW_REUSE,)
    with pytest.raises(InvalidArgument, match="not fully mapped"):
        mm.mprotect(a, 3 * PAGE_SIZE, RW)


def test_mmap_errors(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, RW)
    with pytest.raises(InvalidArgument, match="overlaps"):
        mm.mmap(a, PAGE_SIZE, RW)
    with pytest.raises(InvalidArgument, match="page aligned"):
        mm.mmap(a + 1 + PAGE_SIZE, PAGE_SIZE, RW)
    with pytest.raises(InvalidArgument, match="outside user space"):
        mm.mmap(0xBFFFF000, 2 * PAGE_SIZE, RW)
    with pytest.raises(InvalidArgument, match="MAP_PRIVATE"):
        mm.mmap(None, PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS)
    with pytest.raises(InvalidArgument):
        mm.mmap(None, 0, RW)
    with pytest.raises(InvalidArgument):
        mm.mmap(None, PAGE_SIZE, 0x8)
    with pytest.raises(InvalidArgument):
        mm.munmap(a + 1, PAGE_SIZE)
    with pytest.raises(InvalidArgument, match="one page"):
        mm.read(a + PAGE_SIZE - 1, 2)
    with pytest.raises(InvalidArgument, match="mode"):
        mm.access(a, "read", "hypervisor")
    with pytest.raises(InvalidArgument):
        mm.read(1 << 32)
    with pytest.raises(InvalidArgument, match="x86-32"):
        Mm(Machine.x86_64(mem_mb=64), era="2.6.11")
    with pytest.raises(InvalidArgument, match="x86-32"):
        vmalloc(Machine.x86_64(mem_mb=64), 1)


def test_failed_access_leaves_state_unchanged(m32, mm):
    a = mm.mmap(None, PAGE_SIZE, PROT_READ)
    before = (list(mm.vmas), dict(mm.ptes), m32.free_pages_total)
    mm.write(a, b"x")
    assert (list(mm.vmas), dict(mm.ptes), m32.free_pages_total) == before


def test_every_outcome_is_reached():
    """Fidelity: the scenarios in this file together reach every outcome of the spec."""
    import inspect

    REACHED.clear()
    for name, fn in sorted(globals().items()):
        if not name.startswith("test_") or fn is test_every_outcome_is_reached:
            continue
        params = list(inspect.signature(fn).parameters)
        if params == ["m32", "mm"]:
            m = Machine.x86_32(mem_mb=1024)
            fn(m, Mm(m, comm="test", pid=42))
        elif params == ["m32"]:
            fn(Machine.x86_32(mem_mb=1024))
        elif not params:
            fn()
    assert REACHED == set(Outcome)
