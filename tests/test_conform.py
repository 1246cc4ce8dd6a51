"""`kmem conform`: the kernel's buddy core, extracted by name from Debian's linux-source
package and compiled against kmem's shim, agrees with the model (policy "linux") step by
step; a bug planted in the kernel's text is seen. The kernel tests are `slow` (CI runs
them) and skip when the package cannot be fetched or no compiler is present."""

from __future__ import annotations

import pytest

from kmem.fuzz.cbuild import compiler
from kmem.fuzz.conform import ConformError, build_harness, conform
from kmem.fuzz.conform.extract import extract_function

SAMPLE = """\
/* a comment with braces { and a call foo(1); */
static inline bool
foo(unsigned long pfn, int order)
{
    const char *s = "}";      /* braces in strings and comments do not count: } */
    if (order) {
        return bar(pfn) == '}';
    }
    return false;
}

static void bar_user(void) { foo(1, 2); }

static __always_inline
struct page *baz(struct zone *zone,
         int order)
{
    return foo(0, order) ? NULL : NULL;
}
int proto(int x);
"""


def test_extract_function_by_name():
    foo = extract_function(SAMPLE, "foo")
    assert foo is not None and foo.startswith("static inline bool\nfoo(") and foo.endswith("}")
    assert "return false;" in foo and "bar_user" not in foo
    baz = extract_function(SAMPLE, "baz")
    assert baz is not None and baz.startswith("static __always_inline\nstruct page *baz(")
    assert extract_function(SAMPLE, "proto") is None  # a prototype is not a definition
    assert extract_function(SAMPLE, "bar") is None  # only called, never defined
    assert extract_function(SAMPLE, "missing") is None


def _harness(version, **kwargs):
    if compiler() is None:
        pytest.skip("no C compiler")
    try:
        return build_harness(version, log=lambda _line: None, **kwargs)
    except ConformError as exc:
        pytest.skip(f"linux-source-{version} cannot be fetched or built here: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("version", ["6.12", "6.1"])
def test_the_kernels_buddy_core_agrees_with_kmem(version):
    harness = _harness(version)
    assert len(harness.core.sha256) == 64
    assert {"__free_one_page", "expand", "__rmqueue_smallest",
            "buddy_merge_likely"} <= set(harness.core.names)
    a = conform(harness, seeds=3, ops=3000, npages=(1000, 4099, 1 << 14))
    assert a.agrees, "\n".join(a.divergence)
    assert a.ops == 9000 and a.pfns > 4000 and a.pfns_agree == a.pfns
    assert a.lists == a.lists_agree == 11 * (a.ops + a.runs)
    assert a.counters == a.counters_agree == a.ops + a.runs
    reserved = conform(harness, seed=10, seeds=1, ops=2000, npages=(3000,), reserved=37)
    assert reserved.agrees, "\n".join(reserved.divergence)


@pytest.mark.slow
@pytest.mark.parametrize("name, old, new", [
    ("buddy_merge_likely off", "to_tail = buddy_merge_likely(", "to_tail = 0 && buddy_merge_likely("),
    ("expand keeps the upper half", "&page[size], zone, high, migratetype",
     "&page[0], zone, high, migratetype"),
])
def test_a_bug_planted_in_the_kernels_text_is_seen(name, old, new):
    def patch(text: str) -> str:
        assert old in text, f"{name}: the kernel text changed; update the planted bug"
        return text.replace(old, new, 1)

    harness = _harness("6.12", patch=patch)
    a = conform(harness, seeds=3, ops=3000, npages=(1000, 4099, 1 << 14))
    assert not a.agrees, name
    assert a.divergence[0].startswith("seed ")


@pytest.mark.slow
def test_kmem_conform_command(kmem_cli):
    if compiler() is None:
        pytest.skip("no C compiler")
    try:
        build_harness("6.12", log=lambda _line: None)
    except ConformError as exc:
        pytest.skip(f"linux-source-6.12 cannot be fetched or built here: {exc}")
    done = kmem_cli("conform", "--core", "--kernel", "6.12", "--seeds", "2", "--ops", "1500")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "sha256 of the extracted kernel text: " in out and "first divergence: none" in out
    assert "outside this harness: per-CPU lists" in out


@pytest.mark.slow
def test_hypothesis_state_machine_over_the_kernel_and_the_model():
    """The same comparison driven by Hypothesis (rules alloc/free, an invariant over every
    free list in list order and the counters), so a divergence would shrink to a minimal
    rule sequence."""
    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

    from kmem.fuzz.adapters import ZoneConfig
    from kmem.fuzz.adapters.process import SubprocessAllocator
    from kmem.fuzz.conform import free_lists, model_zone

    harness = _harness("6.12")

    class KernelVsModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.config = ZoneConfig(600, reserved=5)
            self.kernel = SubprocessAllocator([str(harness.binary)], self.config)
            self.zone = model_zone(self.config)
            self.live: list[tuple[int, int]] = []

        @rule(order=st.integers(0, 10))
        def alloc(self, order):
            got = self.kernel.alloc(order)
            assert got == self.zone.rmqueue_smallest(order)
            if got is not None:
                self.live.append((got, order))

        @precondition(lambda self: self.live)
        @rule(pick=st.integers(0, 2**20))
        def free(self, pick):
            pfn, order = self.live.pop(pick % len(self.live))
            self.kernel.free(pfn, order)
            self.zone.free_one_page(pfn, order)

        @invariant()
        def same_free_lists_and_counters(self):
            lists = free_lists(self.kernel.free_blocks() or [])
            assert lists == [self.zone.free_list_order(o) for o in range(len(lists))]
            words = self.kernel.request("stat").split()
            assert (int(words[1]), tuple(int(w) for w in words[3:])) == \
                (self.zone.free_pages, self.zone.nr_free())

        def teardown(self):
            self.kernel.close()

    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(KernelVsModel, settings=settings(
        max_examples=40, stateful_step_count=60, deadline=None,
        suppress_health_check=list(HealthCheck)))
