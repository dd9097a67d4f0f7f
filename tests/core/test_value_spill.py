"""ValueSpill (the items' prices of a first sync), in memory and in its file alike: every
value reads back as the same Python value, the last one added for a key wins, and a key never
added is left out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from exact_online_core.spill import ValueSpill

VALUES: list[Any] = [12.5, 0.1 + 0.2, -3, 0, 2**63, -(2**63) - 1, None, True, False, "12.50",
                     "", {"Value": 1.5}, [1, "a"], 1e308]


@pytest.fixture(params=[25_000, 0], ids=["in memory", "in its file"])
def spill(request: pytest.FixtureRequest) -> Iterator[ValueSpill]:
    made = ValueSpill(memory=request.param)
    yield made
    made.close()


def test_every_value_reads_back_as_the_same_value_and_type(spill: ValueSpill) -> None:
    spill.add((f"k{n}", value) for n, value in enumerate(VALUES))
    back = spill.get([f"k{n}" for n in range(len(VALUES))])
    assert [(type(back[f"k{n}"]), back[f"k{n}"]) for n in range(len(VALUES))] == [
        (type(value), value) for value in VALUES]


def test_the_last_value_added_for_a_key_wins_and_unknown_keys_are_left_out(
    spill: ValueSpill,
) -> None:
    spill.add([("a", 1.0), ("b", 2.0)])
    spill.add([("a", None), ("b", 3.5)])
    assert spill.get(["a", "b", "c"]) == {"a": None, "b": 3.5}


def test_more_keys_than_one_sqlite_lookup_takes_are_all_found(spill: ValueSpill) -> None:
    spill.add((f"id-{n}", n / 4) for n in range(1300))
    keys = [f"id-{n}" for n in range(1300)]
    assert spill.get(keys) == {f"id-{n}": n / 4 for n in range(1300)}


def test_values_moved_to_the_file_past_the_limit_keep_the_last_one_added() -> None:
    spill = ValueSpill(memory=3)
    try:
        spill.add([("a", 1.0), ("b", 2.0)])
        spill.add([("a", 1.5), ("c", 3.0), ("d", 4.0)])  # four keys: to the file
        spill.add([("b", 2.5)])
        assert spill.get(["a", "b", "c", "d"]) == {"a": 1.5, "b": 2.5, "c": 3.0, "d": 4.0}
    finally:
        spill.close()
