"""Error-code bits, hardware constraints, the hardware error-code computation and kernel text."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmem.spec import x86_fault as xf
from kmem.spec.errors import InvalidArgument
from kmem.spec.x86_fault import (
    PF_BITS,
    SLIDE_TABLE,
    Access,
    CpuState,
    PagingEntry,
    PfErrorCode,
    decode,
    encode,
    hw_can_produce,
    hw_error_code,
    hw_violations,
)

# --- every bit: mask and kernel name (trap_pf.h) -------------------------------------------

EXPECTED_BITS = [
    (0, 0x1, "X86_PF_PROT", "P"),
    (1, 0x2, "X86_PF_WRITE", "W/R"),
    (2, 0x4, "X86_PF_USER", "U/S"),
    (3, 0x8, "X86_PF_RSVD", "RSVD"),
    (4, 0x10, "X86_PF_INSTR", "I/D"),
    (5, 0x20, "X86_PF_PK", "PK"),
    (6, 0x40, "X86_PF_SHSTK", "SS"),
    (7, 0x80, None, "HLAT"),
    (15, 0x8000, "X86_PF_SGX", "SGX"),
    (31, 0x80000000, "X86_PF_RMP", "RMP"),
]


def test_bit_table_matches_trap_pf_h():
    assert [(b.bit, b.mask, b.linux_name, b.sdm_name) for b in PF_BITS] == EXPECTED_BITS
    for _bit, mask, name, _ in EXPECTED_BITS:
        if name:
            assert getattr(xf, name) == mask
    assert xf.PF_HLAT == 0x80
    assert xf.KNOWN_BITS_MASK == 0x800080FF


@pytest.mark.parametrize("field,mask", [
    ("prot", 0x1), ("write", 0x2), ("user", 0x4), ("rsvd", 0x8), ("instr", 0x10), ("pk", 0x20),
    ("shstk", 0x40), ("hlat", 0x80), ("sgx", 0x8000), ("rmp", 0x80000000)])
def test_each_bit_decodes_to_its_field_alone(field, mask):
    rec = decode(mask)
    assert getattr(rec, field) is True
    others = [f for f in PfErrorCode.__dataclass_fields__ if f != field]
    assert not any(getattr(rec, f) for f in others)
    assert encode(rec) == mask == rec.code


def test_common_codes_from_the_facts():
    assert decode(0x7) == PfErrorCode(prot=True, write=True, user=True)
    assert decode(0x4) == PfErrorCode(user=True)
    assert decode(0x15) == PfErrorCode(prot=True, user=True, instr=True)
    assert decode(0) == PfErrorCode()


@given(st.sets(st.sampled_from([b.mask for b in PF_BITS])))
def test_encode_decode_round_trip(masks):
    code = sum(masks)
    assert encode(decode(code)) == code


@pytest.mark.parametrize("bad", [-1, 0x100, 0x4000, 0x10000, 1 << 32, 0x40000000])
def test_decode_rejects_undefined_or_out_of_range(bad):
    with pytest.raises(InvalidArgument):
        decode(bad)


def test_decode_rejects_non_int():
    with pytest.raises(InvalidArgument, match="must be an int"):
        decode("7")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        decode(True)  # type: ignore[arg-type]


# --- SDM constraints ------------------------------------------------------------------------

@pytest.mark.parametrize("code,broken", [
    (0x8, ("rsvd-needs-p",)),
    (0x9, ()),
    (0x20, ("pk-needs-p",)),
    (0x29, ("pk-needs-p",)),
    (0x21, ()),
    (0x31, ("pk-data-only",)),
    (0x8000, ("sgx-needs-p",)),
    (0x8001, ()),
    (0x8009, ("sgx-needs-p",)),
    (0x8021, ("sgx-needs-p",)),
    (0x12, ("fetch-not-write",)),
    (0x50, ("shstk-data-only",)),
    (0x80008001, ("vendor",)),
    (0x80000081, ("vendor",)),
    (0x80000001, ()),
])
def test_hw_constraints(code, broken):
    assert hw_violations(code) == broken
    assert hw_can_produce(code) is (not broken)


def test_every_constraint_has_an_explanation_and_is_reachable():
    names = {n for n, _ in xf.HW_CONSTRAINTS}
    reached = set()
    for bits in itertools.product([0, 1], repeat=len(PF_BITS)):
        code = sum(b.mask for b, on in zip(PF_BITS, bits, strict=True) if on)
        reached.update(hw_violations(code))
    assert reached == names


# --- the hardware side -----------------------------------------------------------------------

NP = PagingEntry(present=False)
RW_USER = PagingEntry()
RO_USER = PagingEntry(writable=False)


@pytest.mark.parametrize("access,user,entry,cpu,expected", [
    (Access.READ, False, NP, CpuState(), 0x0),
    (Access.WRITE, False, NP, CpuState(), 0x2),
    (Access.WRITE, False, PagingEntry(writable=False, user=False), CpuState(), 0x3),
    (Access.READ, True, NP, CpuState(), 0x4),
    (Access.READ, True, PagingEntry(user=False), CpuState(), 0x5),
    (Access.WRITE, True, NP, CpuState(), 0x6),
    (Access.WRITE, True, RO_USER, CpuState(), 0x7),
    (Access.FETCH, True, NP, CpuState(), 0x14),
    (Access.FETCH, True, PagingEntry(nx=True), CpuState(), 0x15),
    (Access.FETCH, True, NP, CpuState(nxe=False), 0x4),  # I/D only with NXE or SMEP
    (Access.FETCH, True, NP, CpuState(nxe=False, smep=True), 0x14),
    (Access.FETCH, True, PagingEntry(nx=True), CpuState(nxe=False), None),  # XD ignored
    (Access.READ, True, PagingEntry(rsvd=True), CpuState(), 0xD),
    (Access.READ, True, PagingEntry(present=False, rsvd=True), CpuState(), 0x4),
    (Access.READ, True, RW_USER, CpuState(), None),
    (Access.WRITE, True, RW_USER, CpuState(), None),
    (Access.WRITE, False, PagingEntry(writable=False, user=False), CpuState(wp=False), None),
    (Access.FETCH, False, RW_USER, CpuState(smep=True), 0x11),
    (Access.FETCH, False, RW_USER, CpuState(), None),
    (Access.READ, False, RW_USER, CpuState(smap=True), 0x1),
    (Access.READ, False, RW_USER, CpuState(smap=True, eflags_ac=True), None),
    (Access.READ, True, PagingEntry(pkey=1), CpuState(pke=True, pkru=0b0100), 0x25),
    (Access.READ, True, PagingEntry(pkey=1), CpuState(pke=True, pkru=0b1000), None),
    (Access.WRITE, True, PagingEntry(pkey=1), CpuState(pke=True, pkru=0b1000), 0x27),
    (Access.WRITE, True, PagingEntry(pkey=1), CpuState(pke=False, pkru=0b1000), None),
    (Access.FETCH, True, PagingEntry(pkey=1), CpuState(pke=True, pkru=0b1100), None),
    (Access.WRITE, False, PagingEntry(pkey=1), CpuState(pke=True, pkru=0b1000, wp=False), None),
])
def test_hw_error_code(access, user, entry, cpu, expected):
    assert hw_error_code(access, user, entry, cpu) == expected


def test_hw_shadow_stack_accesses():
    ss_page = PagingEntry(writable=False, dirty=True)
    assert ss_page.shadow_stack
    assert hw_error_code(Access.WRITE, True, ss_page, shadow_stack=True) is None
    assert hw_error_code(Access.READ, True, ss_page, shadow_stack=True) is None
    # an ordinary write to a shadow-stack page, a shadow-stack write to a normal page
    assert hw_error_code(Access.WRITE, True, ss_page) == 0x7
    assert hw_error_code(Access.WRITE, True, RW_USER, shadow_stack=True) == 0x47
    assert hw_error_code(Access.WRITE, True, NP, shadow_stack=True) == 0x46
    assert hw_error_code(Access.READ, True, ss_page) is None


def test_hw_sgx_only_without_other_fault():
    assert hw_error_code(Access.READ, True, RW_USER, epcm_violation=True) == 0x8005
    assert hw_error_code(Access.WRITE, True, RO_USER, epcm_violation=True) == 0x7
    assert hw_error_code(Access.READ, True, NP, epcm_violation=True) == 0x4


def test_hw_error_code_rejects_bad_input():
    with pytest.raises(InvalidArgument, match="shadow-stack"):
        hw_error_code(Access.FETCH, True, RW_USER, shadow_stack=True)
    with pytest.raises(InvalidArgument, match="pkey"):
        hw_error_code(Access.READ, True, PagingEntry(pkey=16))
    with pytest.raises(InvalidArgument, match="PKRU"):
        hw_error_code(Access.READ, True, RW_USER, CpuState(pkru=1 << 32))


@given(access=st.sampled_from(list(Access)), user=st.booleans(),
       entry=st.builds(PagingEntry, st.booleans(), st.booleans(), st.booleans(), st.booleans(),
                       st.booleans(), st.booleans(), st.integers(0, 15)),
       cpu=st.builds(CpuState, st.booleans(), st.booleans(), st.booleans(), st.booleans(),
                     st.booleans(), st.integers(0, 2**32 - 1), st.booleans()),
       shadow=st.booleans(), epcm=st.booleans())
def test_hardware_only_pushes_codes_it_can(access, user, entry, cpu, shadow, epcm):
    if shadow and access is Access.FETCH:
        return
    code = hw_error_code(access, user, entry, cpu, shadow_stack=shadow, epcm_violation=epcm)
    if code is None:
        return
    assert hw_can_produce(code), hex(code)
    rec = decode(code)
    assert rec.write == (access is Access.WRITE)
    assert rec.user == user
    assert rec.prot == entry.present
    assert rec.shstk == shadow


# --- kernel text, byte for byte (arch/x86/mm/fault.c) ------------------------------------

@pytest.mark.parametrize("code,user_mode,line", [
    (0x0, False, "#PF: supervisor read access in kernel mode"),
    (0x2, False, "#PF: supervisor write access in kernel mode"),
    (0x10, False, "#PF: supervisor instruction fetch in kernel mode"),
    (0x12, False, "#PF: supervisor instruction fetch in kernel mode"),  # INSTR wins over WRITE
    (0x7, True, "#PF: user write access in user mode"),
    (0x4, True, "#PF: user read access in user mode"),
    (0x1, True, "#PF: supervisor read access in user mode"),
])
def test_pf_access_line(code, user_mode, line):
    assert xf.pf_access_line(code, user_mode) == line


@pytest.mark.parametrize("code,line", [
    (0x0, "#PF: error_code(0x0000) - not-present page"),
    (0x6, "#PF: error_code(0x0006) - not-present page"),
    (0x28, "#PF: error_code(0x0028) - not-present page"),  # PROT clear wins
    (0x9, "#PF: error_code(0x0009) - reserved bit violation"),
    (0x29, "#PF: error_code(0x0029) - reserved bit violation"),
    (0x25, "#PF: error_code(0x0025) - protection keys violation"),
    (0x80000001, "#PF: error_code(0x80000001) - RMP violation"),
    (0x3, "#PF: error_code(0x0003) - permissions violation"),
    (0x8005, "#PF: error_code(0x8005) - permissions violation"),
])
def test_pf_error_code_line(code, line):
    assert xf.pf_error_code_line(code) == line


def test_oops_lines_null_and_paging_request():
    assert xf.oops_lines(0, 0) == (
        "BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page")
    assert xf.oops_bug_line(0xFFF, False, 32) == \
        "BUG: kernel NULL pointer dereference, address: 00000fff"
    assert xf.oops_bug_line(0x1000, False, 32) == \
        "BUG: unable to handle page fault for address: 00001000"
    # a NULL address from user mode is not reported as a NULL dereference
    assert xf.oops_bug_line(0x10, True, 64) == \
        "BUG: unable to handle page fault for address: 0000000000000010"
    assert xf.oops_cr2_line(0xF8800000) == "CR2: 00000000f8800000"


def test_px_rejects_overwide_pointer_and_bad_width():
    with pytest.raises(InvalidArgument):
        xf.oops_bug_line(1 << 32, False, 32)
    with pytest.raises(InvalidArgument, match="32 or 64"):
        xf.oops_bug_line(0, False, 16)
    with pytest.raises(InvalidArgument):
        xf.oops_cr2_line(-1)


def test_oops_line_2611():
    assert xf.oops_line_2611(0) == \
        "Unable to handle kernel NULL pointer dereference at virtual address 00000000"
    assert xf.oops_line_2611(0xC8000000) == \
        "Unable to handle kernel paging request at virtual address c8000000"


def test_sanitize_error_code():
    assert xf.sanitize_error_code(0xC0001000, 0x4, 0xC0000000) == 0x5
    assert xf.sanitize_error_code(0xBFFFF000, 0x4, 0xC0000000) == 0x4
    assert xf.sanitize_error_code(0xC0000000, 0x6, 0xC0000000) == 0x7


def test_segfault_line():
    assert xf.segfault_line("a.out", 1234, 0, 0x401136, 0x7FFC3B8D1E50, 6, cpu=(0, 0, 0)) == (
        "a.out[1234]: segfault at 0 ip 0000000000401136 sp 00007ffc3b8d1e50 error 6"
        " likely on CPU 0 (core 0, socket 0)")
    # 6.0 and before: no CPU tail (added in 6.1)
    assert xf.segfault_line("a.out", 1234, 0, 0x401136, 0x7FFC3B8D1E50, 6,
                            kernel="5.10.0-28-amd64") == (
        "a.out[1234]: segfault at 0 ip 0000000000401136 sp 00007ffc3b8d1e50 error 6")
    assert xf.segfault_line("cat", 7, 0xC0001000, 0x8048000, 0xBFFFF000, 5, word_bits=32,
                            vma_file=("cat", 0x1136, 0x8048000, 0x2000), cpu=(3, 1, 0)) == (
        "cat[7]: segfault at c0001000 ip 08048000 sp bffff000 error 5 in "
        "cat[1136,8048000+2000] likely on CPU 3 (core 1, socket 0)")


def test_pgtable_bad_line():
    assert xf.pgtable_bad_line("a.out", 0x8048000) == \
        "a.out: Corrupted page table at address 8048000"


# --- the slide's inverted table (figure 1.2) -------------------------------------------

def test_slide_text_is_the_seed_verbatim():
    assert [(r.bit, r.slide_set, r.slide_clear) for r in SLIDE_TABLE] == [
        (0, "No page present in RAM", "Protection fault (insufficient access permission)"),
        (1, "Read access", "Write access"),
        (2, "Privileged kernel mode", "User mode"),
    ]


def test_slide_is_inverted_on_all_three_low_bits():
    """For each bit the slide's 'Set' column describes what a *clear* bit really means."""
    concept = {  # the slide's wording and the real wording, mapped to one concept each
        "No page present in RAM": "not-present", "not-present page": "not-present",
        "Protection fault (insufficient access permission)": "protection",
        "protection violation on a present page": "protection",
        "Read access": "read", "read access": "read",
        "Write access": "write", "write access": "write",
        "Privileged kernel mode": "kernel", "supervisor-mode access (CPL < 3)": "kernel",
        "User mode": "user", "user-mode access (CPL 3)": "user",
    }
    for row, real in zip(SLIDE_TABLE, PF_BITS[:3], strict=True):
        assert concept[row.slide_set] == concept[real.clear_means]
        assert concept[row.slide_clear] == concept[real.set_means]
        assert concept[row.slide_set] != concept[real.set_means]
    # hence for every code the slide's reading of bits 0-2 is wrong on every bit
    for code in range(8):
        for said, truth in zip(xf.slide_reading(code), xf.real_reading(code), strict=True):
            assert concept[said] != concept[truth]
    assert xf.slide_reading(0x7) == ("No page present in RAM", "Read access",
                                     "Privileged kernel mode")
    assert xf.real_reading(0x7) == ("protection violation on a present page", "write access",
                                    "user-mode access (CPL 3)")
