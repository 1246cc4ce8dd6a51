"""CI's randomized campaign: a fresh seed each run (printed), a time box, the checked-op count.

``KMEM_FUZZ_SEED`` fixes the seed (to reproduce a CI failure), ``KMEM_FUZZ_TIME`` the
campaign's seconds (default 150), ``KMEM_FUZZ_OPS`` the bulk runner's goal of checked
operations (default 10**6; it needs two implementations of one policy, i.e. fastimpl).
"""

from __future__ import annotations

import io
import os
import random
import time

import pytest

from kmem.fuzz import ops as O
from kmem.fuzz.bulk import run_stream
from kmem.fuzz.campaign import run_campaign
from kmem.fuzz.configs import STANDARD_CONFIGS
from kmem.fuzz.impls import fast_available, lanes, resolve

pytestmark = pytest.mark.fuzz
SEED = int(os.environ.get("KMEM_FUZZ_SEED") or random.SystemRandom().getrandbits(31))


def test_randomized_campaign(capsys):
    seconds = float(os.environ.get("KMEM_FUZZ_TIME", "150"))
    out = io.StringIO()
    res = run_campaign(seconds=seconds, seed=SEED, workers=2, corpus="tests/fuzz_corpus",
                       out=out)
    with capsys.disabled():
        print(f"\n{res.summary()}\n(reproduce with KMEM_FUZZ_SEED={SEED})")
    assert res.ok, out.getvalue()


@pytest.mark.skipif(not any(len(g) > 1 for g in lanes(resolve()).values()),
                    reason="the bulk runner compares two implementations of one policy; "
                           "kmem.fastimpl.Machine is not built yet")
def test_bulk_volume(capsys):
    goal = int(os.environ.get("KMEM_FUZZ_OPS", str(10**6)))
    rng = random.Random(SEED)
    checked, ops, t0 = 0, 0, time.monotonic()
    while checked < goal and time.monotonic() - t0 < 600:
        config = STANDARD_CONFIGS[rng.randrange(len(STANDARD_CONFIGS))]
        name = rng.choice(("a", "b", "mix"))
        stream = O.workload_stream(name, rng.getrandbits(32), 20000, config.size)
        rep = run_stream(config, stream)
        assert rep.ok, rep.divergence.explain() + "\n" + rep.divergence.reproducer()
        checked += rep.checked_ops
        ops += rep.ops
    dt = time.monotonic() - t0
    with capsys.disabled():
        print(f"\nbulk runner: seed {SEED}, {ops} operations, {checked} checked operations in "
              f"{dt:.1f} s ({checked / dt:,.0f}/s), impls {','.join(i.label for i in resolve())}"
              f"{'' if fast_available() else ' (no fastimpl)'}")
    assert checked >= goal
