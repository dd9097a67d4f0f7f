"""Pages read ahead by the division workers: order kept, memory bounded, errors in place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exact_online_core.api import RecordPage
from exact_online_core.errors import ServerError
from tap_exact_online.prefetch import HEAD_PAGES, Prefetch


def _pages(division: int, stream: str, count: int, fail_at: int | None = None
           ) -> Iterator[RecordPage]:
    for number in range(count):
        if number == fail_at:
            raise ServerError("failed with 500", method="GET", endpoint=stream,
                              division=division, status=500)
        yield RecordPage([{"id": f"{stream}-{division}-{number}", "n": "x" * 100}], number)


def _run(prefetch: Prefetch, plan: dict[tuple[str, int], Iterator[RecordPage]],
         divisions: list[int], streams: list[str]) -> list[str]:
    channels = {key: prefetch.channel(*key) for key in plan}
    prefetch.start((d, [(channels[(s, d)], plan[(s, d)]) for s in streams]) for d in divisions)
    emitted = []
    for stream in streams:
        for division in divisions:
            for page in prefetch.pages(channels[(stream, division)]):
                emitted.extend(r["id"] for r in page.records)
    return emitted


def test_pages_come_out_stream_by_stream_and_division_by_division() -> None:
    divisions, streams = [1, 2, 3, 4, 5], ["a", "b"]
    plan = {(s, d): _pages(d, s, 30) for s in streams for d in divisions}
    emitted = _run(Prefetch(3, lambda d: 0.0, lambda: 0.0), plan, divisions, streams)
    assert emitted == [f"{s}-{d}-{n}" for s in streams for d in divisions for n in range(30)]


def test_pages_read_ahead_beyond_a_few_per_worker_wait_on_disk() -> None:
    prefetch = Prefetch(2, lambda d: 0.0, lambda: 0.0)
    held: list[int] = []
    divisions, streams = [1, 2, 3], ["a"]
    plan = {(s, d): _pages(d, s, 40) for s in streams for d in divisions}
    channels = {key: prefetch.channel(*key) for key in plan}
    prefetch.start((d, [(channels[("a", d)], plan[("a", d)])]) for d in divisions)
    emitted = []
    for division in divisions:
        for page in prefetch.pages(channels[("a", division)]):
            held.append(prefetch._memory)
            emitted.extend(r["id"] for r in page.records)
    assert emitted == [f"a-{d}-{n}" for d in divisions for n in range(40)]
    assert max(held) <= prefetch.workers + HEAD_PAGES


def test_a_worker_error_is_raised_where_its_page_would_have_been_emitted() -> None:
    divisions, streams = [1, 2, 3], ["a", "b"]
    plan = {(s, d): _pages(d, s, 5, fail_at=2 if (s, d) == ("a", 2) else None)
            for s in streams for d in divisions}
    prefetch = Prefetch(3, lambda d: 0.0, lambda: 0.0)
    channels = {key: prefetch.channel(*key) for key in plan}
    prefetch.start((d, [(channels[(s, d)], plan[(s, d)]) for s in streams]) for d in divisions)
    emitted = []
    with pytest.raises(ServerError, match=r"GET a \(division 2\)"):
        for division in divisions:
            for page in prefetch.pages(channels[("a", division)]):
                emitted.extend(r["id"] for r in page.records)
    assert emitted == ["a-1-0", "a-1-1", "a-1-2", "a-1-3", "a-1-4", "a-2-0", "a-2-1"]


def test_a_division_waiting_for_its_minute_window_gives_its_worker_to_another() -> None:
    waiting = {1: 1e12}  # division 1's minute budget is spent for a long while
    order: list[int] = []

    def pages(division: int) -> Iterator[RecordPage]:
        for number in range(3):
            order.append(division)
            if division == 2 and number == 2:
                waiting.pop(1)
            yield RecordPage([{"id": f"{division}-{number}"}], number)

    prefetch = Prefetch(1, lambda d: waiting.get(d, 0.0), lambda: 0.0)
    plan = {("a", d): pages(d) for d in (1, 2)}
    emitted = _run(prefetch, plan, [1, 2], ["a"])
    assert emitted == ["1-0", "1-1", "1-2", "2-0", "2-1", "2-2"]
    assert order[:3] == [2, 2, 2]
