"""``kmem decode-pf CODE``: what an x86 page-fault error code means, and what the slide said."""

from __future__ import annotations

import argparse

from kmem.spec.errors import InvalidArgument
from kmem.spec.kernel import UnknownKernel
from kmem.spec.kernel import kernel as kernel_rules
from kmem.spec.x86_fault import (
    HW_CONSTRAINTS,
    PF_BITS,
    SLIDE_TABLE,
    decode,
    hw_violations,
    oops_lines,
    real_reading,
    sanitize_error_code,
    segfault_line,
)

from ._args import read_int

HELP = "decode an x86 page-fault error code: bits, the kernel's #PF lines, the slide's misreading"
DESCRIPTION = (
    "Decode the error code the CPU pushes on a page fault (#PF): each bit with its "
    "X86_PF_* and SDM name, whether hardware can produce the combination, the lines a "
    "kernel oops prints for it (arch/x86/mm/fault.c show_fault_oops), the segfault line "
    "for a user fault, and what the lecture slide's inverted table would have said. "
    "CODE is a number (0x7, 7) or bit names joined by '|' (PROT|WRITE|USER)."
)

_BY_NAME = {b.linux_name.removeprefix("X86_PF_"): b.mask for b in PF_BITS if b.linux_name}
_BY_NAME.update({b.sdm_name: b.mask for b in PF_BITS})
_BY_NAME["HLAT"] = 1 << 7


def parse_code(text: str) -> int:
    """A number in any base Python accepts, or names (PROT, X86_PF_WRITE, P, W/R ...) joined by |."""
    text = text.strip()
    if text.lstrip("+-")[:1].isdigit():  # a number: the CLI's one number reader
        return read_int(text, "error code")
    code = 0
    for part in text.split("|"):
        name = part.strip().upper().removeprefix("X86_PF_")
        if name not in _BY_NAME:
            raise InvalidArgument(f"cannot read {part.strip()!r} as an error-code bit; expected a "
                                  f"number or one of {', '.join(sorted(_BY_NAME))}")
        code |= _BY_NAME[name]
    return code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", metavar="CODE", help="error code: 0x7, 7 or PROT|WRITE|USER")
    parser.add_argument("--address", default="0", metavar="ADDR",
                        help="faulting address (CR2) for the printed lines (default: 0)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--kernel-mode", dest="user_mode", action="store_false", default=None,
                      help="the CPU was in kernel mode (default: as the U/S bit says)")
    mode.add_argument("--user-mode", dest="user_mode", action="store_true",
                      help="the CPU was in user mode")
    parser.add_argument("--bits", type=int, choices=(32, 64), default=64,
                        help="pointer width for %%px fields (default: 64)")
    parser.add_argument("--kernel", metavar="VERSION", default=None,
                        help="print the oops and segfault lines of this kernel version as "
                             "uname -r prints it (4.9, 5.10.0-28-amd64, 6.12.117; "
                             "default: the newest)")


def render(code: int, address: int, user_mode: bool | None = None, bits: int = 64,
           kernel: str | None = None) -> list[str]:
    """The report ``kmem decode-pf`` prints."""
    rec = decode(code)
    names = [b.linux_name or b.sdm_name for b in PF_BITS if code & b.mask]
    lines = [f"error code {code:#x} = {'|'.join(names) if names else '0 (no bits set)'}", ""]
    lines.append(f"{'bit':>3}  {'mask':<10}  {'name':<13} {'SDM':<5} v  meaning")
    for b in PF_BITS:
        v = 1 if code & b.mask else 0
        meaning = b.set_means if v else b.clear_means
        lines.append(f"{b.bit:>3}  {b.mask:#010x}  {b.linux_name or '-':<13} {b.sdm_name:<5} "
                     f"{v}  {meaning}")
    lines.append("")
    broken = hw_violations(code)
    if broken:
        why = dict(HW_CONSTRAINTS)
        lines.append("hardware: a CPU never pushes this code:")
        lines.extend(f"  - {why[name]}" for name in broken)
    else:
        lines.append("hardware: a CPU can push this code")
    if user_mode is None:
        user_mode = rec.user
    lines.append("")
    # arch/x86/mm/fault.c (6.12.118) __bad_area_nosemaphore:784: a fault from kernel mode
    # goes to kernelmode_fixup_or_oops (the oops lines); one from user mode gets
    # show_signal_msg (the segfault line, :818) and force_sig_fault(SIGSEGV) (:825), no oops
    if not user_mode:
        lines.append(f"kernel oops lines (a fault at {address:#x} from kernel mode that is "
                     "not handled):")
        try:
            lines.extend(f"  {line}" for line in oops_lines(code, address, user_mode, bits,
                                                            kernel=kernel))
        except UnknownKernel as exc:
            lines.append(f"  (none known: {exc})")
    else:
        task_size = (1 << 47) - 4096 if bits == 64 else 0xC0000000
        reported = sanitize_error_code(address, code, task_size)
        lines.append("segfault line (a user-mode fault that is not handled: the kernel sends "
                     "SIGSEGV and prints no oops):")
        fmt = kernel_rules(kernel).segfault_format
        if fmt == "none":
            lines.append("  (none: this kernel printed no segfault line)")
        else:
            lines.append("  " + segfault_line("a.out", 1000, address, 0, 0, reported,
                                              word_bits=bits, kernel=kernel,
                                              cpu=(0, 0, 0) if fmt in ("cpu", "offset")
                                              else None))
        if reported != code:
            lines.append(f"  (error {reported:x}, not {code:x}: sanitize_error_code sets "
                         "X86_PF_PROT for a user fault on a kernel address)")
    lines.append("")
    lines.append("what the lecture slides' table of these bits says -- set and not set swapped on all three:")
    for row, truth in zip(SLIDE_TABLE, real_reading(code), strict=True):
        v = 1 if code & 2**row.bit else 0
        said = row.slide_set if v else row.slide_clear
        lines.append(f"  bit {row.bit} = {v}: slide: {said!r}; really: {truth}")
    return lines


def run(args: argparse.Namespace) -> int:
    code = parse_code(args.code)
    address = read_int(args.address, "address")
    print("\n".join(render(code, address, args.user_mode, args.bits, args.kernel)))
    return 0
