"""The z3 terms of the bitmap obligations (kmem.proofs.fastimpl_bitmap) compute what the
compiled kernels compute: the same steps run on concrete words of real fastimpl zones."""

import random

import numpy as np
import pytest

pytest.importorskip("z3")
pytest.importorskip("numba")

import z3  # noqa: E402

from kmem.fastimpl import Machine  # noqa: E402
from kmem.fastimpl import arrays as A  # noqa: E402
from kmem.fastimpl import kernels as K  # noqa: E402
from kmem.proofs import fastimpl_bitmap as F  # noqa: E402
from kmem.proofs.core import Status, run_obligation  # noqa: E402
from kmem.spec.constants import NR_PAGE_ORDERS  # noqa: E402
from kmem.spec.gfp import GFP_KERNEL  # noqa: E402


def words_of(m):
    """The first level-0 word of every order of zone 0 and its non-empty mask."""
    M = m._v.M
    zb = A.zone_meta(0)
    words = [int(m._S[M[zb + A.Z_OFF + k * A.MAX_LEVELS]]) for k in range(NR_PAGE_ORDERS)]
    return words, int(M[zb + A.Z_NONEMPTY])


def views(S):
    """The arrays the compiled steps take ("lowest" has no links: empty ones)."""
    v = A.Views(S)
    return v.M, v.D, v.D[:0], v.D[:0]


def concrete(term):
    return z3.simplify(term).as_long()


def random_machine(npages, rng):
    m = Machine.generic(npages, min_free_kbytes=0)
    held = []
    for _ in range(rng.randrange(40)):
        if held and rng.random() < 0.4:
            page, order = held.pop(rng.randrange(len(held)))
            m.free_pages(page, order)
        else:
            order = rng.choice([0, 0, 1, 2, 3])
            page = m.alloc_pages(GFP_KERNEL, order)
            if page is not None:
                held.append((page, order))
    return m, held


def cross_check(npages, machines, orders_each, seed):
    rng = random.Random(seed)
    steps = F.BitmapSteps()
    for _ in range(machines):
        m, held = random_machine(npages, rng)
        words, ne = words_of(m)
        zw = [F.bv(w) for w in words]
        for order in rng.sample(range(NR_PAGE_ORDERS), orders_each):
            found, pfn, post, post_ne = steps.rmqueue_smallest(list(zw), F.bv(ne), order)
            S = m._S.copy()
            Mv, flg, nxt, prv = views(S)
            got = int(K.rmqueue_smallest(S, Mv, flg, nxt, prv, A.zone_meta(0), order, True))
            assert z3.is_true(z3.simplify(found)) == (got >= 0)
            after = Machine.__new__(Machine)
            after._S, after._v = S, A.Views(S)
            words2, ne2 = words_of(after)
            if got >= 0:
                assert concrete(pfn) == got
            assert [concrete(w) for w in post] == words2 and concrete(post_ne) == ne2
        for page, order in rng.sample(held, min(len(held), 2 * orders_each)):
            post, post_ne = steps.free_one(list(zw), F.bv(ne), npages, page.pfn, order)
            S = m._S.copy()
            Mv, flg, nxt, prv = views(S)
            K.free_one(S, Mv, flg, nxt, prv, A.zone_meta(0), page.pfn, order, True)
            after = Machine.__new__(Machine)
            after._S, after._v = S, A.Views(S)
            assert ([concrete(w) for w in post], concrete(post_ne)) == words_of(after)


@pytest.mark.parametrize("npages", [64, 48])
def test_z3_steps_equal_the_compiled_steps(npages):
    cross_check(npages, machines=3, orders_each=3, seed=npages)


@pytest.mark.proof
@pytest.mark.parametrize("npages", [64, 48])
def test_z3_steps_equal_the_compiled_steps_more(npages):
    cross_check(npages, machines=25, orders_each=NR_PAGE_ORDERS, seed=npages + 1)


@pytest.mark.proof
@pytest.mark.parametrize("ob", F.obligations(), ids=lambda ob: ob.name)
def test_bitmap_obligations_hold(ob):
    assert run_obligation(ob, 300).status is Status.PROVED


def test_words_hold_the_whole_zone_state():
    """For zones up to 64 pages the first word of each order is the whole bitmap."""
    m, _ = random_machine(64, random.Random(1))
    words, _ = words_of(m)
    free = {(j << k, k) for k in range(NR_PAGE_ORDERS) for j in range(64) if words[k] >> j & 1}
    assert free == set(m.state()[0].free)
    assert np.count_nonzero(m._S) > 0
