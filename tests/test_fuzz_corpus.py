"""The regression corpus: every failure ``kmem fuzz`` saved replays clean on the real
implementations (the model and, when built, fastimpl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmem.fuzz.campaign import replay_entry

CORPUS = sorted((Path(__file__).parent / "fuzz_corpus").glob("*.json"))


def test_the_corpus_is_not_empty():
    assert CORPUS, "tests/fuzz_corpus holds no entry"


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_entry_replays_clean(path):
    replay_entry(json.loads(path.read_text()))
