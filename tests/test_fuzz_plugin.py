"""The opt-in pytest plugin: fixtures for an oracle and a reference machine."""

from __future__ import annotations

pytest_plugins = ["pytester"]


def test_plugin_fixtures(pytester):
    pytester.makepyfile(test_user="""
        from kmem.fuzz.configs import MachineConfig

        def test_oracle(kmem_oracle):
            o = kmem_oracle(64, rule="linux")
            o.alloc(0, 0)
            o.free(0, 0)
            assert o.free_blocks == {0: 6}

        def test_machine(kmem_machine):
            m = kmem_machine(MachineConfig("x86_64", 32), policy="linux")
            assert m.alloc_pages(0xcc0, 1) is not None and m.check_invariants() == []
    """)
    result = pytester.runpytest_inprocess("-p", "kmem.fuzz.pytest_plugin",
                                          "--kmem-profile", "ci", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
