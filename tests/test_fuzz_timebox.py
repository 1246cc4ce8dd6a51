"""``kmem fuzz``'s time box (issue 20 items 1 and 3): a box that runs out is not a finding,
every stage gets its share, the counts say what was checked, Hypothesis stays quiet.

No test here depends on the machine's speed: the campaign's clock is swapped for this
process's CPU time (:class:`CpuClock`), so a loaded machine only makes it slower in wall
time, never changes what a box of N seconds holds."""

from __future__ import annotations

import io
import time
import types

import pytest

from kmem.fuzz import campaign
from kmem.fuzz.campaign import Progress, run_campaign, worker_loop


class CpuClock(types.SimpleNamespace):
    """A stand-in for the ``time`` module inside :mod:`kmem.fuzz.campaign`: monotonic()
    counts this process's CPU seconds, so the time box is independent of the load."""

    def __init__(self) -> None:
        super().__init__(perf_counter=time.perf_counter, sleep=time.sleep, time=time.time,
                         process_time=time.process_time)

    @staticmethod
    def monotonic() -> float:
        return time.process_time()


@pytest.fixture
def cpu_clock(monkeypatch):
    from kmem.fuzz import path

    clock = CpuClock()
    monkeypatch.setattr(campaign, "time", clock)
    monkeypatch.setattr(path, "time", clock)  # the whole-path stage gets the turn's end


def test_a_box_that_ends_inside_the_opening_sweep_is_clean(cpu_clock):
    # the deadline has passed before the first step: the sweep's first check stops it,
    # which used to escape as a TimeUp traceback (kmem fuzz --time 1 under load)
    reports: list[Progress] = []
    fail = worker_loop(0, 5, time.process_time() - 1.0, ["model@lowest", "model@linux"], None,
                       reports.append)
    assert fail is None
    res = run_campaign(seconds=1e-3, seed=5, impls="model", corpus=None, out=io.StringIO())
    assert res.ok and res.failure is None


@pytest.mark.parametrize("arg", ["--time=0", "--time=-1", "--bulk-share=5",
                                 "--shrink-seconds=-5", "--seed=-1", "--workers=0"])
def test_numbers_out_of_range_are_usage_errors(kmem_cli, arg):
    r = kmem_cli("fuzz", arg)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    name = arg.split("=")[0]
    assert r.stderr.strip().splitlines()[-1].startswith(f"kmem fuzz: error: argument {name}")


def test_every_stage_gets_its_share_and_is_counted(cpu_clock):
    out = io.StringIO()
    res = run_campaign(seconds=2.5, seed=7, impls="model", corpus=None, out=out)
    t = res.totals
    assert res.ok, out.getvalue()
    assert t.sweep_steps > 0 and t.steps > 0 and t.examples > 0
    assert t.bulk_streams > 0 and t.bulk_ops > 0 and res.bulk_ops == t.bulk_ops
    assert set(t.stage_seconds) == {"sweep", "stateful", "bulk", "path"}
    assert t.path_streams > 0 and t.path_ops > 0
    # the bulk runner has a second lane only with two implementations of one policy
    summary = out.getvalue().strip().splitlines()[-1]
    assert f"{t.steps} checked steps" in summary and f"{t.sweep_steps} checked steps" in summary
    assert f"{t.bulk_ops} operations" in summary and summary.endswith(": clean")
    # the state machine and the bulk runner split what the sweep leaves about evenly
    sec = t.stage_seconds
    assert 0.3 < sec["bulk"] / (sec["bulk"] + sec["stateful"]) < 0.7, sec


def test_bulk_only_and_state_machine_only(cpu_clock):
    res = run_campaign(seconds=0.4, seed=3, impls="model", corpus=None, stateful=False,
                       path=False, out=io.StringIO())
    assert res.ok and res.totals.bulk_ops > 0 and res.totals.steps == 0
    assert set(res.totals.stage_seconds) == {"bulk"}
    res = run_campaign(seconds=0.5, seed=3, impls="model", corpus=None, bulk=False,
                       sweep=False, path=False, out=io.StringIO())
    assert res.ok and res.totals.steps > 0 and res.totals.bulk_ops == 0


def test_progress_moves_during_a_state_machine_turn(cpu_clock):
    seen: list[int] = []
    fail = worker_loop(0, 11, time.process_time() + 1.0, ["model@lowest", "model@linux"], None,
                       lambda p: seen.append(p.checks), bulk=False, sweep=False, path=False)
    assert fail is None
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] > seen[0]


def test_no_hypothesis_chatter_on_a_clean_run(cpu_clock, capsys):
    # a turn cut in the middle of an example used to print Hypothesis's
    # "You can reproduce this failure by adding @seed(...)" while the summary said clean
    out = io.StringIO()
    res = run_campaign(seconds=0.4, seed=2, impls="model", corpus=None, bulk=False, sweep=False,
                       path=False, out=out)
    captured = capsys.readouterr()
    text = out.getvalue() + captured.out + captured.err
    assert res.ok
    assert "You can reproduce" not in text and "PLEASE REPORT" not in text
    assert "@seed" not in text


def test_a_slow_first_example_does_not_starve_the_state_machine(cpu_clock, monkeypatch):
    # a CI run counted 1 example and 0 steps for the state machine in a 2.5 s box: its
    # one turn's example had not settled a step when the turn's hard stop came. Every
    # boot here costs more CPU than a turn and its overrun; each turn must still settle
    # one step (within the campaign's box)
    from kmem.fuzz import machine as machine_mod

    class SlowLane(machine_mod.Lane):
        def __init__(self, *a, **kw):
            t0 = time.process_time()
            while time.process_time() - t0 < 0.1:
                pass
            super().__init__(*a, **kw)

    monkeypatch.setattr(machine_mod, "Lane", SlowLane)  # two lanes: 0.2 s per boot
    monkeypatch.setattr(campaign, "slice_seconds", lambda total: 0.1)
    reports: list[Progress] = []
    fail = worker_loop(0, 4, time.process_time() + 0.7, ["model@lowest", "model@linux"], None,
                       reports.append, bulk=False, sweep=False, path=False)
    assert fail is None
    assert reports[-1].examples >= 2 and reports[-1].steps >= 2, reports[-1]


def test_the_whole_path_deck_deals_the_same_streams_whatever_the_other_stages_drew(
        cpu_clock, monkeypatch):
    # the deck draws from a generator of its own (PathDeck.seeded): the whole-path
    # streams must not depend on how many turns the state machine and the bulk runner had
    # in between (the load decides that), so a seed that catches a bug catches it again
    from kmem.fuzz import path

    real = path.path_stream_for

    def dealt(**stages: bool) -> list[tuple]:
        seen: list[tuple] = []

        def record(config, seed, n, prelude=None):
            seen.append((config, seed, prelude))
            return real(config, seed, n, prelude)

        def clean(config, ops, impls, **kw):  # no run: only what the deck deals counts
            return path.PathReport(ops=len(ops), config=config)

        monkeypatch.setattr(path, "path_stream_for", record)
        monkeypatch.setattr(path, "run_path_stream", clean)
        monkeypatch.setattr(campaign, "slice_seconds", lambda total: 0.1)  # many turns
        fail = worker_loop(0, 9, time.process_time() + 0.5, ["model"], None, lambda p: None,
                           sweep=False, **stages)
        assert fail is None
        return seen

    mixed = dealt()  # the state machine and the bulk runner draw between the path turns
    alone = dealt(stateful=False, bulk=False)
    assert len(mixed) >= 2 * len(path.PATH_DECK)  # two rounds: the second one shuffled
    assert alone[:len(mixed)] == mixed
