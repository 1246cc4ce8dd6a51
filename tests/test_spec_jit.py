"""fastimpl compiles the spec's own rules (kmem.fastimpl.spec_jit): keyword-only parameters
become positional, and a wrapped rule (functools.wraps, as mutation testing's trampolines
wrap every spec function) is compiled as the function it wraps."""

from __future__ import annotations

import functools

from kmem.fastimpl.spec_jit import compile_spec
from kmem.spec import pcp


def test_a_rule_is_compiled_with_its_keyword_parameters_positional():
    """nr_pcp_free's keyword-only parameters, in the order the spec declares them (the
    compiled twin must equal the spec's function: fastimpl calls the rule, not a copy)."""
    nr_pcp_free = compile_spec(pcp.nr_pcp_free, clamp=compile_spec(pcp.clamp))
    for count, batch, high, free_high, free_count in ((100, 63, 500, True, 0),
                                                     (100, 63, 50, False, 0),
                                                     (100, 63, 500, False, 1000)):
        assert nr_pcp_free(count, batch, high, free_high, free_count) == pcp.nr_pcp_free(
            count=count, batch=batch, high=high, free_high=free_high, free_count=free_count)


def test_a_wrapped_rule_compiles_as_the_function_it_wraps():
    def wrap(fn):
        @functools.wraps(fn)
        def trampoline(*args, **kwargs):
            return fn(*args, **kwargs)
        return trampoline

    clamp = compile_spec(wrap(pcp.clamp))
    assert clamp(9, 2, 5) == 5 and clamp(1, 2, 5) == 2
