"""What a new user hits (issue 13): every test runs the installed ``kmem`` entry point and
checks exit status, stdout and stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from kmem import __version__

from .conftest import KMEM_SCRIPT


def no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout


# -- the command line as a whole ---------------------------------------------------------------

def test_version(kmem_cli):
    done = kmem_cli("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"kmem {__version__}\n", "")


def test_ctrl_c_exits_quietly_with_130(tmp_path):
    """Ctrl-C reaches the whole foreground process group (parent and proof workers)."""
    pytest.importorskip("z3")
    proc = subprocess.Popen([str(KMEM_SCRIPT), "prove", "-j", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "KMEM_PROGRESS": "off"})
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == ""
    assert out.startswith("obligation ") and "Traceback" not in out


# -- kmem prove ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "soon"])
def test_prove_timeout_must_be_finite_and_positive(kmem_cli, value):
    done = kmem_cli("prove", "-k", "layout", "--timeout", value)
    assert done.returncode == 2 and done.stdout == ""
    assert "kmem prove: error: argument --timeout:" in done.stderr
    no_traceback(done)


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_prove_jobs_must_be_positive(kmem_cli, value):
    done = kmem_cli("prove", "-k", "layout", "-j", value)
    assert done.returncode == 2 and done.stdout == ""
    assert "kmem prove: error: argument -j/--jobs:" in done.stderr


def test_prove_json_path_checked_before_the_work(kmem_cli, tmp_path):
    pytest.importorskip("z3")
    started = time.monotonic()
    done = kmem_cli("prove", "--json", str(tmp_path / "missing" / "out.json"))
    assert time.monotonic() - started < 60  # refused at once, not after the whole suite
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"kmem prove: error: cannot write --json {tmp_path}/missing/out.json: "
                           "No such file or directory\n")
    done = kmem_cli("prove", "--json", str(tmp_path))
    assert done.returncode == 2 and "is not a file name" in done.stderr
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind


def test_prove_rows_as_they_finish_and_status_lines(kmem_cli, tmp_path):
    pytest.importorskip("z3")
    out = tmp_path / "r.json"
    done = kmem_cli("prove", "-k", "layout", "-j", "1", "--json", str(out),
                    env={"KMEM_PROGRESS": "plain", "KMEM_PROGRESS_INTERVAL": "0"})
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("obligation") and set(lines[1]) == {"-"}
    assert [ln.split()[0] for ln in lines[2:4]] == ["layout.regions-partition",
                                                     "layout.pa-va-inverse"]
    assert lines[-1].startswith("2 of 2 obligations hold")
    err = done.stderr.splitlines()
    assert err[0].startswith("kmem prove: 0/2 obligations done")
    assert err[0].endswith("running layout.regions-partition")
    assert any(e.startswith("kmem prove: 2/2 obligations done") for e in err)
    assert json.loads(out.read_text())["ok"] is True


def test_crosshair_honours_k_json_and_speaks_for_itself(kmem_cli, tmp_path):
    pytest.importorskip("crosshair")
    out = tmp_path / "ch.json"
    done = kmem_cli("prove", "--crosshair", "-k", "find_buddy", "--json", str(out),
                    "--diff-iterations", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("crosshair diffbehavior kmem.proofs.crosshair_targets."
                                  "find_buddy_bits kmem.proofs.crosshair_targets."
                                  "find_buddy_plain: clean\n")
    assert "crosshair check" not in done.stdout  # -k chose one run
    assert "--max_uninteresting_iterations" not in done.stdout
    assert "search longer with kmem prove --crosshair --diff-iterations N" in done.stdout
    assert "CrossHair: no counterexamples (1 runs" in done.stdout
    report = json.loads(out.read_text())
    assert report["ok"] is True and [r["what"] for r in report["runs"]] == [
        "crosshair diffbehavior kmem.proofs.crosshair_targets.find_buddy_bits "
        "kmem.proofs.crosshair_targets.find_buddy_plain"]
    listed = kmem_cli("prove", "--crosshair", "--list")
    assert listed.returncode == 0 and listed.stdout.count("crosshair check kmem.spec.") == 5
    none = kmem_cli("prove", "--crosshair", "-k", "no-such-check")
    assert none.returncode == 2
    assert none.stderr == "kmem prove: error: no CrossHair check matches 'no-such-check'\n"
