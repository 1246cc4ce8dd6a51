"""The proof suite: every obligation holds, the runner reports, and ``kmem prove`` works."""

from __future__ import annotations

import builtins
import json

import pytest

pytest.importorskip("z3")

from kmem.cli import main  # noqa: E402
from kmem.proofs import core, suite  # noqa: E402
from kmem.proofs.core import Obligation, Prover, Status, run_obligation  # noqa: E402


@pytest.fixture(scope="module")
def results():
    res, total = suite.run_suite()
    return {r.name: r for r in res}, total


@pytest.mark.proof
def test_every_obligation_holds(results):
    res, _ = results
    failed = {n: (r.status, r.counterexample, r.detail) for n, r in res.items() if not r.ok}
    assert failed == {}
    assert len(res) == len(suite.all_obligations()) >= 20


@pytest.mark.proof
def test_slide_reading_is_refuted_as_expected_with_per_bit_counterexample(results):
    r = results[0]["fault.slide-reads-like-sdm"]
    assert r.status is Status.EXPECTED_REFUTATION
    for bit in range(3):
        assert f"bit {bit} = " in r.counterexample
    assert results[0]["fault.slide-disagrees-every-bit"].status is Status.PROVED


def test_names_are_unique_and_claims_stated():
    obs = suite.all_obligations()
    assert len({o.name for o in obs}) == len(obs)
    assert all(len(o.claim) > 40 for o in obs)


def _solver_check(claim_holds: bool):
    import z3

    x = z3.BitVec("x", 8)

    def check(pr: Prover) -> None:
        pr.prove(z3.ULE(x & 0x0F, 0x0F) if claim_holds else z3.ULT(x, 200))
    return check


def test_result_kinds():
    proved = run_obligation(Obligation("t.p", "t", "claim", _solver_check(True)))
    assert proved.status is Status.PROVED and proved.ok
    refuted = run_obligation(Obligation("t.r", "t", "claim", _solver_check(False)))
    assert refuted.status is Status.REFUTED and not refuted.ok
    assert "x=0x" in refuted.counterexample
    expected = run_obligation(Obligation("t.e", "t", "claim", _solver_check(False), True))
    assert expected.status is Status.EXPECTED_REFUTATION and expected.ok
    unexpected = run_obligation(Obligation("t.u", "t", "claim", _solver_check(True), True))
    assert unexpected.status is Status.UNEXPECTED_PROOF and not unexpected.ok

    def crash(pr):
        raise RuntimeError("boom")
    err = run_obligation(Obligation("t.c", "t", "claim", crash))
    assert err.status is Status.ERROR and "boom" in err.detail


def test_the_wall_clock_guard_says_not_decided_never_failed():
    def slow(pr: Prover) -> None:
        pr.started -= 100  # the guard's time is already used up
        pr.prove(__import__("z3").BoolVal(True))
    r = run_obligation(Obligation("t.slow", "t", "claim", slow), timeout_s=1)
    assert r.status is Status.NOT_DECIDED and not r.ok
    assert "not a verdict" in r.detail
    line = suite.format_summary([r], 1.0, 10)
    assert "FAILED" not in line and "NOT DECIDED" in line and "t.slow" in line


def _hard_claim(pr: Prover) -> None:
    import z3

    x, y = z3.BitVecs("x y", 64)
    pr.prove(z3.Not(z3.And(x * y == 0x1234567, z3.UGT(x, 1), z3.UGT(y, 1))))


def test_a_used_up_resource_budget_is_unknown_and_a_failure():
    # z3's rlimit, not the clock, decides: a budget too small for the query is "unknown"
    # on any machine at any load
    r = run_obligation(Obligation("t.hard", "t", "claim", _hard_claim), rlimit=10_000)
    assert r.status is Status.UNKNOWN and not r.ok
    assert "resource budget of 10,000 z3 units used up" in r.detail
    assert r.rlimit >= 10_000
    ok = run_obligation(Obligation("t.hard", "t", "claim", _hard_claim))
    assert ok.status is Status.REFUTED and 10_000 < ok.rlimit < core.DEFAULT_RLIMIT


def test_resource_use_is_the_same_in_every_run():
    # each obligation runs in a fresh process, so its count of z3 resource units does
    # not depend on what ran before it (nor on the load): the verdict under the budget
    # is a function of the spec alone
    runs = [suite.run_suite("fault.decode", jobs=j)[0] for j in (1, 2)]
    counts = [{r.name: (r.status, r.rlimit) for r in res} for res in runs]
    assert counts[0] == counts[1]
    assert all(used > 0 for _status, used in counts[0].values())


def test_cli_prove_selected_with_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["prove", "-k", "gfp.", "--json", str(out), "-j", "1"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "gfp.zone-table-equals-rule" in text and "proved" in text
    assert "watermark" not in text
    data = json.loads(out.read_text())
    assert data["ok"] is True
    assert {o["name"] for o in data["obligations"]} == {"gfp.zone-table-equals-rule",
                                                        "gfp.zonelist-descends"}


def test_cli_prove_list_and_no_match(capsys):
    assert main(["prove", "--list", "-k", "layout"]) == 0
    assert "layout.pa-va-inverse" in capsys.readouterr().out
    assert main(["prove", "-k", "no-such-obligation"]) == 2
    assert "no obligation matches" in capsys.readouterr().err


def test_cli_prove_fails_on_refutation(monkeypatch, capsys):
    from kmem.proofs.mutants.catalog import MUTANTS
    mutant = next(m for m in MUTANTS if m.name == "zonelist-ascends")
    monkeypatch.setattr(suite, "all_obligations", mutant.build)
    assert main(["prove", "-k", "zonelist", "-j", "1"]) == 1
    out = capsys.readouterr().out
    assert "refuted" in out and "counterexample:" in out and "FAILED" in out


def test_cli_prove_without_z3_says_what_to_install(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_z3(name, *args, **kwargs):
        if name == "z3" or name.startswith("z3."):
            raise ImportError("No module named 'z3'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_z3)
    assert main(["prove"]) == 2
    assert "pip install 'kmem[proofs]'" in capsys.readouterr().err


def test_spec_imports_without_z3():
    import subprocess
    import sys
    code = ("import sys; sys.modules['z3'] = None\n"
            "import kmem.spec.buddy, kmem.spec.gfp, kmem.spec.watermarks, kmem.spec.x86_fault\n"
            "import kmem.cli; kmem.cli.build_parser()\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
