"""`kmem conform`'s whole-path harness itself (kmem/fuzz/conform/path.py): the parts that
mutation testing found unchecked (issue 20): the streams it sends, the run's counters and
messages, the kernel side's protocol and crash report, the extraction and the build.

The streams are pinned by the kernel: each stream of :data:`STREAMS` was run through the
compiled mm/page_alloc.c of Debian's 6.12.118 and 6.1.192 (``kmem conform``'s harness), and
its whole transcript (every request line and the kernel's answer: result and state line) and
the rare branches the kernel took hash to :data:`RECORDED`. The fast tests run the same
streams through :func:`path_run` against a peer that answers path_harness.c's line protocol
from MtZone (which the slow conform tests hold equal to the kernel), so a changed stream, a
changed request or a miscounted branch shows here without a compiler; the slow test checks
that the kernel still gives the recorded transcripts (``python
tests/test_mutation_conform_path.py`` prints them again)."""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kmem.fuzz.conform import ConformError
from kmem.fuzz.conform import path as cpath
from kmem.fuzz.conform.path import (
    SHAPE_61,
    SHAPE_612,
    KernelPath,
    KernelSide,
    ModelSide,
    Op,
    PathAgreement,
    PathHarness,
    ShapeError,
    StreamConfig,
    build_path_harness,
    conform_path,
    directed_claim_steal,
    directed_merge_refused,
    extract_path,
    path_run,
    random_stream,
    stream_configs,
)

#: name -> (kernel line, zone, stream maker, operations run)
STREAMS: dict[str, tuple[str, StreamConfig, Callable[[StreamConfig], Iterator[Op]], int]] = {
    "random 6.12": ("6.12", StreamConfig(66_000, 2),
                    lambda c: random_stream(random.Random(7), c, 1 << 62), 4000),
    "random 6.12 pcp off": ("6.12", StreamConfig(16_500, 1, pcp=False),
                            lambda c: random_stream(random.Random(11), c, 1 << 62), 1500),
    "merge-refused 6.12": ("6.12", StreamConfig(66_000, 2),
                           lambda c: directed_merge_refused(c, random.Random(3), 1 << 62), 1400),
    "claim-steal 6.12": ("6.12", StreamConfig(66_000, 2),
                         lambda c: directed_claim_steal(c, random.Random(4), 1 << 62), 4000),
    "random 6.1": ("6.1", StreamConfig(33_000, 2),
                   lambda c: random_stream(random.Random(8), c, 1 << 62, decay=False), 3000),
}

#: recorded from the kernel (``python tests/test_mutation_conform_path.py``): name ->
#: (sha256 of the transcript, ops, allocations, failed allocations, events)
RECORDED: dict[str, tuple[str, int, int, int, dict[str, int]]] = {
    "random 6.12": (
        "00abdc3c7b56a19e661bbc3bb14a14175a0fa2b40c8d512ae7a110918c5e8886",
        4000, 2184, 0, {"claim": 76,
         "decay changed a pageset": 73,
         "highatomic reserve": 36,
         "highatomic unreserve": 35,
         "merge refused at pageblock order (HIGHATOMIC and MOVABLE)": 2,
         "pcp drained at the high mark": 181,
         "steal": 42}),
    "random 6.12 pcp off": (
        "ed9950f532b5c2fd880a4719ce378bf24509f84d312d888b6889b407ded8d358",
        1500, 1051, 193, {"claim": 45, "steal": 118}),
    "merge-refused 6.12": (
        "b92c54180cf8f23e27850e5816a15c3899fe378ccd200877cb65db6fcbca84fd",
        1400, 792, 0, {"claim": 3,
         "highatomic reserve": 2,
         "merge refused at pageblock order (HIGHATOMIC and UNMOVABLE)": 2,
         "pcp drained at the high mark": 84}),
    "claim-steal 6.12": (
        "7ef55cb815367afbb2deab32855780e0caecb5e548f8a70fd165ba5ced129c01",
        4000, 2522, 710, {"claim": 10, "pcp drained at the high mark": 144, "steal": 834}),
    "random 6.1": (
        "fa23fd93bdefd0a55b8fda4b9b0c6e725c976c453e038c6a66e304140e51d3c4",
        3000, 1636, 89, {"claim": 67,
         "highatomic reserve": 33,
         "highatomic unreserve": 66,
         "merge refused at pageblock order (HIGHATOMIC and RECLAIMABLE)": 2,
         "merge refused at pageblock order (HIGHATOMIC and UNMOVABLE)": 1,
         "pcp drained at the high mark": 168,
         "steal": 120}),
}

VERSIONS = {"6.12": "6.12.118", "6.1": "6.1.192"}


def _fake_harness(line: str) -> PathHarness:
    shape = SHAPE_612 if line == "6.12" else SHAPE_61
    kernel = KernelPath(VERSIONS[line], "recorded", shape, (), "", "")
    return PathHarness(kernel, Path("/nonexistent/harness"), True)


class Transcript:
    """Every request line and answer a stream's kernel side saw, in order."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.lines: list[str] = []

    def add(self, line: str, result: int, state: str) -> None:
        self.digest.update(f"{line}\n{result} {state}\n".encode())
        self.lines.append(line)


class ModelPeer:
    """Stands in for :class:`KernelSide`: the requests of path_harness.c's ``main()``
    (``i``, ``a``, ``f``, ``d``, ``y``, ``u``) answered from MtZone, each answer the result
    and the state line. ``plant(kind, result, state)`` may change an answer (a wrong
    peer)."""

    transcript: Transcript | None = None
    plant: Callable[[str, int, str], tuple[int, str]] | None = None

    def __init__(self, harness: PathHarness, config: StreamConfig) -> None:
        self.model = ModelSide(config, harness.kernel.shape.name, harness.kernel.version)
        wm = config.watermarks()
        self.init_line = (f"i {config.npages} {config.reserved} {config.ncpus} "
                          f"{int(config.pcp)} {wm[0]} {wm[1]} {wm[2]}")

    def request(self, line: str) -> tuple[int, str]:
        kind, *text = line.split()
        a = [int(x) for x in text]
        m = self.model
        result = 0
        if kind == "a":
            pfn = m.alloc(Op("alloc", order=a[0], mt=a[1], flags=a[2], cpu=a[3]))
            result = -1 if pfn is None else pfn
        elif kind == "f":
            m.free(a[0], a[1], a[2])
        elif kind == "d":
            m.drain(a[0])
        elif kind == "y":
            result = m.decay(a[0])
        elif kind == "u":
            result = m.unreserve(a[0], bool(a[1]))
        state = m.dump()
        if type(self).plant is not None:
            result, state = type(self).plant(kind, result, state)
        if type(self).transcript is not None:
            type(self).transcript.add(line, result, state)
        return result, state

    def requests(self, lines: list[str]) -> Iterator[tuple[int, str]]:
        for line in lines:
            yield self.request(line)

    def close(self) -> None:
        pass


class RecordingKernel(KernelSide):
    """The kernel's harness, its transcript kept."""

    transcript: Transcript | None = None

    def request(self, line: str) -> tuple[int, str]:
        result, state = super().request(line)
        assert self.transcript is not None
        self.transcript.add(line, result, state)
        return result, state

    def requests(self, lines: list[str]) -> Iterator[tuple[int, str]]:
        assert self.transcript is not None
        for line, (result, state) in zip(lines, super().requests(lines), strict=False):
            self.transcript.add(line, result, state)
            yield result, state


def run_stream(name: str, harness: PathHarness, side: type) -> tuple[PathAgreement, Transcript]:
    """One stream of :data:`STREAMS` through ``path_run`` with ``side`` as the kernel side."""
    _, config, make, n = STREAMS[name]
    transcript = Transcript()
    side.transcript = transcript
    saved = cpath.KernelSide
    cpath.KernelSide = side  # path_run makes its kernel side by this name
    try:
        a = PathAgreement()
        path_run(harness, config, make(config), a, invariants=100, limit=n)
    finally:
        cpath.KernelSide = saved
        side.transcript = None
    return a, transcript


def summary(a: PathAgreement, t: Transcript) -> tuple[str, int, int, int, dict[str, int]]:
    return t.digest.hexdigest(), a.ops, a.allocs, a.fails, dict(sorted(a.events.items()))


@pytest.mark.parametrize("name", list(STREAMS))
def test_each_stream_gives_the_kernels_recorded_transcript(name):
    a, t = run_stream(name, _fake_harness(STREAMS[name][0]), ModelPeer)
    assert a.agrees, "\n".join(a.divergence)
    assert summary(a, t) == RECORDED[name]


def test_the_recorded_streams_reach_the_rare_branches():
    """What the kernel did on the pinned streams (its recorded events): claims and steals,
    the highatomic reserve and unreserve, a merge refused at pageblock order, pcp drains
    at the high mark and decays (6.12.118 mm/page_alloc.c: try_to_steal_block,
    __rmqueue_steal, reserve_/unreserve_highatomic_pageblock, __free_one_page's
    migratetype check, free_unref_page_commit's nr_pcp_high, decay_pcp_high)."""
    events: set[str] = set()
    for name in STREAMS:
        events |= {e for e, n in RECORDED[name][4].items() if n}
    assert {"claim", "steal", "highatomic reserve", "highatomic unreserve",
            "merge refused at pageblock order (HIGHATOMIC and UNMOVABLE)",
            "pcp drained at the high mark", "decay changed a pageset"} <= events
    assert "decay changed a pageset" not in RECORDED["random 6.1"][4]


def _stream_lines(name: str) -> list[str]:
    _, t = run_stream(name, _fake_harness(STREAMS[name][0]), ModelPeer)
    return t.lines


def test_the_random_stream_sends_every_kind_of_request_and_flag():
    """A random stream reaches every request of the harness (path_harness.c main()) and
    each ALLOC_* bit both set and clear, orders 0 to MAX_PAGE_ORDER; with the pcp lists
    off, no ALLOC_KSWAPD (rmqueue's boosted-watermark wakeup is a pcp-zone path)."""
    lines = _stream_lines("random 6.12")
    kinds = {line[0] for line in lines}
    assert kinds == {"i", "a", "f", "d", "y", "u"}
    allocs = [list(map(int, line.split()[1:])) for line in lines if line[0] == "a"]
    assert {order for order, *_ in allocs} == set(range(11))
    for bit in (1, 2, 4, 8, 16):
        with_bit = sum(1 for _, _, flags, _ in allocs if flags & bit)
        assert 0 < with_bit < len(allocs), bit
    off = [int(line.split()[3]) for line in _stream_lines("random 6.12 pcp off")
           if line[0] == "a"]
    assert off and not any(flags & 16 for flags in off)


def test_default_stream_configs_cycle_sizes_and_cpus_with_pcp_on():
    assert stream_configs(4) == [StreamConfig(66_000, 1), StreamConfig(33_000, 2),
                                 StreamConfig(100_001, 4), StreamConfig(16_500, 1)]
    assert all(c.pcp for c in stream_configs(5))


@pytest.fixture
def peer(monkeypatch):
    """The model peer as the kernel side; ``plant`` makes it a wrong one."""
    def use(plant=None):
        monkeypatch.setattr(cpath, "KernelSide", ModelPeer)
        monkeypatch.setattr(ModelPeer, "plant", staticmethod(plant) if plant else None)
        return _fake_harness("6.12")
    return use


def test_conform_path_checks_the_invariants_as_often_as_asked(peer):
    harness = peer()
    a = conform_path(harness, seeds=1, ops=60, sizes=(16_500,), ncpus=(1,), invariants=0)
    assert a.agrees and a.ops == 240 and a.invariant_checks == 0  # 3 directed + 1 random
    a = conform_path(harness, seeds=1, ops=60, sizes=(16_500,), ncpus=(1,), invariants=20)
    assert a.agrees and a.invariant_checks == 12  # operations #0, #20 and #40 of each


def test_a_state_that_differs_at_boot_is_reported_as_such(peer):
    # the kernel's zone one free page richer at boot (NR_FREE_PAGES)
    harness = peer(lambda kind, result, state: (result, state.replace("Z:", "Z:1", 1))
                   if kind == "i" else (result, state))
    a = PathAgreement()
    path_run(harness, StreamConfig(16_500, 1), [Op("alloc")], a)
    assert a.states_differ == 1 and a.pfns_differ == 0 and a.ops == 0
    assert a.divergence[0].endswith("operation #-1 boot")
    assert a.divergence[1] == "zone counters (NR_FREE_PAGES, nr_free_highatomic, " \
        "nr_reserved_highatomic, watermark_boost, ZONE_BOOSTED_WATERMARK) differ at position 0:"
    assert a.divergence[-1] == "last operations: none"


@pytest.mark.parametrize("kind,name", [("y", "decay_pcp_high"),
                                       ("u", "unreserve_highatomic_pageblock")])
def test_a_different_decay_or_unreserve_answer_is_a_divergence(peer, kind, name):
    harness = peer(lambda k, result, state: (1 - result if k == kind else result, state))
    a = PathAgreement()
    path_run(harness, StreamConfig(16_500, 1),
             [Op("alloc", order=3, mt=1), Op("decay"), Op("unreserve", mt=0)], a)
    assert not a.agrees and a.states_differ == 0 and a.pfns_differ == 0
    assert f"{name} returned True in the kernel, False in kmem" in a.divergence


def _script(tmp_path: Path, body: str) -> PathHarness:
    """A stand-in harness binary (a Python script) for the kernel side's process."""
    exe = tmp_path / "harness"
    exe.write_text(f"#!{sys.executable}\nimport sys\n{body}")
    exe.chmod(0o755)
    return PathHarness(_fake_harness("6.12").kernel, exe, True)


def test_a_kernel_that_dies_at_boot_is_reported_with_its_stderr(tmp_path):
    harness = _script(tmp_path, "sys.stderr.write('harness: bad init\\n'); sys.exit(2)\n")
    a = PathAgreement()
    path_run(harness, StreamConfig(1024, 1, pcp=False), [Op("alloc")], a)
    assert "operation #0: the kernel's code died on 'i 1024 0 1 0 " in a.divergence[0]
    assert a.divergence[0].endswith("(exit 2)") and "harness: bad init" in a.divergence


def test_a_kernel_that_dies_mid_stream_is_reported_with_its_stderr(tmp_path):
    config = StreamConfig(1024, 1, pcp=False)
    boot = ModelSide(config, "6.12", "6.12.118").dump()
    harness = _script(tmp_path, f"sys.stdin.readline(); print('0 {boot}', flush=True)\n"
                                "sys.stdin.readline()\n"
                                "sys.stderr.write('harness: free of a block not allocated\\n')\n"
                                "sys.exit(3)\n")
    a = PathAgreement()
    path_run(harness, config, [Op("alloc"), Op("alloc")], a)
    assert a.divergence[0].endswith("operation #0: the kernel's code died on "
                                    "'a 0 0 0 0' (exit 3)")
    assert "harness: free of a block not allocated" in a.divergence


def test_closing_the_kernel_side_sends_the_quit_request(tmp_path):
    log = tmp_path / "got"
    harness = _script(tmp_path, f"open({str(log)!r}, 'w').write(sys.stdin.read())\n")
    side = KernelSide(harness, StreamConfig(1024, 1))
    side.close()
    assert log.read_text() == "q\n" and side.proc.returncode == 0  # path_harness.c: 'q' ends


def test_an_unknown_kernel_line_is_refused_naming_the_known_ones(tmp_path):
    with pytest.raises(ConformError, match=r"^kernel '5\.10': kmem conform knows 6\.12, 6\.1$"):
        build_path_harness("5.10", cache=tmp_path)


def _synthetic_tree(root: Path, extra: str = "", drop: str = "") -> Path:
    """A tree with every function of the 6.12 shape (empty bodies), its array and enum."""
    (root / "mm").mkdir(parents=True)
    (root / "include/linux").mkdir(parents=True)
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\n")
    (root / "include/linux/mmzone.h").write_text("/* mmzone */\n")
    (root / "mm/internal.h").write_text("/* internal */\n")
    parts = [f"static void {name}({params})\n{{\n}}\n" for name, params in SHAPE_612.functions
             if name != drop]
    if drop != "fallbacks":
        parts.append("static int fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1] = {\n};\n")
    if drop != "rmqueue_mode":
        parts.append("enum rmqueue_mode {\n\tRMQUEUE_NORMAL,\n};\n")
    (root / "mm/page_alloc.c").write_text("\n".join(parts) + extra)
    return root


def test_a_tree_of_the_known_shape_is_extracted_in_definition_order(tmp_path):
    tree = _synthetic_tree(tmp_path / "t")
    kernel = extract_path(tree)
    names = [name for name, _ in SHAPE_612.functions] + ["fallbacks", "rmqueue_mode"]
    assert kernel.shape is SHAPE_612 and kernel.version == "6.12.118"
    assert kernel.names == tuple(names)


def test_a_function_defined_twice_is_placed_where_it_is_first_defined(tmp_path):
    # (an #ifdef/#else pair with the same text): the first definition is the one the
    # extracted path keeps, at its place, so the functions after it that call it compile
    first = f"static void {SHAPE_612.functions[0][0]}({SHAPE_612.functions[0][1]})\n{{\n}}\n"
    tree = _synthetic_tree(tmp_path / "t", extra="\n#else\n" + first + "#endif\n")
    kernel = extract_path(tree)
    assert kernel.names[0] == SHAPE_612.functions[0][0]
    assert kernel.text.startswith(f"/* {SHAPE_612.functions[0][0]} */\n{first}")


@pytest.mark.parametrize("drop,kind", [("fallbacks", "array"), ("rmqueue_mode", "enum")])
def test_a_tree_without_the_shapes_array_or_enum_is_refused(tmp_path, drop, kind):
    tree = _synthetic_tree(tmp_path / "t", drop=drop)
    with pytest.raises(ShapeError, match=rf"{kind} {drop} not found in include/linux/mmzone.h, "
                                         rf"mm/internal.h, mm/page_alloc.c; the 6\.12 shape"):
        extract_path(tree)


# ---------------------------------------------------------------------------------------------
# The kernel (slow: a C compiler and the linux-source packages)
# ---------------------------------------------------------------------------------------------

def _kernel_harness(line: str) -> PathHarness:
    """The kernel's harness of ``line``, built as tests/test_conform_path.py builds it
    (skipped without a compiler or the source package)."""
    from .test_conform_path import _harness

    harness: PathHarness = _harness(line)
    return harness


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STREAMS))
def test_the_kernel_gives_the_recorded_transcript(name):
    harness = _kernel_harness(STREAMS[name][0])
    assert harness.kernel.version == VERSIONS[STREAMS[name][0]]
    a, t = run_stream(name, harness, RecordingKernel)
    assert a.agrees, "\n".join(a.divergence)
    assert summary(a, t) == RECORDED[name]


@pytest.mark.slow
def test_the_kernel_harness_ends_cleanly_on_the_quit_request():
    harness = _kernel_harness("6.12")
    side = KernelSide(harness, StreamConfig(16_500, 1))
    result, state = side.request(side.init_line)
    assert result == 0 and state.startswith("Z:")
    side.close()
    assert side.proc.returncode == 0  # path_harness.c main(): 'q' breaks out, return 0


@pytest.mark.slow
def test_a_cold_build_and_a_changed_driver_rebuild_the_harness(tmp_path, monkeypatch):
    """In an empty cache the harness is compiled (not reused), and a change to kmem's
    driver or shim builds a new binary (they are hashed with the kernel's text)."""
    _kernel_harness("6.12")
    first = build_path_harness("6.12", cache=tmp_path / "cache", log=lambda _line: None)
    assert not first.cached and first.binary.is_file()
    again = build_path_harness("6.12", cache=tmp_path / "cache", log=lambda _line: None)
    assert again.cached and again.binary == first.binary
    for name in ("path_shim.h", "path_harness.c"):
        here = tmp_path / name.replace(".", "_")
        here.mkdir()
        for f in ("path_shim.h", "path_harness.c"):
            (here / f).write_bytes((cpath.HERE / f).read_bytes())
        (here / name).write_text((here / name).read_text() + "\n/* changed */\n")
        monkeypatch.setattr(cpath, "HERE", here)
        changed = build_path_harness("6.12", cache=tmp_path / "cache", log=lambda _line: None)
        assert not changed.cached and changed.binary != first.binary, name


def _record() -> None:
    for name, (line, *_rest) in STREAMS.items():
        harness = build_path_harness(line, log=lambda _line: None)
        a, t = run_stream(name, harness, RecordingKernel)
        assert a.agrees, "\n".join(a.divergence)
        print(f"    {name!r}: {summary(a, t)!r},")


if __name__ == "__main__":
    _record()
