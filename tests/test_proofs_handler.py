"""The handler obligation explores every value of every context flag and mm_fault:
the explorer visits every value at a read, and a bug on one rare flag combination
that the old six-pattern sampling missed is refuted."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import pytest

pytest.importorskip("z3")

from kmem.proofs import fault  # noqa: E402
from kmem.proofs.core import Status, run_obligation  # noqa: E402
from kmem.proofs.explore import choice_paths  # noqa: E402
from kmem.proofs.mutants.catalog import MUTANTS, handler_no_mm_uaccess_oom  # noqa: E402
from kmem.spec import fault_handler as h  # noqa: E402
from kmem.spec.errors import KmemError  # noqa: E402

TOY = {"a": (0, 1, 2), "b": (True, False), "c": ("x", "y")}


def toy(choose):
    """Reads a; b only when a == 0; c only when a == 2, then a again."""
    a = choose("a", TOY["a"])
    if a == 0:
        return ("b", choose("b", TOY["b"]))
    if a == 2:
        c = choose("c", TOY["c"])
        return ("c", c, choose("a", TOY["a"]))
    return ("a1",)


def _fixed(assignment):
    return lambda key, values: assignment[key]


def test_explorer_visits_every_value_at_every_read():
    got = [(p.reads, p.result) for p in choice_paths(toy)]
    assert got == [  # depth first, first value first; a second read of a is not a new read
        ((("a", 0), ("b", True)), ("b", True)),
        ((("a", 0), ("b", False)), ("b", False)),
        ((("a", 1),), ("a1",)),
        ((("a", 2), ("c", "x")), ("c", "x", 2)),
        ((("a", 2), ("c", "y")), ("c", "y", 2)),
    ]


def test_every_assignment_of_the_product_follows_exactly_one_path():
    paths = choice_paths(toy)
    for values in itertools.product(*TOY.values()):
        assignment = dict(zip(TOY, values, strict=True))
        agreeing = [p for p in paths if all(assignment[k] == v for k, v in p.reads)]
        assert len(agreeing) == 1
        assert agreeing[0].result == toy(_fixed(assignment))


def test_explorer_refuses_a_function_that_is_not_deterministic():
    calls = []

    def flaky(choose):
        calls.append(1)
        return choose("a" if len(calls) < 2 else "b", (0, 1))

    with pytest.raises(RuntimeError, match="not deterministic"):
        choice_paths(flaky)


def test_explorer_refuses_an_empty_value_set():
    with pytest.raises(ValueError, match="offered no values"):
        choice_paths(lambda choose: choose("a", ()))


def test_domain_covers_every_flag_and_mm_fault_and_the_claim_says_how_many():
    domain = fault.handler_domain()
    explored = domain[0][6]
    assert set(fault.HANDLER_FLAGS) <= set(explored)
    assert all(explored[f] == (False, True) for f in fault.HANDLER_FLAGS)
    by_era = {args[5]: args[6]["mm_fault"] for args in domain}
    assert set(by_era["modern"]) == set(h.VmFault)
    assert set(by_era["2.6.11"]) == {h.VmFault.NONE, h.VmFault.OOM, h.VmFault.SIGBUS}
    assert all(set(args[6]["pte"]) == set(h.PteState) for args in domain)  # explored
    total = sum(math.prod(len(v) for v in args[6].values()) for args in domain)
    claim = next(o.claim for o in fault.obligations() if o.name == "fault.handler-total")
    assert f"{total:,} situations" in claim


@pytest.mark.proof
def test_paths_agree_with_the_handler_on_random_full_assignments():
    """Any full assignment of the explored fields gives the decision of the one path whose
    reads it agrees with: the paths stand for the whole product."""
    rng = random.Random(7)
    domain = fault.handler_domain()
    for args in rng.sample(domain, 150):
        code, address, user, base, arch, era, explored = args
        paths = choice_paths(lambda choose, a=args: fault._decide(
            h, a, fault.LazySituation(a[3], choose, a[6])))
        for _ in range(20):
            assignment = {k: rng.choice(v) for k, v in explored.items()}
            want = h.handle_page_fault(code, address, user, replace(base, **assignment), arch,
                                       era)
            agreeing = [p for p in paths if all(assignment[k] == v for k, v in p.reads)]
            assert [p.result for p in agreeing] == [want]


def _six_pattern_cases(handler):
    """The domain the obligation used to sample: six fixed patterns of the nine flags, the
    mm_fault result tied to the pattern index."""
    arch, page = handler.X86_32, 4096
    vmas = [None, handler.Vma(0x10000000, 0x10010000, handler.VM_READ),
            handler.Vma(0x10000000, 0x10010000, handler.VM_READ | handler.VM_WRITE),
            handler.Vma(0x10000000, 0x10010000, handler.VM_READ | handler.VM_EXEC),
            handler.Vma(0x10000000, 0x10010000,
                        handler.VM_READ | handler.VM_WRITE | handler.VM_GROWSDOWN)]
    addresses = [0x1000, 0x10000000 + page, 0x0FFFF000, arch.task_size_max + page,
                 arch.vmalloc_start + page]
    codes = sorted({args[0] for args in fault.handler_domain()})
    rows = [(0,) * 9, (1,) * 9, (0, 1, 0, 1, 0, 1, 0, 1, 0), (1, 0, 1, 0, 1, 0, 1, 0, 1),
            (0, 0, 1, 1, 0, 0, 1, 1, 1), (1, 1, 0, 0, 1, 1, 0, 0, 0)]
    for era, mm_faults in (("modern", list(handler.VmFault)),
                           ("2.6.11", [handler.VmFault.NONE, handler.VmFault.OOM,
                                       handler.VmFault.SIGBUS])):
        for vma, pte, (k, row) in itertools.product(vmas, list(handler.PteState),
                                                    enumerate(rows)):
            flags = dict(zip(fault.HANDLER_FLAGS, map(bool, row), strict=True))
            s = handler.FaultSituation(vma=vma, pte=pte, mm_fault=mm_faults[k % len(mm_faults)],
                                       sp=0x0FFFF000 + 64, **flags)
            for address in addresses:
                s2 = replace(s, vma=None) if vma is not None and vma.end <= address else s
                for code in codes:
                    for user in (False, True):
                        yield code, address, user, s2, arch, era


@pytest.mark.proof
def test_rare_flag_bug_is_refuted_now_but_was_missed_by_six_pattern_sampling():
    mutant = next(m for m in MUTANTS if m.name == "fault-handler-raises-on-rare-flags")
    result = run_obligation(mutant.target(), timeout_s=60)
    assert result.status is Status.REFUTED
    cex = result.counterexample
    assert "raised KernelBug" in cex
    assert "has_mm=False" in cex and "smap=True" in cex and "eflags_ac=True" in cex
    assert "mm_fault=VmFault.OOM" in cex
    raised = 0
    for args in _six_pattern_cases(h):
        try:
            handler_no_mm_uaccess_oom(*args)
        except KmemError:
            raised += 1
    assert raised == 0  # not one sampled situation reaches the bug


def test_six_pattern_sampling_reproduces_the_old_domain_size():
    assert sum(1 for _ in _six_pattern_cases(h)) == 151_200
