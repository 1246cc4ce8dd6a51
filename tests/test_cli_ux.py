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
    # a terminal's Ctrl-C reaches a process whose SIGINT is at its default; a test run
    # started in the background of a shell without job control inherits SIGINT ignored
    # (POSIX), and Python then keeps it ignored, so restore the default in the child
    proc = subprocess.Popen([str(KMEM_SCRIPT), "prove", "-j", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "KMEM_PROGRESS": "off"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    header = proc.stdout.readline()  # printed before the workers start
    assert header.startswith("obligation ")
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == ""
    assert "Traceback" not in out


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
    done = kmem_cli("prove", "--json", str(tmp_path / "missing" / "out.json"))
    assert done.returncode == 2 and done.stdout == ""  # no table: refused before any work
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


# -- kmem demo -----------------------------------------------------------------------------------

@pytest.mark.parametrize("pages", list(range(1, 16)))
def test_demo_on_tiny_zones_shows_the_failures(kmem_cli, pages):
    done = kmem_cli("demo", "--pages", str(pages))
    assert done.returncode == 0 and done.stderr == ""
    out = done.stdout
    assert "-> NULL" in out and "page allocation failure: order:" in out
    assert "nothing to free, the allocation of" in out
    assert "allocation(s) failed: a zone of" in out
    assert "buddy invariants: all hold" in out


def test_demo_policies_differ_and_say_so(kmem_cli):
    linux, lowest = kmem_cli("demo"), kmem_cli("demo", "--policy", "lowest")
    assert linux.returncode == lowest.returncode == 0
    assert linux.stdout != lowest.stdout
    assert "F = alloc_pages(order 0) -> pfn 2" in linux.stdout
    assert "F = alloc_pages(order 0) -> pfn 0" in lowest.stdout
    assert "policy 'lowest' would take pfn 0" in linux.stdout
    assert "policy 'linux' would take pfn 2" in lowest.stdout
    for done in (linux, lowest):  # everything merges back at the end
        assert done.stdout.rstrip().endswith(
            "Node 0, zone   Normal      0      0      0      0      0      1      0      0"
            "      0      0      0")


@pytest.mark.parametrize("pages", ["0", "-4", "1025", "lots"])
def test_demo_refuses_sizes_it_cannot_draw(kmem_cli, pages):
    done = kmem_cli("demo", "--pages", pages)
    assert done.returncode == 2 and done.stdout == "" and "kmem demo: error: " in done.stderr
    no_traceback(done)


# -- sizes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--mem-mb", "99999999999"], "mem_mb 99999999999 is more than x86_64 can address: 2**52"),
    (["--preset", "x86_32", "--mem-mb", "65537"], "is more than x86_32 can address: 2**36"),
    (["--preset", "generic", "--pages", str(2**40 + 1)], "more than the generic machine can"),
])
def test_sizes_beyond_the_architecture_are_refused(kmem_cli, args, message):
    done = kmem_cli("buddyinfo", *args, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("kmem buddyinfo: error: ") and message in done.stderr


def test_largest_machine_boots_quickly(kmem_cli):
    done = kmem_cli("buddyinfo", "--mem-mb", str(2**32), timeout=60)  # 4 PB
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines()[2].split()[-1] == str((2**52 - 2**32) // 2**22)


# -- --from-proc ---------------------------------------------------------------------------------

@pytest.fixture
def proc_dir(tmp_path):
    from .test_from_proc import REAL_BUDDYINFO, REAL_ZONEINFO, SYSCTLS
    (tmp_path / "sys" / "vm").mkdir(parents=True)
    (tmp_path / "zoneinfo").write_text(REAL_ZONEINFO)
    (tmp_path / "buddyinfo").write_text(REAL_BUDDYINFO)
    for name, text in SYSCTLS.items():
        (tmp_path / "sys" / "vm" / name).write_text(text)
    return tmp_path


def test_from_proc_boots_with_progress_lines(kmem_cli, proc_dir):
    from .test_from_proc import REAL_BUDDYINFO
    done = kmem_cli("buddyinfo", "--from-proc", str(proc_dir),
                    env={"KMEM_PROGRESS": "plain", "KMEM_PROGRESS_INTERVAL": "0"})
    assert done.returncode == 0 and done.stdout == REAL_BUDDYINFO
    err = done.stderr.splitlines()
    assert err[0].startswith("kmem buddyinfo --from-proc: 0/2 steps done")
    assert err[0].endswith(f"running reading {proc_dir}/zoneinfo, buddyinfo and sys/vm/*")
    assert "running checking the watermarks and placing the free blocks" in done.stderr
    assert err[-1].startswith("kmem buddyinfo --from-proc: 2/2 steps done")
    quiet = kmem_cli("buddyinfo", "--from-proc", str(proc_dir),
                     env={"KMEM_PROGRESS": "plain", "KMEM_PROGRESS_INTERVAL": "600"})
    assert quiet.returncode == 0 and quiet.stderr == ""  # quick: no status line


@pytest.mark.parametrize("extra", [["--preset", "x86_32"], ["--mem-mb", "8192"],
                                   ["--pages", "64"], ["--vmsplit", "2G"],
                                   ["--movablecore-mb", "512"]])
def test_from_proc_refuses_preset_options(kmem_cli, proc_dir, extra):
    done = kmem_cli("zoneinfo", "--from-proc", str(proc_dir), *extra)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"kmem zoneinfo: error: --from-proc boots the machine that {proc_dir} "
                           f"describes, so {extra[0]} cannot apply; drop it (--min-free-kbytes "
                           "does apply)\n")


def test_from_proc_applies_min_free_kbytes_after_boot(kmem_cli, proc_dir):
    from kmem.model import Machine

    from .test_from_proc import REAL_BUDDYINFO, REAL_ZONEINFO, SYSCTLS
    m = Machine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, SYSCTLS, allow_free_mismatch=True)
    m.setup_watermarks(min_free_kbytes=8192, lowmem_reserve_ratio=m.lowmem_reserve_ratio)
    done = kmem_cli("zoneinfo", "--from-proc", str(proc_dir), "--min-free-kbytes", "8192")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == m.zoneinfo() and "min      68\n" not in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--preset", "generic", "--mem-mb", "64"], "--mem-mb applies to --preset x86_64 or x86_32 only"),
    (["--pages", "64"], "--pages applies to --preset generic only, not x86_64"),
    (["--preset", "x86_64", "--vmsplit", "2G"], "--vmsplit applies to --preset x86_32 only"),
    (["--preset", "x86_32", "--movablecore-mb", "64"], "--movablecore-mb applies to --preset x86_64"),
])
def test_preset_options_that_do_not_apply_are_refused(kmem_cli, args, message):
    done = kmem_cli("buddyinfo", *args)
    assert done.returncode == 2 and done.stdout == "" and message in done.stderr


def test_truncated_zoneinfo_says_truncated(kmem_cli, proc_dir):
    from .test_from_proc import REAL_ZONEINFO
    cut = REAL_ZONEINFO[:REAL_ZONEINFO.index("Node 0, zone    DMA32")]
    (proc_dir / "zoneinfo").write_text(cut)
    done = kmem_cli("buddyinfo", "--from-proc", str(proc_dir))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("kmem buddyinfo: error: node 0 has 1 zone block(s), but its protection "
                           "lines have 5 entries, one per zone: the zoneinfo text looks truncated "
                           "(the kernel prints every zone of every node); give the whole "
                           "/proc/zoneinfo\n")
    (proc_dir / "zoneinfo").write_text(REAL_ZONEINFO[:REAL_ZONEINFO.index("        managed")])
    done = kmem_cli("buddyinfo", "--from-proc", str(proc_dir))
    assert done.returncode == 2 and "the text looks truncated (it ends inside" in done.stderr


def test_from_proc_with_a_binary_file(kmem_cli, proc_dir):
    (proc_dir / "zoneinfo").write_bytes(b"\xff\xfe\x00garbage")
    done = kmem_cli("buddyinfo", "--from-proc", str(proc_dir))
    assert done.returncode == 2 and done.stderr.startswith("kmem buddyinfo: error: cannot read ")
    no_traceback(done)


# -- one number reader; vmmap inputs ---------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["0b1100", "0o14", "12", "0xc", "0x0C", "1_2", "012"])
def test_gfp_reads_every_base(kmem_cli, spelling):
    done = kmem_cli("gfp", spelling)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("mask: 0xc (modern numbering)\n")


@pytest.mark.parametrize("spelling", ["0b111", "7", "0x7", "0o7", "07"])
def test_decode_pf_reads_every_base(kmem_cli, spelling):
    done = kmem_cli("decode-pf", spelling, "--address", "0b1000000000000")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("error code 0x7 = X86_PF_PROT|X86_PF_WRITE|X86_PF_USER\n")
    assert "segfault at 1000 ip" in done.stdout


def test_vmmap_bad_address_prints_nothing_but_the_error(kmem_cli):
    done = kmem_cli("vmmap", "--addr", "0xZZ")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("kmem vmmap: error: cannot read address '0xZZ'; expected a number "
                           "such as 31, 0x1f, 0o37 or 0b11111\n")
    done = kmem_cli("vmmap", "--addr", "0x100000000")
    assert (done.returncode, done.stdout) == (2, "") and "not in 0..0xffffffff" in done.stderr
    done = kmem_cli("vmmap", "--era", "2.6.11", "--addr", "0b11111111100000000000000000000000")
    assert done.returncode == 0 and "0xff800000 is in pkmap" in done.stdout


def test_vmmap_svg_needs_a_name(kmem_cli, tmp_path):
    done = kmem_cli("vmmap", "--svg", "", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "kmem vmmap: error: --svg needs a file name, got ''\n"
    assert list(tmp_path.iterdir()) == []
    done = kmem_cli("vmmap", "--split", "all", "--svg", "x.svg", cwd=tmp_path)
    assert done.returncode == 2 and "not --split all" in done.stderr
    done = kmem_cli("vmmap", "--svg", str(tmp_path / "map.svg"))
    assert done.returncode == 0 and done.stdout.endswith(f"\nwrote {tmp_path}/map.svg\n")
    assert (tmp_path / "map.svg").read_text().startswith("<svg ")


def test_prove_out_of_time_says_how_to_give_more(kmem_cli):
    pytest.importorskip("z3")
    done = kmem_cli("prove", "-k", "inductive.free", "--timeout", "0.5", "-j", "1")
    # the wall-clock guard is a last resort: what it stops is "not decided", not failed
    assert done.returncode == 1 and done.stderr == ""
    assert "buddy.inductive.free  not decided (wall clock)" in done.stdout
    assert ("not a verdict: the machine was too slow; give more, e.g. kmem prove "
            "--timeout 2)") in done.stdout
    assert "FAILED" not in done.stdout and "NOT DECIDED" in done.stdout
