"""Packaging: one namespace `kmem`, every sub-package in the wheel, no top-level spec/model."""

import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"kmem": "kmem", "spec": "kmem/spec", "model": "kmem/model",
           "fastimpl": "kmem/fastimpl", "fuzz": "kmem/fuzz", "proofs": "kmem/proofs"}
TOP_LEVEL = ("spec", "model", "fastimpl", "fuzz", "proofs")


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_no_top_level_packages_importable(name):
    # the double-import trap: `import spec` must fail, only `kmem.spec` exists
    assert importlib.util.find_spec(name) is None


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_namespace_packages_importable(name):
    module = importlib.import_module(f"kmem.{name}")
    assert Path(module.__file__).resolve().parent == ROOT / name


def expected_packages() -> set[str]:
    out = set()
    for folder, target in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "__pycache__" not in rel.parts:
                out.add("/".join((target, *rel.parts)))
    return out


def test_wheel_contains_every_subpackage_and_nothing_top_level(tmp_path):
    # the PEP 517 hook that pip would call (pyproject's build-backend, in the source tree as
    # `pip wheel --no-build-isolation` runs it), without pip's own start-up and resolver
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["build-backend"]
    build = subprocess.run(
        [sys.executable, "-c", f"import sys, {backend} as b; b.build_wheel(sys.argv[1])",
         str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("kmem-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    assert expected_packages() <= packages, expected_packages() - packages
    tops = {n.split("/", 1)[0] for n in names}
    assert not tops & set(TOP_LEVEL)
    assert "kmem/spec/buddy.py" in names and "kmem/model/api.py" in names
    assert "kmem/py.typed" in names  # PEP 561: the annotations are part of the package
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "kmem = kmem.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_spec_and_model_need_no_third_party_package():
    code = (
        "import importlib, pkgutil, sys\n"
        "import kmem.spec, kmem.model, kmem.cli\n"
        "for info in pkgutil.iter_modules(kmem.spec.__path__):\n"
        "    importlib.import_module('kmem.spec.' + info.name)\n"
        "import kmem.model.api\n"
        "third = sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)"
        " - {'kmem', '__main__', '_distutils_hack'} - {m for m in sys.modules if m.startswith('__editable__')})\n"
        "print(third)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
