"""Mutation testing of kmem with mutmut 3: one command, full or sampled.

    python tools/mutation.py                  # sampled: 1 mutant in 128 of every module
    python tools/mutation.py --every 1        # full run: every mutant (a day on 2 cores)
    python tools/mutation.py --module spec.buddy --every 1   # one module in full
    python tools/mutation.py --survivors      # rerun the survivors (after new tests)
    python tools/mutation.py --report         # scores per module from the last runs
    python tools/mutation.py --module spec.pcp --tests tests/test_path_teeth.py ...
                                              # only these test files (a lower bound)
    python tools/mutation.py --module fuzz.conform.path --marks "slow or not slow" --tests ...
                                              # slow tests too (pytest -m)

mutmut names a mutant after the module path of its file, so the sources must be laid
out as they are imported: this script mirrors spec/, model/, fuzz/ and fastimpl/ into
``build/mutation/kmem/{spec,model,...}`` (with kmem/ and tests/), copying only changed
files, and runs ``mutmut run`` there with the ``[tool.mutmut]`` settings of
pyproject.toml. mutmut keeps its results in ``build/mutation/mutants``, so a rerun is
incremental: only mutants of changed functions (or never run) are tested again.

``--module`` also restricts which files mutmut mutates (the staged ``only_mutate``).
mutmut and its forked test runs get ``nice`` and a memory cap (``--mem-gib``) on top of
mutmut's CPU-time and wall-clock limits.

The sample is deterministic (a hash of the mutant's name), so two sampled runs test
the same mutants and ``--every 8 --part 3`` runs another eighth. The default sample
(one in 128, about 110 mutants) took 15 min on this project's loaded 2-core machine. Mutants judged
equivalent are listed with a reason in ``tools/mutation_equivalent.txt``; the report
counts them separately and exits non-zero if any other mutant survived.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "mutation"
#: repository folder -> where it lives in the staged tree (as imported)
LAYOUT = {"kmem": "kmem", "spec": "kmem/spec", "model": "kmem/model", "fuzz": "kmem/fuzz",
          "fastimpl": "kmem/fastimpl", "proofs": "kmem/proofs", "tests": "tests",
          "docs": "docs", "bench": "bench"}
#: top-level files the tests read
FILES = ("pyproject.toml", "README.md")
EQUIVALENT = ROOT / "tools" / "mutation_equivalent.txt"
KILLED, SURVIVED, NO_TESTS, TIMEOUT = "killed", "survived", "no tests", "timeout"


def sync() -> None:
    """Mirror the sources into the staged layout, touching only files that changed (mutmut
    compares modification times to decide what to regenerate)."""
    wanted: set[Path] = set()
    for src_name, dst_name in LAYOUT.items():
        src_root = ROOT / src_name
        if not src_root.is_dir():
            continue
        for src in src_root.rglob("*"):
            if "__pycache__" in src.parts or not src.is_file():
                continue
            rel = src.relative_to(src_root)
            if src_name == "kmem" and rel.parts[0] in LAYOUT:
                continue
            dst = STAGE / dst_name / rel
            wanted.add(dst)
            if not dst.exists() or dst.read_bytes() != src.read_bytes():
                dst.parent.mkdir(parents=True, exist_ok=True)
                # a new modification time: mutmut regenerates a file's mutants only when
                # its source is newer than them (copy2 would keep the checkout's time)
                shutil.copy(src, dst)
    for dst_name in set(LAYOUT.values()):
        for dst in (STAGE / dst_name).rglob("*"):
            if dst.is_file() and dst not in wanted and "__pycache__" not in dst.parts:
                dst.unlink()
    for name in FILES:
        src, dst = ROOT / name, STAGE / name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copy2(src, dst)


def select_tests(tests: list[str], marks: str | None = None) -> None:
    """Let mutmut run only ``tests`` (``pytest_add_cli_args_test_selection`` in the staged
    pyproject.toml): a mutant those tests miss may still be killed by another, so the
    score is a lower bound. For a loaded machine, where the whole fast tier (mutmut runs
    it once with tracing to map tests to functions) takes too long or a load-sensitive
    test fails that mapping run."""
    staged = STAGE / "pyproject.toml"
    text = staged.read_text()
    args = [a for t in tests for a in (("--deselect", t[1:]) if t.startswith("!") else (t,))]
    if marks:  # replaces the fast tier's -m of pytest's addopts
        args += ["-m", marks]
        # also in every run: mutmut runs a mutant's tests by node id without the selection
        # arguments, and addopts' -m would deselect the slow ones ("no tests")
        text = text.replace("pytest_add_cli_args = [",
                            f"pytest_add_cli_args = [\"-m\", {json.dumps(marks)}, ", 1)
    line = "pytest_add_cli_args_test_selection = " + json.dumps(args) + "\n"
    staged.write_text(text.replace("[tool.mutmut]\n", "[tool.mutmut]\n" + line, 1))


def restrict_to(modules: list[str]) -> None:
    """Let mutmut mutate (and trampoline) only the files of ``modules`` (all of
    ``only_mutate`` when empty): generating the mutants of every module takes minutes, and
    a file that is not mutated runs as written. When the set of mutated files changes,
    the newly mutated files get a fresh modification time (mutmut would otherwise take
    its plain copy of them for their mutants) and mutmut's map of tests to functions is
    dropped (it only records functions that had trampolines when it was made)."""
    staged = STAGE / "pyproject.toml"
    text = staged.read_text()
    if modules:
        globs = ["kmem/" + m.replace(".", "/") + ".py" for m in modules]
        missing = [g for g in globs if not (STAGE / g).is_file()]
        if missing:
            sys.exit(f"mutation.py: error: no such module: {', '.join(missing)}")
        lines = text.splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if line.startswith("only_mutate ="))
        lines[at] = "only_mutate = " + json.dumps(globs) + "\n"
        staged.write_text("".join(lines))
    import fnmatch
    import tomllib

    cfg = tomllib.loads(staged.read_text())["tool"]["mutmut"]
    mutated = sorted(
        str(f.relative_to(STAGE)) for f in (STAGE / "kmem").rglob("*.py")
        if any(fnmatch.fnmatch(str(f.relative_to(STAGE)), g) for g in cfg["only_mutate"])
        and not any(fnmatch.fnmatch(str(f.relative_to(STAGE)), g)
                    for g in cfg.get("do_not_mutate", [])))
    record = STAGE / "mutated-files.json"
    before = set(json.loads(record.read_text())) if record.exists() else None
    if before is not None and before != set(mutated):
        for name in set(mutated) - before:
            os.utime(STAGE / name)
        (STAGE / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    record.write_text(json.dumps(mutated))


def meta_files() -> list[Path]:
    return sorted((STAGE / "mutants").rglob("*.py.meta"))


def module_of(meta: Path) -> str:
    rel = meta.relative_to(STAGE / "mutants").with_suffix("").with_suffix("")
    return ".".join(rel.parts).removeprefix("kmem.")


def all_mutants() -> dict[str, str]:
    """mutant name -> module ("spec.buddy"), from mutmut's generated files."""
    out = {}
    for meta in meta_files():
        for name in json.loads(meta.read_text())["exit_code_by_key"]:
            out[name] = module_of(meta)
    return out


def survivors() -> list[str]:
    """Mutants that survived their last run (equivalent ones included: they are rerun
    too, so an equivalence that a new test disproves shows up), and those that no test
    reached then (a test added since may reach them)."""
    return [name for meta in meta_files()
            for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
            if status(code) in (SURVIVED, NO_TESTS)]


def verdicts() -> dict[Path, dict[str, int | None]]:
    return {meta: json.loads(meta.read_text())["exit_code_by_key"] for meta in meta_files()}


def restore(kept: dict[Path, dict[str, int | None]], rerun: set[str]) -> None:
    """Put back the verdicts that ``mutmut run`` dropped although their mutants were not
    rerun: mutmut forgets every verdict of the mutated files when the test selection
    changes (another module's ``--tests`` ran in between), and such a mutant would drop
    out of the report. Each verdict kept was reached with the tests of its own run (use
    the same ``--tests`` for a module and its ``--survivors``); a mutant of a changed
    function was reset when it was generated, before ``kept`` was read, and stays unrun."""
    for meta, before in kept.items():
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        back = {name: code for name, code in before.items()
                if code is not None and name not in rerun and codes.get(name, 0) is None}
        if back:
            codes.update(back)
            meta.write_text(json.dumps(data, indent=4))


def in_sample(name: str, every: int, part: int) -> bool:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") % every == part


#: per-process memory cap of mutmut and every test run it forks (bytes; set by --mem-gib)
MEMORY_CAP = 3 << 30


def _limits() -> None:
    """In the mutmut process, before it starts (its forked test runs inherit both): a
    lower priority, and a cap on the data segment, so that a mutant that makes a loop grow
    a list (one grew to 9 GB) fails with MemoryError instead of filling the machine.
    RLIMIT_DATA and not RLIMIT_AS: numba and numpy reserve address space they never use."""
    os.nice(max(0, 10 - os.nice(0)))  # niceness 10 (as `nice` gives), not 10 more
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_CAP, MEMORY_CAP))


def mutmut(*args: str) -> int:
    exe = Path(sys.executable).with_name("mutmut")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.call([str(exe), *args], cwd=STAGE, env=env, preexec_fn=_limits)


#: the first steps of ``mutmut run`` (mutmut 3.8's own functions): (re)generate the mutants
#: of new or changed files, without its test runs (``mutmut run`` with no matching mutant
#: would still run every selected test twice, to map tests and as a clean run)
GENERATE = """
from pathlib import Path
from mutmut.__main__ import copy_also_copy_files, copy_src_dir, create_mutants
from mutmut.mutation.trampoline import set_mutant_under_test
set_mutant_under_test("mutant_generation")
Path("mutants").mkdir(exist_ok=True)
copy_src_dir()
copy_also_copy_files()
s = create_mutants(1)
print(f"mutants: {s.mutated} files generated, {s.unmodified} unchanged, {s.ignored} not mutated")
"""


def generate() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", GENERATE], cwd=STAGE, env=env,
                         preexec_fn=_limits, check=True, stdout=subprocess.PIPE, text=True)
    print(out.stdout.splitlines()[-1])


def status(code: int | None) -> str | None:
    """mutmut's verdict for an exit code ("killed", "survived", "no tests", "timeout", ...);
    None when the mutant was not run yet."""
    from mutmut.stats import status_by_exit_code

    return None if code is None else status_by_exit_code[code]


def equivalents() -> dict[str, str]:
    out = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                out[name] = reason.strip()
    return out


def report() -> int:
    """Scores per module over the mutants run so far; non-zero exit if a mutant that is
    not listed as equivalent survived. A mutant whose tests ran past mutmut's time limit
    (an endless loop) was noticed: the score counts it with the killed ones, as mutmut's
    own score does, and the report shows how many ("t/o")."""
    equiv = equivalents()
    per: dict[str, Counter[str]] = {}
    survivors = []
    for meta in meta_files():
        module = module_of(meta)
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            st = status(code)
            if st is None:
                continue
            if st == SURVIVED and name in equiv:
                st = "equivalent"
            elif st == SURVIVED:
                survivors.append(name)
            per.setdefault(module, Counter())[st] += 1
    print(f"{'module':24} {'run':>5} {'killed':>6} {'t/o':>4} {'equiv':>5} {'surv':>5} "
          f"{'other':>5} score")
    for module, c in sorted(per.items()):
        run = sum(c.values())
        other = run - c[KILLED] - c[TIMEOUT] - c["equivalent"] - c[SURVIVED]
        judged = run - c["equivalent"]
        score = f"{100 * (c[KILLED] + c[TIMEOUT]) / judged:.1f}%" if judged else "-"
        print(f"{module:24} {run:5} {c[KILLED]:6} {c[TIMEOUT]:4} {c['equivalent']:5} "
              f"{c[SURVIVED]:5} {other:5} {score}")
    durations = [d for meta in meta_files()
                 for d in json.loads(meta.read_text()).get("durations_by_key", {}).values()]
    if durations:
        mean = sum(durations) / len(durations)
        total = len(all_mutants())
        print(f"{len(durations)} mutants timed, {mean:.1f} s each on average: a full run of "
              f"all {total} would take about {mean * total / 3600:.1f} h of worker time "
              f"(divide by the workers, --max-children)")
    for name in survivors:
        print("survived:", name)
    return 1 if survivors else 0


def main() -> int:
    global MEMORY_CAP
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=int, default=128, help="test 1 mutant in N (1: all)")
    ap.add_argument("--part", type=int, default=0, help="which 1-in-N share (0..N-1)")
    ap.add_argument("--module", action="append", default=[],
                    help="only this module (spec.buddy, model.zone, ...); repeatable")
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2,
                    help="parallel test runs (on a shared machine: 1)")
    ap.add_argument("--mem-gib", type=float, default=MEMORY_CAP / (1 << 30),
                    help="memory cap of each test run in GiB (RLIMIT_DATA; default %(default)s)")
    ap.add_argument("--survivors", action="store_true",
                    help="rerun only the mutants that survived (after adding tests)")
    ap.add_argument("--report", action="store_true", help="only print the scores")
    ap.add_argument("--tests", nargs="+", default=[],
                    help="only these test files or node ids, !NODEID to leave one out (the score "
                         "is a lower bound)")
    ap.add_argument("--marks", metavar="EXPR",
                    help="pytest -m expression for the selected tests (default: the fast tier's; "
                         "'slow or not slow' adds the slow tests)")
    args = ap.parse_args()
    if args.report:
        return report()
    MEMORY_CAP = int(args.mem_gib * (1 << 30))
    t0 = time.monotonic()
    STAGE.mkdir(parents=True, exist_ok=True)
    sync()
    if args.tests or args.marks:
        select_tests(args.tests, args.marks)
    if args.survivors:
        # the modules whose survivors are rerun are mutated (as in the run that left them)
        alive = set(survivors())
        left = {n: module for n, module in all_mutants().items() if n in alive
                and (not args.module or module in args.module)}
        if not left:
            print("no survivors to rerun")
            return report()
        restrict_to(sorted(set(left.values())))
    else:
        restrict_to(args.module)
    generate()  # the mutants of new or changed files (incremental)
    if args.survivors:
        names = [n for n in survivors() if n in left]
    else:
        names = [n for n, mod in all_mutants().items()
                 if (not args.module or mod in args.module)
                 and in_sample(n, args.every, args.part)]
    print(f"{len(names)} mutants selected of {len(all_mutants())}")
    if names:
        kept = verdicts()
        mutmut("run", "--max-children", str(args.max_children), *names)
        restore(kept, set(names))
    print(f"wall time {time.monotonic() - t0:.0f} s")
    return report()


if __name__ == "__main__":
    sys.exit(main())
