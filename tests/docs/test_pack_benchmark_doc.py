"""docs/benchmarks.md's financial-pack figures are benchmarks/pack_results.json's, and that
run had every stream's full sync at its floor."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
RESULTS: dict[str, Any] = json.loads((ROOT / "benchmarks" / "pack_results.json").read_text())


def bench_table() -> str:
    spec = importlib.util.spec_from_file_location("pack_bench", ROOT / "benchmarks" / "pack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.table(RESULTS)
    return text


def test_the_pack_table_in_the_doc_is_the_benchmarks() -> None:
    assert bench_table() in DOC


def test_every_pack_stream_synced_in_full_at_its_floor() -> None:
    assert RESULTS["streams"]
    for stream in RESULTS["streams"]:
        assert stream["full_calls"] == stream["floor_calls"], stream["stream"]


def test_the_doc_names_the_whole_run_figures() -> None:
    assert f"{RESULTS['full_records']:,} records in\n{RESULTS['full_total_calls']} calls" in DOC
    assert f"no change: {RESULTS['no_change_total_calls']} calls" in DOC
