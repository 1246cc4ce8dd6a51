"""Install the top-level folders as one namespace: spec/ -> kmem.spec, model/ -> kmem.model, ...

Sub-packages are discovered here (any folder holding __init__.py), so the wheel
always carries every one of them; tests/test_packaging.py checks that it does.
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
FOLDERS = {"kmem": "kmem", "spec": "kmem.spec", "model": "kmem.model",
           "fastimpl": "kmem.fastimpl", "fuzz": "kmem.fuzz", "proofs": "kmem.proofs"}


def discover() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder, name in FOLDERS.items():
        package_dir[name] = folder
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            if "__pycache__" in rel.parts:
                continue
            packages.append(".".join((name, *rel.parts)) if rel.parts else name)
    return packages, package_dir


PACKAGES, PACKAGE_DIR = discover()

setup(packages=PACKAGES, package_dir=PACKAGE_DIR,
      package_data={name: ["*.md", "*.json", "py.typed", "*.c", "*.h"] for name in PACKAGES})
