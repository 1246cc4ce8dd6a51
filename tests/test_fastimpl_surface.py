"""fastimpl offers the model's machine surface: the same public attributes and methods on
the bare one-node core and on the whole path, the same values and the same refusals
(a program written against kmem.model.Machine runs on kmem.fastimpl.Machine)."""

import pytest

pytest.importorskip("numba")

from kmem.fastimpl import Machine as F  # noqa: E402
from kmem.model import Machine as M  # noqa: E402
from kmem.spec.errors import InvalidArgument  # noqa: E402
from kmem.spec.gfp import GFP_KERNEL, GFP_USER  # noqa: E402

#: the model's page descriptors by pfn (fastimpl keeps its handles privately, one per pfn)
MODEL_ONLY = {"pages"}
#: fastimpl's own: the batch API's decision rows, and the bytes its state takes
FAST_ONLY = {"decision_row", "state_bytes", "reads_held", "zones_changed"}

BUILDS = {
    "bare x86_32": lambda C: C.x86_32(64),
    "bare x86_64 linux": lambda C: C.x86_64(64, policy="linux", kernel="6.1"),
    "whole path": lambda C: C.x86_64(64, migratetypes=True, nr_cpus=2, policy="linux"),
    "numa": lambda C: C.numa_x86_64((32, 32), migratetypes=True, nr_cpus=2, policy="linux"),
}


def _public(obj):
    return {a for a in dir(obj) if not a.startswith("_")}


@pytest.mark.parametrize("name", BUILDS)
def test_same_public_surface(name):
    m, f = BUILDS[name](M), BUILDS[name](F)
    assert _public(m) - _public(f) <= MODEL_ONLY, name
    assert _public(f) - _public(m) <= FAST_ONLY, name
    for attr in ("migratetypes", "nr_cpus", "percpu_pagelist_high_fraction", "path_era",
                 "distances", "cpu_nodes", "node", "cpu", "slab_cpus", "last_failure",
                 "outcomes", "watermark_boost_factor", "from_proc_report",
                 "pcp_pages_total"):
        assert getattr(f, attr) == getattr(m, attr), attr
    assert f.numa_node_id() == m.numa_node_id()
    assert len(f.node_zones) == len(m.node_zones)
    assert [[z.name for z in zs] for zs in f.node_zones] == \
        [[z.name for z in zs] for zs in m.node_zones]
    # the zonelist of each node and zone type, as zone names in visiting order
    for nid in range(len(m.node_zones)):
        for hidx in range(len(m.zones[:len(m.node_zones[0])])):
            for gfp in (GFP_KERNEL, GFP_KERNEL | 0x200000):  # __GFP_THISNODE
                assert [(z.node, z.name) for z in f.node_zonelist(nid, gfp, hidx)] == \
                    [(z.node, z.name) for z in m.node_zonelist(nid, gfp, hidx)]


def _outcome(fn):
    try:
        got = fn()
    except Exception as exc:  # noqa: BLE001 - type and message compared
        return type(exc).__name__, str(exc)
    return "ok", getattr(got, "pfn", got)


@pytest.mark.parametrize("name", ["bare x86_32", "bare x86_64 linux"])
def test_bare_core_answers_and_refusals_match(name):
    m, f = BUILDS[name](M), BUILDS[name](F)
    calls = [
        lambda x: x.alloc_pages_node(0, GFP_USER, 2),
        lambda x: x.alloc_pages_node(1, GFP_KERNEL, 0),  # no node 1
        lambda x: x.alloc_pages_node(0, GFP_KERNEL, 0),
        lambda x: setattr(x, "cpu", 1),
        lambda x: setattr(x, "cpu", 0),
        lambda x: x.vmstat_update(0),
        lambda x: x.pagetypeinfo(),
        lambda x: x.drain_all_pages(),
        lambda x: x.drain_all_pages(x.zones[0]),
        lambda x: x.drain_all_pages(object()),
    ]
    for i, call in enumerate(calls):
        assert _outcome(lambda c=call: c(f)) == _outcome(lambda c=call: c(m)), i
    assert f.buddyinfo() == m.buddyinfo()


def test_slab_cpus_refused_alike():
    for bad in (0, -1, True, 1.5):
        got = {_outcome(lambda C=C, b=bad: C.x86_32(64, slab_cpus=b)) for C in (M, F)}
        assert len(got) == 1 and next(iter(got))[0] == "InvalidArgument", (bad, got)


def test_drain_refuses_a_foreign_zone_on_the_whole_path_too():
    a, b = BUILDS["whole path"](M), BUILDS["whole path"](M)
    with pytest.raises(InvalidArgument, match="not a zone of this machine"):
        a.drain_all_pages(b.zones[1])
