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

import inspect
import types
from collections.abc import Callable
from typing import Any

import numba


def positional(fn: Callable[..., Any], **deps: Any) -> Callable[..., Any]:
    """``fn``'s code with every parameter positional and ``deps`` in its globals. A wrapped
    ``fn`` (``functools.wraps``: mutation testing's trampolines wrap every spec function)
    gives the code it wraps: numba cannot compile a wrapper's ``*args, **kwargs``."""
    fn = inspect.unwrap(fn)
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


def stamp_cache(module_file: str, spec_modules: tuple[types.ModuleType, ...]) -> None:
    """Key numba's on-disk cache of ``module_file``'s compiled functions to the source of
    ``spec_modules`` as well as their own: a cached step that calls a compiled spec rule
    must be compiled again when the rule changes (numba stamps a cache entry with its own
    source file only). Adds cache locators (numba's extension point, as
    ``NUMBA_CACHE_LOCATOR_CLASSES`` does) ahead of numba's own, for that file only."""
    import hashlib
    import os

    from numba.core import caching

    digest = hashlib.sha256()
    for mod in spec_modules:
        with open(mod.__file__ or "", "rb") as f:
            digest.update(f.read())
    stamp = digest.hexdigest()
    target = os.path.abspath(module_file)
    impl: Any = getattr(caching, "CacheImpl", None) or vars(caching).get("_CacheImpl")
    bases = [getattr(caching, n, None) for n in
             ("UserProvidedCacheLocator", "_UserProvidedCacheLocator",
              "InTreeCacheLocator", "_InTreeCacheLocator",
              "UserWideCacheLocator", "_UserWideCacheLocator")]
    stamped = []
    for base in [b for b in bases if b is not None]:
        def from_function(cls: Any, py_func: Any, py_file: str, _base: Any = base) -> Any:
            if os.path.abspath(py_file) != target:
                return None
            return _base.from_function.__func__(cls, py_func, py_file)

        def get_source_stamp(self: Any, _base: Any = base) -> Any:
            return (_base.get_source_stamp(self), stamp)

        stamped.append(type(f"SpecStamped{base.__name__}", (base,),
                            {"from_function": classmethod(from_function),
                             "get_source_stamp": get_source_stamp}))
    impl._locator_classes[:0] = stamped
