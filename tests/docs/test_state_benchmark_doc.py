"""docs/benchmarks.md's STATE figures are benchmarks/state.json's, and that run showed STATE
growing linearly with divisions after the cadence and faster before it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
RESULTS: dict[str, Any] = json.loads((ROOT / "benchmarks" / "state.json").read_text())


def bench_table() -> str:
    spec = importlib.util.spec_from_file_location("state_bench", ROOT / "benchmarks" / "state.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.table(RESULTS["results"])
    return text


def per_division(label: str, run: str = "full") -> list[float]:
    """STATE bytes per division of each size measured with that tap, smallest size first."""
    return [r[label][run]["state_bytes"] / r["divisions"]
            for r in sorted(RESULTS["results"], key=lambda r: r["divisions"]) if label in r]


def test_the_state_table_in_the_doc_is_the_benchmarks() -> None:
    assert bench_table() in DOC


def test_after_the_cadence_state_bytes_per_division_stayed_flat() -> None:
    after = per_division("after")
    assert len(after) >= 2
    assert max(after) <= 1.25 * min(after), after


def test_before_the_cadence_state_bytes_per_division_grew_with_divisions() -> None:
    before = per_division("before")
    assert len(before) >= 2
    assert before[-1] >= 2 * before[0], before


def test_after_the_cadence_a_no_change_run_wrote_at_most_two_states() -> None:
    for result in RESULTS["results"]:
        assert result["after"]["no_change"]["state_messages"] <= 2, result["divisions"]
