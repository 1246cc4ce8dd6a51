"""Docs say what is true (issue 13): docstring examples run, texts say what their sources are,
claims match their obligations, the README's example runs."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("z3", "crosshair", "numba", "numpy", "hypothesis", "rich")


PACKAGES = ("kmem", "kmem.spec", "kmem.model", "kmem.fastimpl", "kmem.fuzz", "kmem.proofs")


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # an optional extra that is not installed
        if exc.name and exc.name.split(".")[0] in OPTIONAL:
            return None
        raise


def kmem_modules():
    """Every module of the installed packages (each top folder is its own package path)."""
    seen = set()
    for package in PACKAGES:
        root = _import(package)
        if root is None:
            continue
        names = [package] + [info.name for info in
                             pkgutil.walk_packages(root.__path__, package + ".")]
        for name in names:
            if name in seen or ".mutants" in name or name == "kmem.__main__":
                continue  # planted bugs on purpose; __main__ runs the CLI
            seen.add(name)
            module = _import(name)
            if module is not None:
                yield module


def test_every_docstring_example_runs():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    attempted = 0
    for module in kmem_modules():
        for test in finder.find(module):
            result = runner.run(test, out=lambda _text: None)
            assert result.failed == 0, f"{test.name}: a docstring example fails (run doctest)"
            attempted += result.attempted
    assert attempted >= 12  # the examples in spec.buddy, spec.gfp, the CLI helpers


def test_doctest_catches_a_wrong_example():
    wrong = doctest.DocTestParser().get_doctest(
        ">>> from kmem.spec.buddy import find_buddy_pfn\n>>> find_buddy_pfn(8, 3)\n8\n",
        {}, "wrong", None, 0)
    assert doctest.DocTestRunner().run(wrong, out=lambda _text: None).failed == 1


def test_readme_python_example_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "the README has a Python example"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README


TEXTS = [p for p in [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"),
                     *(q for d in ("spec", "model", "kmem", "proofs", "fuzz", "fastimpl")
                       for q in (ROOT / d).rglob("*.py"))]
         if "mutants" not in p.parts]


def test_sources_are_named_in_words():
    """'the seed slide' or a bare 'figure 1.2' means nothing to a reader without the slides:
    the README says once what the lecture slides are, and the texts say 'the lecture slides'."""
    bad = []
    for path in TEXTS:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bseed(?:'s| slides?\b|-slide)", line, re.I):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
            elif re.search(r"\bfig(?:ure|\.) \d+\.\d+", line, re.I) and path.name != "README.md":
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert bad == []
    readme = (ROOT / "README.md").read_text()
    assert "kmem began from classic lecture material on Linux memory management" in readme
    assert 'its "set" and "not set" columns are swapped' in readme


def test_fuzz_package_says_what_it_holds():
    import kmem.fuzz
    assert "not built yet" not in kmem.fuzz.__doc__.lower()
    assert "kmem.fuzz.oracle" in kmem.fuzz.__doc__


def test_oracle_docstring_names_real_parameters():
    import inspect

    from kmem.fuzz import oracle
    params = set(inspect.signature(oracle.ZoneOracle).parameters)
    for name in re.findall(r"``(\w+)=``", oracle.__doc__):
        assert name in params, f"kmem.fuzz.oracle documents {name}=, which ZoneOracle lacks"


def test_free_obligation_claims_no_allocation():
    pytest.importorskip("z3")
    from kmem.proofs import suite
    claims = {ob.name: ob.claim for ob in suite.all_obligations()}
    assert "allocation" not in claims["buddy.inductive.free"]
    assert claims["buddy.inductive.alloc"].count("the allocation is legal") == 1
