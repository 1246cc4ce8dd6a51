"""``kmem check -- COMMAND [ARGS]``: fuzz an allocator program against the spec."""

from __future__ import annotations

import argparse
import os
import random
import shlex
import time
from collections.abc import Callable

from kmem.commands._args import int_arg, read_int, seconds_arg
from kmem.fuzz.adapters import ZoneConfig
from kmem.fuzz.check import Checker, Finding, load_reproducer, save_finding
from kmem.progress import Progress
from kmem.spec.constants import MAX_PAGE_ORDER, PAGE_SIZE
from kmem.spec.errors import InvalidArgument

HELP = "fuzz an allocator program (line protocol on stdin/stdout) against the spec"
DESCRIPTION = (
    "Run COMMAND (a program speaking kmem's line protocol, docs/line-protocol.md) on seeded "
    "random operation streams and check every answer against the spec (kmem.spec.buddy), "
    "accepting any legal choice and following it. Each finding (illegal result, crash, "
    "hang, abort on out-of-memory, wrong free blocks with --dump) is shrunk to a short "
    "reproducer and saved so that --replay shows it again. Exit status: 0 clean, 1 findings, "
    "2 usage or setup error.")

KIND_LABEL = {
    "unaligned": "illegal result: not aligned",
    "outside": "illegal result: outside the zone",
    "overlap": "illegal result: overlaps a live block",
    "not-free": "illegal result: not a free block",
    "bad-failure": "illegal result: failed while a block of that order is free",
    "not-linux": "illegal result: not the Linux rule's choice",
    "misaligned": "illegal result: address off a page boundary",
    "free-blocks": "free blocks differ from the spec's merged state",
    "crash": "crash",
    "oom-abort": "abort on ordinary out-of-memory",
    "hang": "hang",
    "protocol": "protocol error",
}

#: sanitizer settings for the program unless the user set their own: stop at the first report
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
                 "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}


def _sizes(text: str) -> list[int]:
    try:
        sizes = [read_int(part, "page count") for part in text.split(",") if part.strip()]
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(f"{exc} (page counts like 64,1000,4099)") from None
    if not sizes or any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError(f"page counts must be positive, got {text!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rule", choices=("weak", "linux"), default="weak",
                        help="weak (default): any aligned wholly free block; linux: also "
                             "__rmqueue_smallest's choice of order")
    parser.add_argument("--max-order", type=int_arg("max order", 0), default=MAX_PAGE_ORDER,
                        help=f"the allocator's top order, any value (default {MAX_PAGE_ORDER})")
    parser.add_argument("--npages", type=_sizes, default=[64, 1000, 4099],
                        help="zone sizes in pages, comma-separated; runs cycle through them "
                             "(default 64,1000,4099)")
    parser.add_argument("--reserved", type=int_arg("reserved pages", 0), default=0,
                        help="pages at the start of the arena never handed out (metadata)")
    parser.add_argument("--unit", choices=("pages", "bytes"), default="pages",
                        help="whether the program answers page numbers or byte addresses")
    parser.add_argument("--page-size", type=int_arg("page size", 1), default=PAGE_SIZE,
                        help=f"bytes per page with --unit bytes (default {PAGE_SIZE})")
    parser.add_argument("--dump", action="store_true",
                        help="ask the program for its free blocks after every operation and "
                             "compare them with the spec's merged state")
    parser.add_argument("--seed", type=int_arg("seed", 0), default=None,
                        help="first seed (default: a random one, printed)")
    parser.add_argument("--seeds", type=int_arg("seeds", 1), default=8, help="runs, one seed each (default 8)")
    parser.add_argument("--ops", type=int_arg("operations", 1), default=5000,
                        help="operations per run (default 5000)")
    parser.add_argument("--time", type=seconds_arg("--time"), default=None,
                        help="stop starting runs after this many seconds")
    parser.add_argument("--timeout", type=seconds_arg("--timeout"), default=None,
                        help="seconds allowed per answer before it counts as a hang (default 2)")
    parser.add_argument("--startup-timeout", type=seconds_arg("--startup-timeout"),
                        default=None,
                        help="seconds a new process has to answer its first 'init' (start-up "
                             "is not a hang; default 30)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set this environment variable for the program (repeatable; "
                             "saved in the reproducer)")
    parser.add_argument("--shrink-time", type=seconds_arg("--shrink-time"), default=60.0,
                        help="seconds allowed to shrink each finding (default 60)")
    parser.add_argument("--no-shrink", action="store_true", help="report findings unshrunk")
    parser.add_argument("--keep-going", action="store_true",
                        help="after a finding, run the remaining seeds (one report per kind)")
    parser.add_argument("--save", default=".kmem-check", metavar="DIR",
                        help="where reproducers are written (default .kmem-check)")
    parser.add_argument("--replay", metavar="FILE",
                        help="run the reproducer FILE once instead of random streams (with "
                             "the command it stores, unless one is given after --)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS]",
                        help="the allocator program and its arguments")


DEFAULT_TIMEOUT = 2.0
DEFAULT_STARTUP_TIMEOUT = 30.0


def _command_line(path: str) -> str:
    return f"kmem check --replay {shlex.quote(path)}"


def print_finding(number: int, f: Finding, program: list[str], path: str | None,
                  args: argparse.Namespace, emit: Callable[[str], None] = print) -> None:
    """The report of one finding, line by line through ``emit``."""
    def print(text: str = "") -> None:  # noqa: A001 - every line goes through emit
        emit(text)

    c = f.config
    label = KIND_LABEL.get(f.kind, f.kind)
    seed = f"seed {f.seed}, " if f.seed is not None else ""
    print(f"FINDING {number}: {label} [{f.kind}]")
    print(f"  {seed}zone of {c.describe()}, rule {f.rule}{', free-block dumps' if f.dump else ''}")
    where = f"operation #{f.index}" if f.index >= 0 else "start-up"
    print(f"  at {where}: {f.operation}")
    print(f"  {f.message}")
    for line in _hints(f):
        print(f"  hint: {line}")
    for line in f.state:
        print(f"  {line}")
    if c.unit == "bytes":
        base = f"{f.base:#x}" if f.base is not None else "BASE"
        print(f"  (the numbers above are pfns, pages of the arena: pfn = (address - {base}) / "
              f"{c.page_size}; the transcript shows the byte addresses the program answered)")
    if f.stderr.strip():
        lines = f.stderr.strip().splitlines()
        report = next((i for i, line in enumerate(lines)
                       if "Sanitizer:" in line or "runtime error:" in line), None)
        if report is not None:  # a sanitizer report: its head (the error and the stack)
            print("  the sanitizer's report (head):")
            shown = lines[report:report + 14]
        else:
            print("  the program's last stderr lines:")
            shown = lines[-12:]
        for line in shown:
            print(f"    | {line}")
    shrunk = f" (shrunk from {f.original_length})" if f.original_length is not None else ""
    print(f"  reproducer: {len(f.stream)} operation(s){shrunk}:")
    for i, op in enumerate(f.stream):
        mark = "  <- here" if i == f.index else ""
        print(f"    {i:4}  {op.text()}{mark}")
    transcript = [(r, a) for r, a in f.transcript if r != "reset"]
    if transcript:
        print("  what was sent and answered:")
        for request, answer in transcript:
            if request == "dump":
                continue
            print(f"    > {request:<28} < {answer or '(no answer)'}")
        if c.unit == "bytes":
            print("  by hand: not with --unit bytes (the frees name the addresses this process "
                  "answered; a new one may put its arena elsewhere): use the replay command")
        else:
            sent = "".join(r + "\\n" for r, _ in transcript)
            print(f"  by hand: printf '{sent}' | {shlex.join(program)}")
    if path is not None:
        print(f"  replay: {_command_line(path)}")
    print()


def _hints(f: Finding) -> list[str]:
    """What a finding may mean besides a bug, for the setups that are easy to get wrong."""
    c = f.config
    hints = []
    if f.kind == "hang":
        hints.append("each answer may take --timeout seconds (now "
                     f"{f.timeout if f.timeout is not None else DEFAULT_TIMEOUT:g}); a program "
                     "that is only slow needs a larger --timeout")
    if f.kind == "unaligned" and c.reserved:
        hints.append(f"with --reserved {c.reserved}, blocks must be aligned to the arena's page "
                     "0, not to the first page after the reserved ones. An allocator that "
                     "aligns its blocks to the start of its data area should answer 'ok BASE' "
                     "to init with the address of that first data page (--unit bytes) and be "
                     "run without --reserved (docs/check.md)")
    return hints


def _env(extra: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The program's environment, and the part of it kmem set (saved with reproducers)."""
    env = dict(os.environ)
    own = {}
    for key, value in SANITIZER_ENV.items():
        own[key] = env.setdefault(key, value)
    env.update(extra)
    own.update(extra)
    return env, own


def _env_args(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidArgument(f"--env {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


def _replay(args: argparse.Namespace, program: list[str], extra_env: dict[str, str]) -> int:
    rep = load_reproducer(args.replay)
    cwd = None  # a program named after -- runs here; the stored one where it ran
    if not program:
        if rep.command is None:
            raise InvalidArgument(f"{args.replay} stores no command (written by an older kmem): "
                                  "name the program after --")
        program = rep.command
        cwd = rep.cwd if rep.cwd and os.path.isdir(rep.cwd) else None
    timeout = args.timeout or rep.timeout or DEFAULT_TIMEOUT
    startup = args.startup_timeout or rep.startup_timeout or DEFAULT_STARTUP_TIMEOUT
    env, _ = _env({**rep.env, **extra_env})
    checker = Checker(program, config=rep.config, rule=rep.rule, dump=rep.dump,
                      timeout=timeout, startup_timeout=startup, env=env, cwd=cwd)
    try:
        finding = checker.replay(rep.config, rep.ops, record=True)
    finally:
        checker.close()
    if finding is None:
        print(f"replayed {len(rep.ops)} operation(s) from {args.replay} on "
              f"{shlex.join(program)}: no finding")
        return 0
    finding.timeout = timeout
    print_finding(1, finding, program, args.replay, args)
    return 1


def run(args: argparse.Namespace) -> int:
    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    extra_env = _env_args(args.env)
    if args.replay:
        return _replay(args, program, extra_env)
    if not program:
        raise InvalidArgument("name the allocator program after --: kmem check -- ./driver")
    for n in args.npages:
        if not 0 <= args.reserved < n:
            raise InvalidArgument(f"--reserved {args.reserved} must be below every zone size "
                                  f"(--npages has {n})")
    timeout = args.timeout or DEFAULT_TIMEOUT
    startup = args.startup_timeout or DEFAULT_STARTUP_TIMEOUT
    env, own_env = _env(extra_env)

    seed0 = args.seed if args.seed is not None else random.randrange(2**32)
    configs = [ZoneConfig(n, max_order=args.max_order, reserved=args.reserved, unit=args.unit,
                          page_size=args.page_size) for n in args.npages]
    print(f"kmem check: {shlex.join(program)}")
    print(f"  rule {args.rule}, max order {args.max_order}, zones of "
          f"{', '.join(str(n) for n in args.npages)} pages"
          + (f", {args.reserved} reserved" if args.reserved else "")
          + f", unit {args.unit}{', free-block dumps' if args.dump else ''}; seeds "
          f"{seed0}..{seed0 + args.seeds - 1}, {args.ops} operations each")
    checker = Checker(program, config=configs[0], rule=args.rule, dump=args.dump,
                      timeout=timeout, startup_timeout=startup, env=env,
                      exact_kind=args.keep_going)
    findings: list[Finding] = []
    found: dict[str, Finding] = {}  # kind -> the shortest failing stream of that kind
    total_ops = 0
    started = time.monotonic()
    runs = 0
    run_time = 0.0

    def report(finding: Finding, progress: Progress) -> None:
        if not args.no_shrink:
            before = len(finding.stream)
            t0 = time.monotonic()
            progress.start(f"shrinking {before} operations")
            finding = checker.shrink(finding, time_limit=args.shrink_time)
            progress.emit(f"  shrunk {finding.kind} {before} -> {len(finding.stream)} operations "
                          f"in {time.monotonic() - t0:.1f} s ({checker.replays} replays, "
                          f"{checker.starts} program starts)")
        else:
            finding = checker.replay(finding.config, finding.stream, finding.seed,
                                     record=True) or finding
        finding.timeout = timeout
        findings.append(finding)
        path = str(save_finding(finding, args.save, command=program, env=own_env,
                                cwd=os.getcwd(), timeout=timeout, startup_timeout=startup))
        progress.emit("")
        print_finding(len(findings), finding, program, path, args, progress.emit)

    with Progress("kmem check", total=args.seeds, unit="runs",
                  mode="off" if args.quiet else None) as progress:
        try:
            for k in range(args.seeds):
                if args.time is not None and time.monotonic() - started >= args.time:
                    progress.emit(f"  --time {args.time:g} s reached")
                    break
                seed = seed0 + k
                config = configs[k % len(configs)]
                run_start = time.monotonic()
                progress.start(f"seed {seed} ({config.npages} pages)")

                def show(n: int, seed: int = seed, config: ZoneConfig = config,
                         run_start: float = run_start, before: int = total_ops) -> None:
                    rate = n / max(time.monotonic() - run_start, 1e-9)
                    progress.start(f"seed {seed} ({config.npages} pages): {n} ops, "
                                   f"{rate / 1000:.1f}k ops/s; {before + n} ops in all, "
                                   f"{len(found)} kind(s) of finding")

                finding, done = checker.run_seed(seed, config, args.ops, show)
                runs += 1
                total_ops += done
                elapsed = time.monotonic() - run_start
                run_time += elapsed
                status = f"FINDING {finding.kind} at operation #{finding.index}" if finding \
                    else "clean"
                progress.emit(f"  seed {seed} ({config.npages} pages): {done} ops in "
                              f"{elapsed:.2f} s, {status}")
                progress.advance()
                if finding is None:
                    continue
                if not args.keep_going:
                    report(finding, progress)
                    break
                best = found.get(finding.kind)
                if best is None or len(finding.stream) < len(best.stream):
                    found[finding.kind] = finding
            for finding in sorted(found.values(), key=lambda f: len(f.stream)):
                report(finding, progress)  # --keep-going: each kind's shortest stream
        finally:
            checker.close()
    elapsed = time.monotonic() - started
    verdict = f"{len(findings)} finding(s)" if findings else "no findings"
    print(f"kmem check: {runs} run(s), {total_ops} operations checked in {run_time:.1f} s "
          f"({total_ops / max(run_time, 1e-9):,.0f} ops/s; {elapsed:.1f} s in all, "
          f"shrinking included): {verdict}")
    return 1 if findings else 0
