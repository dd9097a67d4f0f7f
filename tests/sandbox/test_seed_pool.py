"""A big division's CRM rows made by worker processes are the in-process rows, in order."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_sandbox import seed, seed_pool
from exact_online_sandbox.seed_crm import Crm
from exact_online_sandbox.store import Store

ANCHOR = 1_780_272_000_000  # 2026-06-01
COUNTS = {"accounts": 301, "contacts": 257, "items": 133}


def test_workers_make_the_rows_in_process_order() -> None:
    made = list(seed_pool.crm_rows(42, 100002, "BE", ANCHOR, COUNTS, processes=2, part=40,
                                   threshold=0))
    expected = list(Crm(42, 100002, "BE", ANCHOR, COUNTS).rows())
    assert len(expected) == 301 + 257 + 133 * 2
    assert made == expected


def test_a_small_division_is_made_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_workers(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a worker was started")

    monkeypatch.setattr(seed_pool.subprocess, "Popen", no_workers)
    made = list(seed_pool.crm_rows(42, 100001, "NL", ANCHOR, COUNTS, processes=2, part=40))
    assert made == list(Crm(42, 100001, "NL", ANCHOR, COUNTS).rows())


def test_a_worker_that_fails_is_an_error_naming_the_division() -> None:
    # a country the seed has no names for: the workers fail on their first account
    with pytest.raises(RuntimeError, match="seed worker 0 of division 100009 stopped"):
        list(seed_pool.crm_rows(42, 100009, "XX", ANCHOR, COUNTS, processes=2, part=40,
                                threshold=0))


def test_a_seed_made_by_workers_stores_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    size = {**COUNTS, "invoices": 5}

    def dump(store: Store) -> list[tuple[Any, ...]]:
        with store.reading() as conn:
            return conn.execute("SELECT entity, division, key, ts, parent, data FROM rows "
                                "ORDER BY entity, division, key").fetchall()

    alone = Store(None)
    seed.seed_all(alone, seed=7, size=size, anchor_ms=ANCHOR, divisions=1)
    monkeypatch.setattr(seed_pool, "PARALLEL_ROWS", 0)
    monkeypatch.setattr(seed_pool, "PART", 50)
    monkeypatch.setattr(seed_pool, "workers", lambda: 2)
    started: list[Any] = []
    popen = seed_pool.subprocess.Popen

    def counted(*args: Any, **kwargs: Any) -> Any:
        started.append(args)
        return popen(*args, **kwargs)

    monkeypatch.setattr(seed_pool.subprocess, "Popen", counted)
    seed._SNAPSHOTS.clear()
    pooled = Store(None)
    seed.seed_all(pooled, seed=7, size=size, anchor_ms=ANCHOR, divisions=1)
    assert len(started) == 2
    assert dump(pooled) == dump(alone)
    alone.close()
    pooled.close()
