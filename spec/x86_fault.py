"""The x86 page-fault error code (#PF, vector 14): bits, hardware side and kernel text.

Follows arch/x86/include/asm/trap_pf.h (``enum x86_pf_error_code``, 6.9+ with
X86_PF_RMP), arch/x86/mm/fault.c (6.10+: ``show_fault_oops``, ``sanitize_error_code``,
``show_signal_msg``, ``pgtable_bad``), 2.6.11 arch/i386/mm/fault.c (``do_page_fault``'s
oops text), and the Intel SDM vol. 3 section 4.7 "Page-Fault Exceptions" for which
codes hardware can push and when.

The CPU pushes the error code and puts the faulting linear address in CR2. The
low three bits describe *the access that faulted*: bit 0 set means the page was
present (a protection violation), bit 1 set means a write, bit 2 set means a
user-mode (CPL 3) access. The page-fault table of classic lecture slides on Linux
memory management (2.6 era) has all three inverted;
:data:`SLIDE_TABLE` keeps its text next to :data:`PF_BITS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import InvalidArgument
from .kernel import Kernel

# enum x86_pf_error_code (arch/x86/include/asm/trap_pf.h)
X86_PF_PROT = 1 << 0  # 0: no page found, 1: protection fault
X86_PF_WRITE = 1 << 1  # 0: read access, 1: write access
X86_PF_USER = 1 << 2  # 0: kernel-mode access, 1: user-mode access
X86_PF_RSVD = 1 << 3  # 1: use of reserved bit detected
X86_PF_INSTR = 1 << 4  # 1: fault was an instruction fetch
X86_PF_PK = 1 << 5  # 1: protection keys block access
X86_PF_SHSTK = 1 << 6  # 1: shadow stack access fault
PF_HLAT = 1 << 7  # Intel HLAT paging; Linux has no X86_PF_* name for it
X86_PF_SGX = 1 << 15  # 1: SGX MMU page-fault (EPCM violation)
X86_PF_RMP = 1 << 31  # 1: AMD SEV-SNP RMP violation

ERROR_CODE_BITS = 32  # the architecturally defined part of the pushed code


@dataclass(frozen=True)
class PfBit:
    """One error-code bit: its position, the names Linux and the SDM give it, and its meaning."""

    bit: int
    linux_name: str | None  # None: no X86_PF_* constant (HLAT)
    sdm_name: str
    clear_means: str
    set_means: str

    @property
    def mask(self) -> int:
        return 2**self.bit


#: Every defined error-code bit (trap_pf.h; SDM vol. 3 4.7; HLAT from the SDM only).
PF_BITS: tuple[PfBit, ...] = (
    PfBit(0, "X86_PF_PROT", "P", "not-present page", "protection violation on a present page"),
    PfBit(1, "X86_PF_WRITE", "W/R", "read access", "write access"),
    PfBit(2, "X86_PF_USER", "U/S", "supervisor-mode access (CPL < 3)", "user-mode access (CPL 3)"),
    PfBit(3, "X86_PF_RSVD", "RSVD", "no reserved-bit violation",
          "reserved bit set in a paging-structure entry"),
    PfBit(4, "X86_PF_INSTR", "I/D", "data access", "instruction fetch"),
    PfBit(5, "X86_PF_PK", "PK", "no protection-key violation", "protection-key violation"),
    PfBit(6, "X86_PF_SHSTK", "SS", "not a shadow-stack access", "shadow-stack access"),
    PfBit(7, None, "HLAT", "ordinary paging", "fault during HLAT paging"),
    PfBit(15, "X86_PF_SGX", "SGX", "not SGX-related", "SGX EPCM access-control violation"),
    PfBit(31, "X86_PF_RMP", "RMP", "no RMP violation", "AMD SEV-SNP RMP violation"),
)

KNOWN_BITS_MASK = sum(b.mask for b in PF_BITS)


def _check_code(code: int) -> None:
    if not isinstance(code, int) or isinstance(code, bool):
        raise InvalidArgument(f"error code must be an int, got {type(code).__name__}")
    if code < 0 or code >= 2**ERROR_CODE_BITS:
        raise InvalidArgument(f"error code {code:#x} out of range; expected 0..0xffffffff")
    unknown = code & ~KNOWN_BITS_MASK
    if unknown:
        raise InvalidArgument(
            f"error code {code:#x} has undefined bits {unknown:#x}; defined bits are "
            f"{KNOWN_BITS_MASK:#x} (P W/R U/S RSVD I/D PK SS HLAT SGX RMP)")


@dataclass(frozen=True)
class PfErrorCode:
    """A decoded error code, one field per bit (SDM names, lower case)."""

    prot: bool = False
    write: bool = False
    user: bool = False
    rsvd: bool = False
    instr: bool = False
    pk: bool = False
    shstk: bool = False
    hlat: bool = False
    sgx: bool = False
    rmp: bool = False

    @property
    def code(self) -> int:
        return encode(self)


_FIELDS: tuple[tuple[str, int], ...] = (
    ("prot", X86_PF_PROT), ("write", X86_PF_WRITE), ("user", X86_PF_USER),
    ("rsvd", X86_PF_RSVD), ("instr", X86_PF_INSTR), ("pk", X86_PF_PK),
    ("shstk", X86_PF_SHSTK), ("hlat", PF_HLAT), ("sgx", X86_PF_SGX), ("rmp", X86_PF_RMP),
)


def decode(code: int) -> PfErrorCode:
    """Split a pushed error code into its bits (``enum x86_pf_error_code``).

    pre: 0 <= code < 2**32 and code & ~KNOWN_BITS_MASK == 0
    post: encode(__return__) == code
    post: __return__.prot == (code % 2 == 1)

    Raises :class:`InvalidArgument` for a negative or over-wide code or one with
    bits the SDM leaves undefined.
    """
    _check_code(code)
    return PfErrorCode(**{name: bool(code & mask) for name, mask in _FIELDS})


def encode(record: PfErrorCode) -> int:
    """The error code whose bits are ``record``'s fields; ``decode(encode(r)) == r``."""
    return sum(mask for name, mask in _FIELDS if getattr(record, name))


# --- which codes hardware can push -------------------------------------------------

#: (name, explanation) of each SDM constraint on real codes; :func:`hw_violations` checks them.
HW_CONSTRAINTS: tuple[tuple[str, str], ...] = (
    ("rsvd-needs-p", "RSVD is reported only with P = 1 (a reserved bit in a present entry)"),
    ("pk-needs-p", "PK is reported only with P = 1 and RSVD = 0 (the walk completed)"),
    ("pk-data-only", "protection keys apply only to data accesses, never with I/D = 1"),
    ("sgx-needs-p", "SGX is set only if P = 1 and RSVD = 0 and PK = 0"),
    ("fetch-not-write", "an instruction fetch is never a write (I/D and W/R not both set)"),
    ("shstk-data-only", "a shadow-stack access is a data access (SS and I/D not both set)"),
    ("vendor", "RMP is AMD-only; SGX and HLAT are Intel-only: RMP never with SGX or HLAT"),
)


def hw_violations(code: int) -> tuple[str, ...]:
    """Names from :data:`HW_CONSTRAINTS` that ``code`` breaks (SDM vol. 3 4.7)."""
    _check_code(code)
    p = code & X86_PF_PROT
    broken = []
    if code & X86_PF_RSVD and not p:
        broken.append("rsvd-needs-p")
    if code & X86_PF_PK and (not p or code & X86_PF_RSVD):
        broken.append("pk-needs-p")
    if code & X86_PF_PK and code & X86_PF_INSTR:
        broken.append("pk-data-only")
    if code & X86_PF_SGX and (not p or code & (X86_PF_RSVD | X86_PF_PK)):
        broken.append("sgx-needs-p")
    if code & X86_PF_INSTR and code & X86_PF_WRITE:
        broken.append("fetch-not-write")
    if code & X86_PF_SHSTK and code & X86_PF_INSTR:
        broken.append("shstk-data-only")
    if code & X86_PF_RMP and code & (X86_PF_SGX | PF_HLAT):
        broken.append("vendor")
    return tuple(broken)


def hw_can_produce(code: int) -> bool:
    """True if a CPU could push ``code`` (no :data:`HW_CONSTRAINTS` broken)."""
    return not hw_violations(code)


# --- the hardware side: which code does an access push? ---------------------------


class Access(Enum):
    """The kind of memory access (SDM 4.6: data read, data write, instruction fetch)."""

    READ = "read"
    WRITE = "write"
    FETCH = "fetch"


@dataclass(frozen=True)
class PagingEntry:
    """The effective leaf translation for an address (the AND of all levels' rights).

    ``writable`` is R/W, ``user`` is U/S, ``nx`` is XD (bit 63), ``dirty`` is D,
    ``rsvd`` means some level had a reserved bit set, ``pkey`` is bits 62:59.
    A shadow-stack page is one with R/W = 0 and D = 1 (SDM 4.6.1).
    """

    present: bool = True
    writable: bool = True
    user: bool = True
    nx: bool = False
    dirty: bool = False
    rsvd: bool = False
    pkey: int = 0

    @property
    def shadow_stack(self) -> bool:
        return not self.writable and self.dirty


@dataclass(frozen=True)
class CpuState:
    """Control-register state that decides page-level protection (SDM 4.6).

    ``nxe``: IA32_EFER.NXE with PAE or 4-level paging (XD is honoured and I/D reported);
    ``pkru``: two bits per key, ADi = bit 2i, WDi = bit 2i+1.
    """

    wp: bool = True  # CR0.WP; Linux always sets it
    nxe: bool = True
    smep: bool = False
    smap: bool = False
    pke: bool = False
    pkru: int = 0
    eflags_ac: bool = False


def hw_error_code(access: Access, user: bool, entry: PagingEntry, cpu: CpuState = CpuState(),
                  *, shadow_stack: bool = False, epcm_violation: bool = False) -> int | None:
    """The error code the CPU pushes for an access, or None if the access does not fault.

    Intel SDM vol. 3 4.6 (access rights, SMEP/SMAP, protection keys, shadow stacks)
    and 4.7 (error code). ``user`` is the U/S of the access (CPL 3). Precedence: a
    not-present entry gives P = 0; a reserved bit gives P = 1 and RSVD = 1;
    otherwise a rights, SMEP/SMAP or protection-key violation gives P = 1 (PK = 1
    when the key denied it); with none of those an EPCM violation gives SGX.
    Protection keys: WD does not apply to shadow-stack writes **(lower confidence)**.
    """
    if shadow_stack and access is Access.FETCH:
        raise InvalidArgument("a shadow-stack access is a read or a write, not a fetch")
    if not 0 <= entry.pkey < 16:
        raise InvalidArgument(f"pkey {entry.pkey} out of range 0..15")
    if not 0 <= cpu.pkru < 2**32:
        raise InvalidArgument(f"PKRU {cpu.pkru:#x} out of range; it is a 32-bit register")
    write = access is Access.WRITE
    fetch = access is Access.FETCH
    base = ((X86_PF_WRITE if write else 0) | (X86_PF_USER if user else 0)
            | (X86_PF_INSTR if fetch and (cpu.nxe or cpu.smep) else 0)
            | (X86_PF_SHSTK if shadow_stack else 0))
    if not entry.present:
        return base
    if entry.rsvd:
        return base | X86_PF_PROT | X86_PF_RSVD
    denied = _rights_denied(access, user, entry, cpu, shadow_stack)
    pk_denied = _pkey_denied(access, user, entry, cpu, shadow_stack)
    if denied or pk_denied:
        return base | X86_PF_PROT | (X86_PF_PK if pk_denied else 0)
    if epcm_violation:
        return base | X86_PF_PROT | X86_PF_SGX
    return None


def _rights_denied(access: Access, user: bool, entry: PagingEntry, cpu: CpuState,
                   shadow_stack: bool) -> bool:
    """SDM 4.6.1: user/supervisor, R/W, XD, SMEP, SMAP and shadow-stack rights."""
    if shadow_stack:
        # shadow-stack accesses need a shadow-stack page of the access's own privilege
        return not entry.shadow_stack or entry.user != user
    if user:
        if not entry.user:
            return True
        if access is Access.WRITE:
            return not entry.writable
        return access is Access.FETCH and entry.nx and cpu.nxe
    if access is Access.FETCH:
        return (entry.nx and cpu.nxe) or (entry.user and cpu.smep)
    if entry.user and cpu.smap and not cpu.eflags_ac:
        return True
    return access is Access.WRITE and cpu.wp and not entry.writable


def _pkey_denied(access: Access, user: bool, entry: PagingEntry, cpu: CpuState,
                 shadow_stack: bool) -> bool:
    """SDM 4.6.2: PKRU applies to data accesses to user-mode pages when CR4.PKE = 1."""
    if not cpu.pke or not entry.user or access is Access.FETCH:
        return False
    ad = cpu.pkru // 2 ** (2 * entry.pkey) % 2
    wd = cpu.pkru // 2 ** (2 * entry.pkey + 1) % 2
    if ad:
        return True
    return bool(wd) and access is Access.WRITE and not shadow_stack and (user or cpu.wp)


# --- the kernel's text ----------------------------------------------------------------


def _px(value: int, word_bits: int) -> str:
    """printk ``%px``: the raw pointer, zero-padded to 2 * sizeof(void *) hex digits."""
    if word_bits not in (32, 64):
        raise InvalidArgument(f"word size must be 32 or 64 bits, got {word_bits}")
    if not 0 <= value < 2**word_bits:
        raise InvalidArgument(f"{value:#x} does not fit a {word_bits}-bit pointer")
    return f"{value:0{word_bits // 4}x}"


def pf_access_line(code: int, user_mode: bool) -> str:
    """``#PF: %s %s in %s mode`` (show_fault_oops, arch/x86/mm/fault.c)."""
    _check_code(code)
    who = "user" if code & X86_PF_USER else "supervisor"
    what = ("instruction fetch" if code & X86_PF_INSTR
            else "write access" if code & X86_PF_WRITE else "read access")
    return f"#PF: {who} {what} in {'user' if user_mode else 'kernel'} mode"


def pf_error_code_line(code: int) -> str:
    """``#PF: error_code(0x%04lx) - %s`` (show_fault_oops, arch/x86/mm/fault.c)."""
    _check_code(code)
    if not code & X86_PF_PROT:
        why = "not-present page"
    elif code & X86_PF_RSVD:
        why = "reserved bit violation"
    elif code & X86_PF_PK:
        why = "protection keys violation"
    elif code & X86_PF_RMP:
        why = "RMP violation"
    else:
        why = "permissions violation"
    return f"#PF: error_code(0x{code:04x}) - {why}"


def oops_bug_line(address: int, user_mode: bool = False, word_bits: int = 64) -> str:
    """The first oops line (show_fault_oops): NULL dereference below PAGE_SIZE in kernel mode."""
    from .constants import PAGE_SIZE

    if address < PAGE_SIZE and not user_mode:
        return f"BUG: kernel NULL pointer dereference, address: {_px(address, word_bits)}"
    return f"BUG: unable to handle page fault for address: {_px(address, word_bits)}"


def oops_lines(code: int, address: int, user_mode: bool = False,
               word_bits: int = 64, *, kernel: str | Kernel | None = None) -> tuple[str, ...]:
    """The page-fault lines of an oops for kernel version ``kernel`` (default: newest).

    * 5.1+: the BUG line and the two ``#PF:`` lines (show_fault_oops, 6.12.117
      arch/x86/mm/fault.c).
    * 2.6.25-4.19: ``BUG: unable to handle kernel NULL pointer dereference at %px`` or
      ``BUG: unable to handle kernel paging request at %px`` (one line; the ``IP:``
      line that followed names a symbol kmem does not have).
    * 2.6.11 i386: ``Unable to handle kernel ... at virtual address %08lx``.
    * 4.20-5.0 printed a ``#PF error: [...]`` line whose exact text kmem lacks:
      :class:`~kmem.spec.kernel.UnknownKernel`.
    """
    from .kernel import UnknownKernel
    from .kernel import kernel as kernel_rules

    rules = kernel_rules(kernel)
    fmt = rules.oops_format
    if fmt == "modern":
        return (oops_bug_line(address, user_mode, word_bits), pf_access_line(code, user_mode),
                pf_error_code_line(code))
    _check_code(code)
    if fmt == "classic":
        from .constants import PAGE_SIZE

        what = "NULL pointer dereference" if address < PAGE_SIZE else "paging request"
        return (f"BUG: unable to handle kernel {what} at {_px(address, word_bits)}",)
    if fmt == "2.6.11":
        return (oops_line_2611(address),)
    raise UnknownKernel(f"kernel {rules.version}: 4.20-5.0 printed a '#PF error: [...]' line "
                        f"whose exact text kmem does not have")


def oops_cr2_line(address: int) -> str:
    """``CR2: %016lx``, the summary page_fault_oops prints after ``__die`` (any word size)."""
    if address < 0:
        raise InvalidArgument(f"address {address} is negative")
    return f"CR2: {address:016x}"


def oops_line_2611(address: int) -> str:
    """The 2.6.11 i386 oops line (do_page_fault's ``no_context``)."""
    from .constants import PAGE_SIZE

    what = ("Unable to handle kernel NULL pointer dereference" if address < PAGE_SIZE
            else "Unable to handle kernel paging request")
    return f"{what} at virtual address {_px(address, 32)}"


def sanitize_error_code(address: int, code: int, task_size_max: int) -> int:
    """sanitize_error_code(): a user fault on a kernel address always reports X86_PF_PROT.

    arch/x86/mm/fault.c; so that user space cannot learn whether a kernel address is
    mapped. 2.6.11 did the same with ``error_code | (address >= TASK_SIZE)``.
    """
    _check_code(code)
    return code | X86_PF_PROT if address >= task_size_max else code


def segfault_line(comm: str, pid: int, address: int, ip: int, sp: int, code: int, *,
                  word_bits: int = 64, vma_file: tuple[str, int, int, int] | None = None,
                  cpu: tuple[int, int, int] | None = None,
                  kernel: str | Kernel | None = None) -> str:
    """show_signal_msg(): ``%s[%d]: segfault at %lx ip %px sp %px error %lx`` (fault.c), with
    the tails of the kernel version ``kernel`` (default: the newest):

    * ``vma_file`` = (file name, offset of ip in the file, vm_start, vm_end - vm_start):
      ``print_vma_addr`` appends, when ip lies in a file mapping,
      ``" in %pD[%lx,%lx+%lx]"`` (name, offset, start, size; 6.12.117 mm/memory.c:6742)
      or, before 6.2, ``" in %s[%lx+%lx]"`` (basename, start, size; 6.1.192
      mm/memory.c:5835). Without ``vma_file`` (an anonymous mapping) there is no tail.
    * ``cpu`` = (cpu, core, socket): 6.1+ always appends
      ``" likely on CPU %d (core %d, socket %d)"`` (6.1.192 / 6.12.117
      arch/x86/mm/fault.c:781 / :769). The kernel knows its CPU; kmem does not, so
      ``cpu`` is required for those versions (InvalidArgument without it) and refused
      for older ones.
    * before 2.6.25 (the i386 and x86_64 fault.c were separate) kmem has no line:
      2.6.11 i386 printed none; that raises :class:`~kmem.spec.kernel.UnknownKernel`.

    ``code`` is the already sanitized code.
    """
    from .kernel import UnknownKernel
    from .kernel import kernel as kernel_rules

    _check_code(code)
    rules = kernel_rules(kernel)
    fmt = rules.segfault_format
    if fmt == "none":
        raise UnknownKernel(f"kernel {rules.version}: no segfault line (2.6.11 i386 printed "
                            f"none; kmem has the unified x86 fault.c form of 2.6.25 onwards)")
    line = (f"{comm}[{pid}]: segfault at {address:x} ip {_px(ip, word_bits)} "
            f"sp {_px(sp, word_bits)} error {code:x}")
    if vma_file is not None:
        name, offset, start, size = vma_file
        base = name.rsplit("/", 1)[-1]  # %pD and kbasename(file_path()) print the last part
        if fmt == "offset":
            line += f" in {base}[{offset:x},{start:x}+{size:x}]"
        else:
            line += f" in {base}[{start:x}+{size:x}]"
    if fmt in ("cpu", "offset"):
        if cpu is None:
            raise InvalidArgument(f"kernel {rules.version} ends the segfault line with "
                                  f"' likely on CPU n (core n, socket n)': pass cpu=(cpu, core, "
                                  f"socket)")
        line += f" likely on CPU {cpu[0]} (core {cpu[1]}, socket {cpu[2]})"
    elif cpu is not None:
        raise InvalidArgument(f"kernel {rules.version} did not print the CPU in the segfault "
                              f"line (added in 6.1); leave cpu out")
    return line


def pgtable_bad_line(comm: str, address: int) -> str:
    """pgtable_bad(): ``%s: Corrupted page table at address %lx`` (fault.c, RSVD on a user address)."""
    return f"{comm}: Corrupted page table at address {address:x}"


# --- the lecture slides' page-fault table next to the real one ------------------------


@dataclass(frozen=True)
class SlideRow:
    """One row of the lecture slides' page-fault table: what it says a set and a clear bit mean."""

    bit: int
    slide_set: str
    slide_clear: str


#: The lecture slides' table ("page fault scenarios"), verbatim. Its Set and Not-set
#: columns are swapped.
SLIDE_TABLE: tuple[SlideRow, ...] = (
    SlideRow(0, "No page present in RAM", "Protection fault (insufficient access permission)"),
    SlideRow(1, "Read access", "Write access"),
    SlideRow(2, "Privileged kernel mode", "User mode"),
)


def slide_reading(code: int) -> tuple[str, str, str]:
    """What the slide would have said about bits 0-2 of ``code`` (wrong on every bit)."""
    _check_code(code)
    p, w, u = (row.slide_set if code & 2**row.bit else row.slide_clear for row in SLIDE_TABLE)
    return p, w, u


def real_reading(code: int) -> tuple[str, str, str]:
    """What bits 0-2 of ``code`` really mean (SDM, trap_pf.h)."""
    _check_code(code)
    p, w, u = (b.set_means if code & b.mask else b.clear_means for b in PF_BITS[:3])
    return p, w, u
