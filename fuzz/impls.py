"""The implementations under test, by name: the model, fastimpl, planted-bug mutants, extras.

An :class:`Impl` is a name, a free-list policy and a way to boot a machine from a
:class:`~kmem.fuzz.configs.MachineConfig`. The machine must offer the page API of
:class:`kmem.model.Machine` (``alloc_pages``, ``free_pages``, ``get_page``,
``put_page``, ``page_count``, ``pfn_to_page``, ``page_address``, ``virt_to_page``,
``state()``, ``check_invariants()``, ``zones[i].free_list_order(order)``,
``dmesg``) and raise the exceptions of :mod:`kmem.spec.errors`.

Implementations that share a policy are compared result by result and free list by
free list; every implementation is checked against the spec on its own.

Names understood by :func:`resolve` (comma-separated on the command line):

- ``model``, ``fast``: both policies (``model@lowest``, ``model@linux``, ...);
  ``NAME@POLICY`` picks one;
- ``mutant:NAME`` (``mutant:NAME@linux``): a planted bug from :mod:`kmem.fuzz.mutants`;
- ``package.module:attr``: an object with ``build(config, policy)``, or a Machine
  class (booted by the config), imported by name;
- anything registered with :func:`register` (the hook for extra implementations,
  e.g. adapters of foreign allocators).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kmem.spec.errors import InvalidArgument

from .configs import MachineConfig

POLICIES = ("lowest", "linux")
Builder = Callable[[MachineConfig, str], Any]


@dataclass(frozen=True)
class Impl:
    """One implementation under one policy.

    ``rule`` is what it claims about *which* block it returns: ``"lowest"`` (the
    lowest pfn of the smallest non-empty order), ``"linux"`` (a block of the
    smallest non-empty order; the list order is checked against its peers) or
    ``"weak"`` (any free, aligned block). ``build(config, policy)`` boots it.
    """

    name: str
    policy: str
    build_fn: Builder = field(compare=False, repr=False)
    rule: str = "linux"
    #: a batch API, if any: ``(run_ops, (OP_ALLOC, OP_FREE, OP_GET, OP_PUT))`` as in
    #: :mod:`kmem.fastimpl.batch`; the bulk runner then drives the machine through it
    batch: tuple[Any, tuple[int, int, int, int]] | None = field(default=None, compare=False,
                                                                repr=False)

    def build(self, config: MachineConfig) -> Any:
        return self.build_fn(config, self.policy)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.policy}"


_REGISTRY: dict[str, Callable[[str], Impl]] = {}


def register(name: str, factory: Callable[[str], Impl]) -> None:
    """Make ``name`` usable in :func:`resolve` / ``--impl``: ``factory(policy)`` returns the
    :class:`Impl`. The hook for extra implementations (adapters, forks)."""
    _REGISTRY[name] = factory


def machine_class_impl(name: str, machine_cls: Any, policy: str, rule: str | None = None) -> Impl:
    """An :class:`Impl` for a class with the model's constructors."""
    return Impl(name, policy, lambda config, pol: config.build(machine_cls, pol),
                rule or ("lowest" if policy == "lowest" else "linux"))


def _model(policy: str) -> Impl:
    from kmem.model import Machine

    return machine_class_impl("model", Machine, policy)


def fast_available() -> bool:
    """True when kmem.fastimpl provides a Machine (it needs numba)."""
    try:
        mod = importlib.import_module("kmem.fastimpl")
    except ImportError:
        return False
    return hasattr(mod, "Machine")


def _fast(policy: str) -> Impl:
    if not fast_available():
        raise InvalidArgument("implementation 'fast' is not available: kmem.fastimpl has no "
                              "Machine (is numba installed? pip install 'kmem[fast]')")
    from dataclasses import replace

    from kmem import fastimpl

    impl = machine_class_impl("fast", fastimpl.Machine, policy)
    codes = (fastimpl.OP_ALLOC, fastimpl.OP_FREE, fastimpl.OP_GET,
             fastimpl.OP_PUT)
    return replace(impl, batch=(fastimpl.run_ops, codes))


def _mutant(name: str, policy: str) -> Impl:
    from .mutants import MUTANTS
    from .mutants.path import PATH_MUTANTS

    mutant: Any = MUTANTS.get(name) or PATH_MUTANTS.get(name)
    if mutant is None:
        raise InvalidArgument(f"unknown mutant {name!r}; expected one of "
                              f"{', '.join(sorted([*MUTANTS, *PATH_MUTANTS]))}")
    return machine_class_impl(f"mutant:{name}", mutant.machine_class(), policy)


register("model", _model)
register("fast", _fast)


def default_names() -> list[str]:
    """``model`` and, when it is there, ``fast``."""
    return ["model", "fast"] if fast_available() else ["model"]


def resolve(spec: str | Iterable[str | Impl] | None = None,
            policies: Iterable[str] = POLICIES) -> list[Impl]:
    """Turn ``"model,fast"`` (or a list of names and Impls) into Impl objects, one per
    policy unless the name says ``@policy``."""
    if spec is None:
        items: list[str | Impl] = list(default_names())
    elif isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = list(spec)
    policies = tuple(policies)
    out: list[Impl] = []
    for item in items:
        if isinstance(item, Impl):
            out.append(item)
            continue
        name, _, pol = item.partition("@")
        pols = (pol,) if pol else policies
        for p in pols:
            if p not in POLICIES:
                raise InvalidArgument(f"{item!r}: unknown policy {p!r}; expected "
                                      f"{' or '.join(POLICIES)}")
            out.append(_one(name, p))
    if not out:
        raise InvalidArgument("no implementation to test")
    labels = [i.label for i in out]
    if len(set(labels)) != len(labels):
        raise InvalidArgument(f"an implementation is named twice: {labels}")
    return out


def _one(name: str, policy: str) -> Impl:
    if name in _REGISTRY:
        return _REGISTRY[name](policy)
    if name.startswith("mutant:"):
        return _mutant(name.removeprefix("mutant:"), policy)
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise InvalidArgument(f"cannot import implementation {name!r}: {exc}") from None
        if hasattr(obj, "build") and not isinstance(obj, type):
            return Impl(name, policy, obj.build)
        return machine_class_impl(name, obj, policy)
    raise InvalidArgument(f"unknown implementation {name!r}; expected model, fast, "
                          f"mutant:NAME, module:attr or one of {', '.join(sorted(_REGISTRY))}")


def lanes(impls: Iterable[Impl]) -> dict[str, list[Impl]]:
    """Implementations grouped by policy: each group must agree exactly."""
    out: dict[str, list[Impl]] = {}
    for impl in impls:
        out.setdefault(impl.policy, []).append(impl)
    return out
