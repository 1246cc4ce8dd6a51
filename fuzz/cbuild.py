"""Building small C programs for the checkers: the test suite's allocators and the
real-kernel harness of ``kmem conform``.

:func:`build` compiles one or more sources into an executable whose name carries a
hash of everything that went into it (sources, flags, compiler), so a second call
with the same inputs reuses the binary. :func:`sanitizer_flags` are the flags of the
AddressSanitizer + UndefinedBehaviorSanitizer build that ``docs/check.md`` documents.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from kmem.spec.errors import KmemError


class BuildError(KmemError):
    """The C compiler is missing or failed."""


#: ASan + UBSan, stopping at the first report (UBSan would otherwise print and go on)
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "-g")


def compiler() -> str | None:
    """The C compiler to use: ``$CC``, else ``cc``, ``gcc`` or ``clang`` on PATH."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def sanitizer_flags() -> tuple[str, ...]:
    return SANITIZE_FLAGS


def sanitizers_work() -> bool:
    """Can this machine build and run an ASan + UBSan program?"""
    cc = compiler()
    if cc is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "t.c")
        src.write_text("#include <stdlib.h>\nint main(void){char*p=malloc(4);p[0]=1;"
                       "int r=p[0]-1;free(p);return r;}\n")
        exe = Path(tmp, "t")
        try:
            subprocess.run([cc, *SANITIZE_FLAGS, "-o", str(exe), str(src)], check=True,
                           capture_output=True, timeout=120)
            subprocess.run([str(exe)], check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
    return True


def build(sources: Sequence[str | Path], out_dir: str | Path, name: str, *,
          defines: Sequence[str] = (), flags: Sequence[str] = ("-O1",),
          include: Sequence[str | Path] = (), depends: Sequence[str | Path] = ()) -> Path:
    """Compile ``sources`` into ``out_dir/name-<hash>`` (reused when it exists).

    ``defines`` are ``NAME`` or ``NAME=VALUE`` (passed as ``-D``); ``include`` are
    ``-I`` folders; ``depends`` are files the sources include (hashed, not compiled).
    Raises :class:`BuildError` with the compiler's output on failure.
    """
    cc = compiler()
    if cc is None:
        raise BuildError("no C compiler found (set CC, or install gcc or clang)")
    digest = hashlib.sha256()
    digest.update(cc.encode())
    for arg in (*defines, "|", *flags, "|", *map(str, include)):
        digest.update(arg.encode() + b"\0")
    for src in (*sources, *depends):
        digest.update(Path(src).read_bytes())
    out = Path(out_dir) / f"{name}-{digest.hexdigest()[:16]}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    cmd = [cc, *flags, *(f"-D{d}" for d in defines), *(f"-I{i}" for i in include),
           "-o", str(tmp), *map(str, sources)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError(f"{' '.join(cmd)}: {exc}") from None
    if result.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed:\n{result.stderr[-4000:]}")
    os.replace(tmp, out)
    return out


__all__ = ["BuildError", "SANITIZE_FLAGS", "build", "compiler", "sanitizer_flags",
           "sanitizers_work"]
