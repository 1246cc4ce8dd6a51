"""``kmem fuzz`` turns a crash or a hang of the implementation under test into a finding
with a reproducer (issue 18 item 3): the workers run in child processes under a
watchdog, each keeps a journal of what it runs, and the journal's unit is confirmed
in a fresh process. The planted bugs are in compiled code (:mod:`kmem.fuzz.mutants.
compiled`): a wild store that kills the process with SIGSEGV, a loop that never ends."""

from __future__ import annotations

import io
import json

import pytest

pytest.importorskip("numba")

from kmem.fuzz import isolate  # noqa: E402
from kmem.fuzz import ops as O  # noqa: E402
from kmem.fuzz.campaign import replay_entry, run_campaign  # noqa: E402
from kmem.fuzz.configs import MachineConfig  # noqa: E402
from kmem.spec import gfp as g  # noqa: E402

CONFIG = MachineConfig("generic", 1024)
# an order-3 block from the bottom of the zone, then one more: the second is the upper
# buddy of the first (pfn 8), whose free the wild-store mutant turns into a SIGSEGV
UNIT = {"kind": "bulk", "config": json.loads(json.dumps(CONFIG.to_json())),
        "ops": [[O.ALLOC, 0, g.GFP_KERNEL, 3], [O.ALLOC, 1, g.GFP_KERNEL, 3], [O.FREE, 1]]}


def test_a_probe_tells_clean_crash_and_hang_apart():
    assert isolate.probe(UNIT, ["model@lowest"], 60) == isolate.OK
    assert isolate.probe(UNIT, ["mutant:compiled_wild_store@lowest"], 60) == isolate.CRASH
    # the endless loop starts when the upper buddy is handed out (operation 1)
    assert isolate.probe(UNIT, ["mutant:compiled_endless_loop@lowest"], 1) == isolate.HANG


def test_the_journal_holds_the_running_unit(tmp_path):
    j = isolate.Journal(tmp_path / "j")
    j.stream(CONFIG, [tuple(op) for op in UNIT["ops"]])
    assert isolate.read_journal(tmp_path / "j") == UNIT
    j.start_trace()
    j.step("boot", {"config": CONFIG, "swarm": frozenset({"alloc"})})
    j.step("alloc", {"gfp": 0xCC0, "order": 3})
    j.f.write('["free", {"i"')  # a line cut short by the crash
    j.f.flush()
    unit = isolate.read_journal(tmp_path / "j")
    assert unit is not None and unit["kind"] == "stateful"
    assert [name for name, _ in unit["trace"]] == ["boot", "alloc"]


@pytest.mark.fuzz
def test_a_crash_in_compiled_code_is_a_finding_with_a_reproducer(tmp_path):
    out = io.StringIO()
    res = run_campaign(seconds=120, seed=1, impls="model,mutant:compiled_wild_store",
                       corpus=tmp_path, shrink_seconds=3, out=out)
    f = res.failure
    assert f is not None and f.kind == "crash", out.getvalue()
    assert "killed by signal 11" in f.text and "confirmed in a fresh process" in f.text
    assert "Runnable reproducer" in f.text
    (saved,) = tmp_path.iterdir()
    entry = json.loads(saved.read_text())
    assert entry["kind"] == "crash"
    replay_entry(entry, "model")  # clean on the model
    with pytest.raises(AssertionError, match="still ends in a crash"):
        replay_entry(entry, "mutant:compiled_wild_store")


@pytest.mark.fuzz
def test_a_hang_in_compiled_code_is_a_finding(tmp_path):
    out = io.StringIO()
    res = run_campaign(seconds=120, seed=1, impls="model,mutant:compiled_endless_loop",
                       corpus=None, shrink_seconds=0, hang_s=4.0, out=out)
    f = res.failure
    assert f is not None and f.kind == "hang", out.getvalue()
    assert "killed by signal 9" in f.text and "Runnable reproducer" in f.text
