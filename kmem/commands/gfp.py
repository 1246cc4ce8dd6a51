"""``kmem gfp MASK``: decode a gfp mask the way the kernel would treat it."""

from __future__ import annotations

import argparse

from kmem.spec.alloc_flags import format_alloc_flags
from kmem.spec.errors import BadGfpZone
from kmem.spec.gfp import (
    MIGRATETYPE_NAMES,
    PROFILES,
    decode_gfp,
    format_gfp,
    gfp_migratetype,
    gfp_migratetype_warns,
    gfp_to_alloc_flags,
    gfp_zone,
    gfp_zone_nodebug,
    gfpflags_allow_blocking,
    parse_gfp,
    resolve_profile,
    translate_to_modern,
    unknown_bits,
    zonelist,
)
from kmem.spec.zones import ZONE_CONFIGS

from ._args import int_arg

HELP = "decode a gfp mask: name, bits, zone, fallback, ALLOC_* flags"
DESCRIPTION = (
    "Decode a gfp mask given as a number (0xcc0) or as names (GFP_KERNEL|__GFP_ZERO): "
    "the kernel's printed form, each bit, gfp_zone() and the zone fallback list, "
    "gfp_to_alloc_flags(), the migratetype and whether the allocation may block. "
    "A GFP_ZONE_BAD combination is reported as BAD (exit status 0); text that cannot "
    "be read is an error (exit status 2)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mask", metavar="MASK",
                        help="a number such as 0xcc0, or names joined by '|'")
    parser.add_argument("--profile", default=None, choices=list(PROFILES),
                        help="the kernel era whose numbering MASK uses (default: modern)")
    parser.add_argument("--kernel", metavar="VERSION", default=None,
                        help="a kernel version as uname -r prints it (4.14, 4.19.0-17-amd64, "
                             "6.12.117): MASK in that version's numbering, printed with its "
                             "flag table (instead of --profile)")
    parser.add_argument("--config", action="append", choices=list(ZONE_CONFIGS),
                        help="zone configuration(s) for gfp_zone (default: x86_64 and x86_32)")
    parser.add_argument("--order", type=int_arg("--order", 0), default=0,
                        help="allocation order for gfp_to_alloc_flags (default: 0)")


def _zone_lines(mask: int, config_names: list[str]) -> list[str]:
    lines = []
    for name in config_names:
        config = ZONE_CONFIGS[name]
        try:
            zt = gfp_zone(mask, config)
        except BadGfpZone as exc:
            fallback = gfp_zone_nodebug(mask, config)
            lines.append(f"gfp_zone[{name}]: BAD: {exc}")
            lines.append(f"  without CONFIG_DEBUG_VM: ZONE_{fallback.name} "
                         f"(zone index {config.idx(fallback)})")
            continue
        chain = " -> ".join(z.kernel_name for z in zonelist(config, zt))
        lines.append(f"gfp_zone[{name}]: ZONE_{zt.name} (zone index {config.idx(zt)})")
        lines.append(f"  fallback: {chain}")
    return lines


def run(args: argparse.Namespace) -> int:
    profile = resolve_profile(args.profile, args.kernel)
    mask = parse_gfp(args.mask, profile)
    era = f"{profile.name} numbering" + (f", kernel {args.kernel}" if args.kernel else "")
    out = [f"mask: {mask:#x} ({era})",
           f"printed: {format_gfp(mask, profile)}"]
    if not profile.kernel_printer:
        out[-1] += "  (kmem's table: this kernel had no gfp printer)"
    for flag in decode_gfp(mask, profile):
        out.append(f"  {flag.value:#010x} {flag.name:<22} {flag.meaning}")
    leftover = unknown_bits(mask, profile)
    if leftover:
        out.append(f"  {leftover:#010x} {'(unknown bits)':<22} no name in the {profile.name} "
                   f"profile")
    modern = mask
    if profile.flags is not PROFILES["modern"].flags:
        modern, dropped = translate_to_modern(mask, profile)
        note = f" (dropped: {', '.join(dropped)})" if dropped else ""
        out.append(f"modern equivalent: {modern:#x} {format_gfp(modern)}{note}")
    out += _zone_lines(modern, args.config or ["x86_64", "x86_32"])
    alloc = gfp_to_alloc_flags(modern, args.order)
    out.append(f"alloc_flags (order {args.order}): {alloc:#x} {format_alloc_flags(alloc)}")
    mt = gfp_migratetype(modern)
    line = f"migratetype: {mt} {MIGRATETYPE_NAMES[mt]}"
    if gfp_migratetype_warns(modern):
        line += (" (WARNING: __GFP_MOVABLE and __GFP_RECLAIMABLE both set: VM_WARN_ON in "
                 "gfp_migratetype, include/linux/gfp.h)")
    out.append(line)
    blocking = gfpflags_allow_blocking(modern)
    out.append("may block: " + ("yes (__GFP_DIRECT_RECLAIM)" if blocking
                                else "no (no __GFP_DIRECT_RECLAIM)"))
    print("\n".join(out))
    return 0
