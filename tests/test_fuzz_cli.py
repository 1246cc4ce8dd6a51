"""``kmem fuzz``: clean runs, failures with reproducers and corpus entries, workers, replay."""

from __future__ import annotations

import json

import pytest

from kmem.fuzz.campaign import replay_entry, run_campaign


def test_a_clean_campaign_prints_seed_and_counts(kmem_cli, tmp_path):
    # a box of 1 s may end inside the opening sweep (it did under load): still clean
    r = kmem_cli("fuzz", "--time", "1", "--seed", "5", "--corpus", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "seed 5" in r.stdout
    assert "checked operations" in r.stdout and ": clean" in r.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.fuzz
def test_a_planted_bug_fails_the_run_saves_and_replays(kmem_cli, tmp_path):
    corpus = tmp_path / "corpus"
    r = kmem_cli("fuzz", "--time", "40", "--seed", "2", "--shrink-seconds", "10", "--no-sweep",
                 "--impl", "model,mutant:split_keeps_upper_half", "--corpus", str(corpus))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Runnable reproducer" in r.stdout and "FAILED" in r.stdout
    (saved,) = corpus.iterdir()
    entry = json.loads(saved.read_text())
    # the entry replays clean on the model and fails on the mutant
    ok = kmem_cli("fuzz", "--replay", str(saved), "--impl", "model")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = kmem_cli("fuzz", "--replay", str(saved), "--impl", "mutant:split_keeps_upper_half")
    assert bad.returncode == 1 and "fails" in bad.stderr
    replay_entry(entry, "model")
    # the printed reproducer is runnable Python
    code = r.stdout.split("Runnable reproducer:", 1)[1].split("saved to the regression", 1)[0]
    with pytest.raises(AssertionError):
        exec(compile(code, "<reproducer>", "exec"), {})


@pytest.mark.fuzz
def test_workers_share_a_directory_database(tmp_path):
    db = tmp_path / "db"
    first = run_campaign(seconds=40, seed=9, workers=2, impls="model,mutant:zonelist_upwards",
                         db=str(db), corpus=None, shrink_seconds=5, sweep=False,
                         out=open(tmp_path / "o1", "w"))
    assert first.failure is not None
    assert any(db.rglob("*")), "the failing example was not stored in the shared database"
    # a second campaign with the same database replays the failure first
    again = run_campaign(seconds=40, seed=10, workers=1, impls="model,mutant:zonelist_upwards",
                         db=str(db), corpus=None, shrink_seconds=5, bulk=False,
                         sweep=False, out=open(tmp_path / "o2", "w"))
    assert again.failure is not None and again.examples <= 3


def test_list_mutants(kmem_cli):
    r = kmem_cli("fuzz", "--list-mutants")
    assert r.returncode == 0 and r.stdout.count("mutant:") >= 12


def test_bad_impl_name_is_an_error(kmem_cli):
    r = kmem_cli("fuzz", "--time", "1", "--impl", "nosuch")
    assert r.returncode == 2 and "unknown implementation 'nosuch'" in r.stderr
