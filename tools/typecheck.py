"""Type-check kmem with mypy, as installed: ``python tools/typecheck.py``.

The wheel maps spec/ to kmem.spec, model/ to kmem.model and so on (setup.py); mypy
cannot follow the editable install's import hook, so this script lays the package out
as it is imported, with symbolic links under ``build/typecheck/kmem/``, and runs mypy
on ``-p kmem`` with the ``[tool.mypy]`` settings of pyproject.toml (strict on
kmem.spec; typed public API on kmem.model and kmem.fuzz). Paths in mypy's messages
are under build/typecheck/kmem/: ``spec/buddy.py`` is ``.../kmem/spec/buddy.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "typecheck"
SUBPACKAGES = ("spec", "model", "fuzz", "fastimpl", "proofs")


def lay_out() -> None:
    pkg = TREE / "kmem"
    pkg.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in (ROOT / "kmem").iterdir() if p.name != "__pycache__"}
    wanted.update({name: ROOT / name for name in SUBPACKAGES if (ROOT / name).is_dir()})
    for link in pkg.iterdir():
        if link.name not in wanted or not link.is_symlink():
            link.unlink() if link.is_symlink() or link.is_file() else None
    for name, target in wanted.items():
        link = pkg / name
        if not (link.is_symlink() and Path(os.readlink(link)) == target):
            if link.is_symlink():
                link.unlink()
            link.symlink_to(target)


def main() -> int:
    lay_out()
    env = dict(os.environ, MYPYPATH=str(TREE))
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
           "--cache-dir", str(TREE / ".mypy_cache"), "-p", "kmem", *sys.argv[1:]]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
