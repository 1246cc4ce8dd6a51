"""`kmem check` through the installed command, against tests/allocators/pybuddy.py (a
correct buddy allocator in Python with switches for setup mistakes and planted bugs):
setup errors are not findings, --keep-going reports every kind from its shortest
stream, --reserved's false alarm says what to do, start-up is not a hang, a reproducer
file alone reruns its command and environment, and `reset` keeps one process."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

PYBUDDY = [sys.executable, str(Path(__file__).parent / "allocators" / "pybuddy.py")]


def check(kmem_cli, *args: str, program: list[str] | None = None, **kwargs):
    """``kmem check --quiet ARGS -- PROGRAM`` (tests that may find something give ``cwd``
    or ``--save``: reproducers go to ./.kmem-check by default)."""
    return kmem_cli("check", "--quiet", *args, "--", *(program or PYBUDDY), **kwargs)


@pytest.mark.parametrize("program, extra, said", [
    (["true"], [], r"true exited with status 0 before answering 'init 64 10 0'"),
    ([*PYBUDDY, "--banner"], [], r"answer to 'init 64 10 0' was 'pybuddy 1.0 ready'.*"
                                  r"own output lines must start with '#'"),
    ([*PYBUDDY, "--refuse-below", "100"], [], r"exited with status 2 before answering "
                                               r"'init 64 10 0'.*too small"),
    ([*PYBUDDY, "--base-in-pages", "4096"], [], r"was 'ok 4096': a base address, but page "
                                                 r"numbers were asked for \(use --unit bytes"),
    ([*PYBUDDY, "--slow-start", "6"], ["--startup-timeout", "1", "--timeout", "1"],
     r"did not answer 'init 64 10 0' within 1 s of its start \(--startup-timeout\)"),
], ids=["exits-at-once", "banner", "refuses-geometry", "base-in-page-mode", "slow-start"])
def test_setup_mistakes_are_setup_errors_not_findings(kmem_cli, tmp_path, program, extra, said):
    save = tmp_path / "found"
    r = check(kmem_cli, "--seeds", "2", "--ops", "50", "--npages", "64", "--save", str(save),
              *extra, program=program)
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith("kmem check: error: ") and re.search(said, line), line
    assert "FINDING" not in r.stdout and not save.exists()  # no reproducer of nothing


def test_bad_programs_are_named_setup_errors(kmem_cli, tmp_path):
    script = tmp_path / "driver.sh"
    script.write_text("#!/bin/sh\necho ok\n")  # not executable
    for program, said in [(str(tmp_path / "nonexistent"), "no such file"),
                          (str(script), "permission denied (is it executable?"),
                          (str(tmp_path), "it is a directory")]:
        r = check(kmem_cli, program=[program])
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr == f"kmem check: error: cannot run {program!r}: {said}" + (
            " chmod +x, or name its interpreter)" if "permission" in said else "") + "\n"


def _seed_lines(out: str) -> dict[str, int]:
    """Each kind's shortest failing stream, from the per-seed lines."""
    shortest: dict[str, int] = {}
    for kind, index in re.findall(r"FINDING (\w[\w-]*) at operation #(\d+)", out):
        shortest[kind] = min(shortest.get(kind, 1 << 30), int(index) + 1)
    return shortest


def test_keep_going_reports_each_kind_from_its_shortest_stream(kmem_cli, tmp_path):
    # two bugs: an unaligned order-6 block in large zones, a double hand-out in small ones
    args = ["--seed", "1", "--seeds", "6", "--ops", "1000", "--npages", "64,4099",
            "--save", str(tmp_path)]
    prog = [*PYBUDDY, "--bug", "two-kinds", "--reset"]
    r = kmem_cli("check", *args, "--keep-going", "--no-shrink", "--", *prog)
    assert r.returncode == 1, r.stdout + r.stderr
    shortest = _seed_lines(r.stdout)
    assert set(shortest) == {"unaligned", "overlap"}
    reported = re.findall(r"FINDING \d+: .* \[(\w+)\]\n(?:.*\n)*?  reproducer: (\d+) operation",
                          r.stdout)
    assert sorted(reported) == sorted((k, str(n)) for k, n in shortest.items())
    # shrinking keeps each finding's own kind
    r = kmem_cli("check", *args, "--keep-going", "--", *prog)
    assert sorted(re.findall(r"FINDING \d+: .* \[(\w+)\]", r.stdout)) == ["overlap",
                                                                         "unaligned"]
    r = kmem_cli("check", *args, "--", *prog)  # without --keep-going: the first only
    assert r.returncode == 1 and len(re.findall(r"FINDING \d+:", r.stdout)) == 1


def test_reserved_pages_and_data_aligned_allocators(kmem_cli, tmp_path):
    # metadata in the first 2 pages, blocks aligned to the first data page: with --reserved
    # that is 'unaligned' by the protocol's rule, and the report says what to do instead
    meta = [*PYBUDDY, "--unit-bytes", "--meta", "2"]
    r = check(kmem_cli, "--seed", "1", "--seeds", "1", "--ops", "300", "--unit", "bytes",
              "--reserved", "2", "--no-shrink", program=meta, cwd=tmp_path)
    assert r.returncode == 1 and "[unaligned]" in r.stdout
    assert "hint: with --reserved 2, blocks must be aligned to the arena's page 0" in r.stdout
    assert "answer 'ok BASE' to init with the address of that first data page" in r.stdout
    # answering the data area's address as BASE, without --reserved: clean
    r = check(kmem_cli, "--seed", "1", "--seeds", "2", "--ops", "800", "--unit", "bytes",
              "--dump", program=[*meta, "--base-at-data"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout


@pytest.mark.slow  # sleeps: a 2.5 s start-up, a 0.5 s hang twice
def test_slow_start_is_not_a_hang_and_a_hang_names_timeout(kmem_cli, tmp_path):
    r = check(kmem_cli, "--seed", "1", "--seeds", "2", "--ops", "200", "--timeout", "1",
              program=[*PYBUDDY, "--slow-start", "2.5"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = check(kmem_cli, "--seed", "1", "--seeds", "1", "--ops", "300", "--timeout", "0.5",
              "--no-shrink", program=[*PYBUDDY, "--hang-order", "2"], cwd=tmp_path)
    assert r.returncode == 1 and "[hang]" in r.stdout
    assert "within 0.5 s" in r.stdout
    assert "hint: each answer may take --timeout seconds (now 0.5)" in r.stdout


def test_a_reproducer_file_alone_reruns_its_command_and_environment(kmem_cli, tmp_path):
    save = tmp_path / "found"
    r = check(kmem_cli, "--seed", "1", "--seeds", "1", "--ops", "500", "--npages", "64",
              "--env", "PYBUDDY_BUG=two-kinds", "--save", str(save),
              program=[*PYBUDDY, "--reset"])
    assert r.returncode == 1 and "[overlap]" in r.stdout
    (path,) = save.glob("*.json")
    data = json.loads(path.read_text())
    assert data["command"] == [*PYBUDDY, "--reset"]
    assert data["env"]["PYBUDDY_BUG"] == "two-kinds"
    assert f"replay: kmem check --replay {path}\n" in r.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = kmem_cli("check", "--replay", str(path), cwd=elsewhere)
    assert r.returncode == 1 and "[overlap]" in r.stdout, r.stdout + r.stderr
    # the same command without the stored environment is clean: the file carried it
    del data["env"]["PYBUDDY_BUG"]
    path.write_text(json.dumps(data))
    r = kmem_cli("check", "--replay", str(path), cwd=tmp_path)
    assert r.returncode == 0 and "no finding" in r.stdout, r.stdout


def test_byte_address_findings_label_pfns_and_give_no_stale_printf(kmem_cli, tmp_path):
    r = check(kmem_cli, "--seed", "2", "--seeds", "1", "--ops", "500", "--npages", "4099",
              "--unit", "bytes", "--env", "PYBUDDY_BUG=two-kinds",
              program=[*PYBUDDY, "--unit-bytes", "--random-base"], cwd=tmp_path)
    assert r.returncode == 1 and "[unaligned]" in r.stdout
    base = re.search(r"init 4099 10 0 +< ok (0x[0-9a-f]+)", r.stdout).group(1)
    assert f"pfn = (address - {base}) / 4096" in r.stdout
    assert "by hand: not with --unit bytes" in r.stdout and "printf" not in r.stdout


@pytest.mark.parametrize("resettable", [True, False])
def test_reset_in_place_keeps_one_process(kmem_cli, tmp_path, resettable):
    log = tmp_path / "starts"
    prog = [*PYBUDDY, "--bug", "two-kinds", *(["--reset"] if resettable else [])]
    shrink = [] if resettable else ["--no-shrink"]  # shrinking restarts it hundreds of times
    r = check(kmem_cli, "--seed", "1", "--seeds", "3", "--ops", "300", "--npages", "64",
              "--keep-going", "--save", str(tmp_path), "--env", f"PYBUDDY_LOG={log}",
              *shrink, program=prog)
    assert r.returncode == 1
    starts = len(log.read_text().splitlines())
    if resettable:  # 3 runs and the shrink's replays, in one process
        assert starts == 1 and re.search(r"\(\d{2,} replays, 1 program starts\)", r.stdout)
    else:  # a new process for each of the 3 runs and the recorded replay
        assert starts == 4, r.stdout


def test_a_relative_command_replays_where_it_ran(kmem_cli, tmp_path):
    home, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    driver = home / "driver"
    driver.write_text(f"#!/bin/sh\nexec {' '.join(PYBUDDY)} --bug two-kinds --reset\n")
    driver.chmod(0o755)
    r = check(kmem_cli, "--seed", "1", "--seeds", "1", "--ops", "500", "--npages", "64",
              "--save", str(tmp_path / "found"), program=["./driver"], cwd=home)
    assert r.returncode == 1 and "[overlap]" in r.stdout, r.stdout + r.stderr
    (path,) = (tmp_path / "found").glob("*.json")
    r = kmem_cli("check", "--replay", str(path), cwd=elsewhere)  # ./driver is in project/
    assert r.returncode == 1 and "[overlap]" in r.stdout, r.stdout + r.stderr
    r = kmem_cli("check", "--replay", str(path), "--", *PYBUDDY, cwd=elsewhere)
    assert r.returncode == 0 and "no finding" in r.stdout  # the named program, no bug
