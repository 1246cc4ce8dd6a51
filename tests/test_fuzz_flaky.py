"""A Hypothesis ``Flaky`` with no failed check is discounted only when its trace replays clean."""

from __future__ import annotations

from typing import Any

from kmem.fuzz.campaign import _replays_clean


class _Clean:
    seen: list[Any] = []

    @classmethod
    def replay(cls, trace: list[Any]) -> None:
        cls.seen.append(list(trace))


class _Diverges:
    @classmethod
    def replay(cls, trace: list[Any]) -> None:
        raise AssertionError("lane 'lowest': results differ")


def test_a_clean_replay_is_discounted_and_the_trace_is_the_one_replayed():
    trace = [("boot", {"config": None}), ("alloc", {"order": 0})]
    assert _replays_clean(_Clean, trace)
    assert _Clean.seen[-1] == trace


def test_a_trace_that_still_fails_is_a_finding():
    assert not _replays_clean(_Diverges, [("alloc", {"order": 0})])
