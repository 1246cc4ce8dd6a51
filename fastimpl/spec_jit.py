"""The spec's own pure functions, compiled: fastimpl calls the rules, it does not restate them.

:func:`compile_spec` takes a function of :mod:`kmem.spec` written over plain ints (such as
:func:`kmem.spec.pcp.nr_pcp_high` or :func:`kmem.spec.migrate.claim_whole_block`) and
returns a numba-compiled twin of *the same code object*: its keyword-only parameters
become positional (numba does not bind keyword-only arguments), its defaults are dropped
(compiled callers pass every argument), and the spec functions it calls are replaced by
their compiled twins (``deps``). Under ``NUMBA_DISABLE_JIT=1`` the twin is the same code
run as Python. A rule that changes in the spec changes in fastimpl with it.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numba


def positional(fn: Callable[..., Any], **deps: Any) -> Callable[..., Any]:
    """``fn``'s code with every parameter positional and ``deps`` in its globals."""
    code = fn.__code__
    code = code.replace(co_argcount=code.co_argcount + code.co_kwonlyargcount,
                        co_kwonlyargcount=0)
    glb = dict(fn.__globals__)
    glb.update(deps)
    out = types.FunctionType(code, glb, fn.__name__, None, fn.__closure__)
    out.__doc__ = fn.__doc__
    out.__qualname__ = f"spec_jit.{fn.__qualname__}"
    return out


def compile_spec(fn: Callable[..., Any], **deps: Any) -> Any:
    """The compiled positional twin of the spec function ``fn`` (see the module docstring)."""
    return numba.njit(positional(fn, **deps))
