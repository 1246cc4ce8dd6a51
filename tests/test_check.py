"""`kmem check` and the subprocess adapter, against small C allocators built here:
a correct one, copies with planted bugs, a crash, a hang, an abort on out-of-memory,
a non-power-of-two arena with its metadata inside, a maximum order above 10, and a
memory error only AddressSanitizer sees."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kmem.cli import main
from kmem.fuzz.adapters import SetupError, ZoneConfig
from kmem.fuzz.adapters.process import AllocatorCrashed, AllocatorHung, SubprocessAllocator
from kmem.fuzz.cbuild import SANITIZE_FLAGS, build, compiler, sanitizers_work
from kmem.fuzz.check import Checker, Finding, Op, close_stream, ddmin, shrink_stream

SRC = Path(__file__).parent / "allocators" / "buddy.c"
ILLEGAL = {"unaligned", "outside", "overlap", "not-free", "bad-failure"}


@pytest.fixture(scope="session")
def alloc_bin(tmp_path_factory):
    if compiler() is None:
        pytest.skip("no C compiler (set CC or install gcc)")
    out = tmp_path_factory.mktemp("allocators")

    def make(bug: str | None = None, sanitize: bool = False) -> str:
        flags = ("-O1", "-Wall", *(SANITIZE_FLAGS if sanitize else ()))
        name = f"buddy-{bug or 'ok'}{'-san' if sanitize else ''}"
        return str(build([SRC], out, name, defines=[f"BUG_{bug}"] if bug else [], flags=flags))
    return make


def first_finding(checker: Checker, config: ZoneConfig, seeds=range(6), n=3000) -> Finding | None:
    for seed in seeds:
        finding, _ = checker.run_seed(seed, config, n)
        if finding is not None:
            return finding
    return None


# -- the adapter ---------------------------------------------------------------------------------

def test_subprocess_adapter_speaks_the_protocol(alloc_bin):
    config = ZoneConfig(10, max_order=3)
    with SubprocessAllocator([alloc_bin(), "-d"], config) as a:
        assert a.free_blocks() == [(8, 1), (0, 3)]
        assert a.alloc(0) == 8  # __rmqueue_smallest: the order-1 block is split
        assert a.alloc(1) == 0
        a.free(8, 0)
        assert sorted(a.free_blocks()) == [(2, 1), (4, 2), (8, 1)]
        a.reset(ZoneConfig(5, max_order=1, reserved=1))
        assert sorted(a.free_blocks()) == [(1, 0), (2, 1), (4, 0)]
    with SubprocessAllocator([alloc_bin()], config) as a:
        assert a.free_blocks() is None  # 'unsupported'


def test_byte_addresses_map_to_pfns(alloc_bin):
    config = ZoneConfig(8, max_order=3, unit="bytes")
    with SubprocessAllocator([alloc_bin(), "-b"], config) as a:
        assert a.base % 4096 == 0 and a.base > 0
        assert a.alloc(1) == 0 and a.alloc(0) == 2
        a.free(2, 0)
        assert a.last_requests[-1] == f"free {a.base + 2 * 4096:#x} 0"


def test_crash_and_hang_are_reported_with_the_last_requests(alloc_bin):
    with SubprocessAllocator([alloc_bin("CRASH")], ZoneConfig(64, max_order=6)) as a:
        p = a.alloc(2)
        with pytest.raises(AllocatorCrashed) as info:
            a.free(p, 2)
        assert "SIGSEGV" in str(info.value) and info.value.last_requests[-1] == f"free {p} 2"
        a.reset()  # restarts the program
        assert a.alloc(0) is not None
    with SubprocessAllocator([alloc_bin("HANG")], ZoneConfig(64, max_order=6),
                             timeout=1.0) as a:
        t = time.monotonic()
        with pytest.raises(AllocatorHung, match="within 1 s"):
            a.alloc(0)  # splits the order-6 block for order 0: the planted hang
        # killed by the 1 s watchdog, not left to run: generous for a loaded machine
        assert time.monotonic() - t < 60 and not a.alive


# -- the checker ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, config, rule, dump", [
    ([], ZoneConfig(1000), "linux", False),
    (["-d"], ZoneConfig(4099), "weak", True),
    (["-b", "-m", "-d"], ZoneConfig(1000, reserved=3, unit="bytes"), "weak", True),
    (["-d"], ZoneConfig(3 * 4096 + 77, max_order=12), "linux", True),
    (["-d"], ZoneConfig(777, max_order=4, reserved=5), "weak", True),
], ids=["linux", "dump", "bytes-nonpow2-meta", "max-order-12", "max-order-4"])
def test_the_correct_allocator_runs_clean(alloc_bin, args, config, rule, dump):
    checker = Checker([alloc_bin(), *args], config=config, rule=rule, dump=dump)
    try:
        assert first_finding(checker, config, seeds=range(3)) is None
    finally:
        checker.close()


def test_metadata_in_the_arena_needs_reserved_pages(alloc_bin):
    config = ZoneConfig(1000, reserved=1, unit="bytes")
    checker = Checker([alloc_bin(), "-b", "-m"], config=config)
    try:  # a program that refuses the geometry is a setup error, not a finding
        with pytest.raises(SetupError, match=r"exited with status 2 before answering 'init "
                                             r"1000 10 1'.*needs 3 reserved pages"):
            first_finding(checker, config, seeds=[0])
    finally:
        checker.close()


CASES = [
    # bug, program options, zone, rule, dump, kinds accepted, longest reproducer
    ("BACKPTR", [], ZoneConfig(1000), "weak", False, ILLEGAL, 10),
    ("UPPER_ADDR", [], ZoneConfig(1000), "weak", False, ILLEGAL, 8),
    ("TOP_MERGE", [], ZoneConfig(4099), "weak", False, ILLEGAL, 3),
    ("MERGE_PARTIAL", [], ZoneConfig(1000), "weak", False, ILLEGAL, 12),
    ("PAST_END", [], ZoneConfig(1000), "weak", False, {"outside"}, 5),
    ("OFFSET_MULT", ["-b"], ZoneConfig(1000, unit="bytes"), "weak", False, {"misaligned"}, 3),
    ("WRONG_HALF", [], ZoneConfig(1000), "weak", False, {"overlap"}, 3),
    ("NO_MERGE", ["-d"], ZoneConfig(1000), "weak", True, {"free-blocks"}, 3),
    ("NO_MERGE", [], ZoneConfig(64, max_order=6), "weak", False, {"bad-failure"}, 12),
    ("LAZY_MERGE", ["-d"], ZoneConfig(1000), "weak", True, {"free-blocks"}, 3),
    ("CAP10", [], ZoneConfig(3 * 4096 + 77, max_order=12), "weak", False, {"bad-failure"}, 3),
    ("OOM_ABORT", [], ZoneConfig(1000), "weak", False, {"oom-abort"}, 3),
    ("CRASH", [], ZoneConfig(1000), "weak", False, {"crash"}, 3),
]


@pytest.mark.parametrize("bug, args, config, rule, dump, kinds, longest", CASES,
                         ids=[f"{c[0]}{'-dump' if c[4] else ''}" for c in CASES])
def test_planted_bugs_are_found_with_short_reproducers(alloc_bin, bug, args, config, rule, dump,
                                                       kinds, longest):
    checker = Checker([alloc_bin(bug), *args], config=config, rule=rule, dump=dump)
    try:
        finding = first_finding(checker, config)
        assert finding is not None, f"{bug} went unseen"
        assert finding.kind in kinds, finding.message
        small = checker.shrink(finding, time_limit=60)
    finally:
        checker.close()
    assert small.signature() == finding.signature()
    assert small.original_length == len(finding.stream)
    assert 1 <= len(small.stream) <= longest, [op.text() for op in small.stream]
    assert small.transcript and small.transcript[0][0].startswith("init ")


def test_what_the_weak_rule_cannot_see(alloc_bin):
    """Merging lazily at allocation time is legal under the weak rule: only the dump shows it;
    and a search that stops at order 10 is invisible while the top order is 10."""
    config = ZoneConfig(1000)
    checker = Checker([alloc_bin("LAZY_MERGE"), "-d"], config=config, dump=False)
    try:
        assert first_finding(checker, config, seeds=range(3)) is None
    finally:
        checker.close()
    checker = Checker([alloc_bin("CAP10")], config=config)
    try:
        assert first_finding(checker, config, seeds=range(3)) is None
    finally:
        checker.close()


def test_a_hang_is_a_finding(alloc_bin):
    config = ZoneConfig(64, max_order=6)
    checker = Checker([alloc_bin("HANG")], config=config, timeout=1.0)
    try:
        finding = first_finding(checker, config, seeds=[0])
        assert finding is not None and finding.kind == "hang"
        small = checker.shrink(finding, time_limit=30)
    finally:
        checker.close()
    assert len(small.stream) == 1 and small.stream[0] == Op("alloc", 0, small.stream[0].id)


def test_sanitizer_build_finds_a_memory_error_that_changes_no_result(alloc_bin):
    if not sanitizers_work():
        pytest.skip("this compiler cannot build and run -fsanitize=address,undefined programs")
    config = ZoneConfig(64, max_order=6)
    plain = Checker([alloc_bin("OVERFLOW")], config=config)
    try:
        assert first_finding(plain, config, seeds=range(2)) is None
    finally:
        plain.close()
    env = {"ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "halt_on_error=1",
           "PATH": "/usr/bin:/bin"}
    san = Checker([alloc_bin("OVERFLOW", sanitize=True)], config=config, env=env)
    try:
        finding = first_finding(san, config, seeds=range(2))
        assert finding is not None and finding.kind == "crash"
        assert "AddressSanitizer" in finding.message and "heap-buffer-overflow" in finding.stderr
        small = san.shrink(finding, time_limit=60)
    finally:
        san.close()
    assert len(small.stream) <= 4


@pytest.mark.slow
def test_shrinking_a_stream_of_thousands_of_operations(alloc_bin):
    """TOP_MERGE goes wrong only when a whole top-order block is freed and merged again,
    which random use reaches after a long while; the stream shrinks to three operations
    (alloc(9) splits a top block, its free merges it back under the wrong address, and
    alloc(10) hands that out)."""
    config = ZoneConfig(4099)
    checker = Checker([alloc_bin("TOP_MERGE")], config=config)
    try:
        finding, _ = checker.run_seed(6, config, 20000)
        assert finding is not None and len(finding.stream) >= 1000, finding
        small = checker.shrink(finding, time_limit=120)
    finally:
        checker.close()
    assert small.original_length == len(finding.stream)
    assert [(op.kind, op.order) for op in small.stream] == [("alloc", 9), ("free", 9),
                                                             ("alloc", 10)]
    assert small.kind == "unaligned"


def test_shrinking_keeps_allocations_that_frees_refer_to():
    ops = [Op("alloc", 0, 1), Op("alloc", 1, 2), Op("free", 0, 1), Op("free", 1, 2)]
    seen = []

    def fails(s):
        seen.append(s)
        return any(o.kind == "free" and o.id == 2 for o in s)
    assert shrink_stream(ops, fails) == [Op("alloc", 1, 2), Op("free", 1, 2)]
    assert all(close_stream(s) == s for s in seen)  # never a free without its allocation
    assert ddmin(list(range(10)), lambda s: 3 in s and 7 in s) == [3, 7]


# -- the command line ------------------------------------------------------------------------------

def test_kmem_check_command_finds_shrinks_saves_and_replays(alloc_bin, tmp_path, capsys):
    exe = alloc_bin("UPPER_ADDR")
    save = tmp_path / "found"
    rc = main(["check", "--seed", "1", "--seeds", "3", "--ops", "2000", "--quiet",
               "--save", str(save), "--", exe])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "FINDING 1: illegal result" in out and "shrunk from" in out and "by hand: printf" in out
    (path,) = save.glob("*.json")
    assert f"replay: kmem check --replay {path}\n" in out
    assert main(["check", "--replay", str(path)]) == 1  # the file names the program
    assert main(["check", "--replay", str(path), "--", alloc_bin()]) == 0
    out = capsys.readouterr().out
    assert "no finding" in out


def test_kmem_check_command_clean_run(alloc_bin, capsys):
    rc = main(["check", "--seed", "7", "--seeds", "3", "--ops", "1500", "--max-order", "11",
               "--npages", "61,2500", "--reserved", "3", "--dump", "--rule", "linux",
               "--", alloc_bin(), "-d"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "3 run(s), 4500 operations checked" in out and "no findings" in out


def test_kmem_check_usage_errors(capsys):
    assert main(["check", "--seeds", "1"]) == 2
    assert main(["check", "--npages", "8", "--reserved", "8", "--", "true"]) == 2
    assert "error" in capsys.readouterr().err
