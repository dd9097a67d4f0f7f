"""docs/benchmarks.md's latest tap CPU table is the three runs' results files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from doc_tables import table_rows

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
HEADER = "| run | rows | tap CPU seconds | tap records/s (CPU) |"
RUNS = (("first, bytecode", "results-tap-cpu-first.json", True),
        ("second, `--no-bytecode`", "results-tap-cpu-no-bytecode.json", False),
        ("third, bytecode", "results-tap-cpu.json", True))


def results(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "benchmarks" / name).read_text())
    return data


def test_tap_cpu_table_is_the_three_results_files() -> None:
    expected = [[label, f"{run['rows']:,}", f"{run['tap_cpu_seconds']:.2f}",
                 f"{round(run['tap_cpu_records_per_s']):,}",
                 f"{round(run['floor_records_per_s']):,}", f"{run['ratio_to_floor']:.3f}",
                 f"{round(run['tap_peak_rss_mb'])} MB", f"{run['load_average']:.1f}"]
                for label, name, _ in RUNS for run in results(name)["sizes"]]
    assert table_rows(DOC, HEADER) == expected


def test_each_run_was_made_with_or_without_bytecode_as_labelled() -> None:
    for _, name, compiled in RUNS:
        data = results(name)
        assert data["machine"]["tap_bytecode_compiled"] is compiled, name
        assert all(len(size["tap_cpu_seconds_runs"]) == 3 for size in data["sizes"]), name
