"""Every command with bad inputs: missing, empty, truncated and binary files, directories
where files belong, programs that do not exist or cannot run, absurd numbers. Each must
end with exit status 2 and one `kmem CMD: error: ...` line (argparse's usage lines may
come first), never a traceback.

The table runs twice: in-process through ``kmem.cli.main`` (fast tier: any exception
escaping main fails the test), and through the installed ``kmem`` command (``slow``:
one process per row)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmem.cli import main

from .conftest import run_kmem

FILES = ("missing", "empty", "truncated", "binary", "directory")


@pytest.fixture
def bad(tmp_path) -> dict[str, str]:
    """Paths of each kind of bad file, and of bad programs."""
    (tmp_path / "empty").write_text("")
    (tmp_path / "truncated").write_text('{"config": {"npages": 64}, "ops": [["alloc", 1')
    (tmp_path / "binary").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "directory").mkdir()
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho ok\n")
    return {**{kind: str(tmp_path / kind) for kind in FILES},
            "not-executable": str(script), "root": str(tmp_path)}


def cases(bad: dict[str, str]) -> list[list[str]]:
    rows: list[list[str]] = []
    for kind in FILES:
        f = bad[kind]
        rows += [
            ["check", "--replay", f, "--", "true"],
            ["check", "--replay", f],
            ["fuzz", "--replay", f],
            ["trace", "check", f],
            ["trace", "stats", f],
        ]
    # a /proc directory with one bad file each
    for kind in ("empty", "truncated", "binary"):
        proc = Path(bad["root"]) / f"proc-{kind}"
        (proc / "sys" / "vm").mkdir(parents=True, exist_ok=True)
        data = Path(bad[kind]).read_bytes()
        (proc / "zoneinfo").write_bytes(data)
        (proc / "buddyinfo").write_bytes(data)
        rows += [[cmd, "--from-proc", str(proc)]
                 for cmd in ("zoneinfo", "buddyinfo", "pagetypeinfo")]
    for where in (bad["missing"], bad["empty"], bad["directory"]):
        rows += [[cmd, "--from-proc", where] for cmd in ("zoneinfo", "buddyinfo")]
    rows += [
        # programs that cannot run, or do not speak the protocol
        ["check", "--", bad["missing"]],
        ["check", "--", bad["not-executable"]],
        ["check", "--", bad["directory"]],
        ["check", "--seeds", "1", "--ops", "10", "--", "true"],
        ["check", "--seeds", "1", "--ops", "10", "--", "echo", "banner"],
        ["check", "--env", "NOEQUALS", "--", "true"],
        # outputs that cannot be written
        ["slab", "--svg", bad["directory"]],
        ["slab", "--svg", ""],
        ["vmmap", "--svg", bad["directory"]],
        ["vmmap", "--svg", str(Path(bad["missing"]) / "x.svg")],
        ["conform", "--cache", bad["empty"], "--seeds", "1", "--ops", "10"],
        # absurd numbers
        ["buddyinfo", "--cpus", "99999999999"],
        ["zoneinfo", "--mem-mb", "99999999999999"],
        ["zoneinfo", "--min-free-kbytes", "999999999999"],
        ["slab", "--objects", "99999999999999"],
        ["slab", "--size", "99999999999999"],
        ["slabinfo", "--alloc", "99999999999x1"],
        ["slabinfo", "--alloc", "100x99999999"],
        ["gfp", "0x" + "f" * 40],
        ["decode-pf", "0x" + "f" * 40],
        ["vmmap", "--addr", "0x" + "f" * 40],
        ["demo", "--pages", "99999999999"],
        ["check", "--npages", "0", "--", "true"],
        ["check", "--timeout", "nan", "--", "true"],
        ["zoneinfo", "--kernel", "x.y"],
        ["zoneinfo", "--kernel", "2.6.11"],
        ["kmalloc", "-5"],
    ]
    return rows


def _check_error(argv: list[str], rc: int, err: str) -> str | None:
    """What is wrong with the outcome, or None."""
    if "Traceback" in err:
        return f"traceback: {err[-800:]}"
    if rc != 2:
        return f"exit status {rc}, not 2: {err[-300:]}"
    last = err.strip().splitlines()[-1] if err.strip() else ""
    if not last.startswith(f"kmem {argv[0]}: error: "):
        return f"last stderr line is not 'kmem {argv[0]}: error: ...': {last!r}"
    return None


def test_no_traceback_in_process(bad, capsys, monkeypatch):
    """Every row through ``kmem.cli.main``: an exception escaping it is a traceback."""
    monkeypatch.setenv("KMEM_PROGRESS", "off")
    problems = []
    for argv in cases(bad):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:  # noqa: BLE001 - exactly what must never happen
            problems.append(f"{' '.join(argv)}: {type(exc).__name__}: {exc}")
            continue
        err = capsys.readouterr().err
        why = _check_error(argv, rc, err)
        if why:
            problems.append(f"{' '.join(argv)}: {why}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow  # one kmem process per row
def test_no_traceback_from_the_installed_command(bad):
    problems = []
    for argv in cases(bad):
        done = run_kmem(*argv, timeout=120)  # the entry point, usage errors included
        why = _check_error(argv, done.returncode, done.stderr)
        if why:
            problems.append(f"{' '.join(argv)}: {why}")
    assert not problems, "\n".join(problems)


def test_fuzz_without_its_extra_is_a_one_line_error(kmem_cli, tmp_path):
    # a hypothesis package that cannot be imported, ahead of the installed one
    (tmp_path / "hypothesis").mkdir()
    (tmp_path / "hypothesis" / "__init__.py").write_text("raise ImportError('blocked')\n")
    done = kmem_cli("fuzz", "--time", "1", env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr == ("kmem fuzz: needs Hypothesis (the fuzz extra): install it with "
                           "pip install 'kmem[fuzz]'\n")


def test_fuzz_saves_findings_into_a_kmem_checkout_only(tmp_path):
    from kmem.commands.fuzz import default_corpus

    other = tmp_path / "other-project"
    (other / "tests" / "fuzz_corpus").mkdir(parents=True)
    (other / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert default_corpus(other) == "kmem-fuzz-corpus"  # not another project's tests/
    assert default_corpus(Path(__file__).resolve().parents[1]) == "tests/fuzz_corpus"
