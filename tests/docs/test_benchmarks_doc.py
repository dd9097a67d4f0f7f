"""docs/benchmarks.md and README's figures are benchmarks/results.json's, and its account of the
reliability suite counts the tests that exist."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from doc_tables import table_rows

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
RESULTS: dict[str, Any] = json.loads((ROOT / "benchmarks" / "results.json").read_text())
SIZES = {run["rows"]: run for run in RESULTS["sizes"]}
RELIABILITY = ROOT / "tests" / "reliability"


def thousands(value: float) -> str:
    return f"{round(value):,}"


def literal(path: Path, name: str) -> Any:
    """A module-level literal (dict, tuple) of a test module, read without importing it."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == name and node.value is not None:
            return node.value
    raise AssertionError(f"{path.name} has no {name}")


def dict_size(path: Path, name: str) -> int:
    value = literal(path, name)
    assert isinstance(value, ast.Dict)
    return len(value.keys)


def test_whole_run_table_is_the_results_file() -> None:
    rows = table_rows(DOC, "| rows | API calls full / no-change |")
    assert [row[0] for row in rows] == [thousands(size) for size in SIZES]
    for row, run in zip(rows, SIZES.values(), strict=True):
        assert row[1:] == [
            f"{thousands(run['full_total_calls'])} / {run['no_change_total_calls']}",
            thousands(run["tap_records_per_s"]), thousands(run["tap_cpu_records_per_s"]),
            thousands(run["floor_records_per_s"]), f"{run['ratio_to_floor']:.2f}",
            f"{thousands(run['tap_peak_rss_mb'])} MB", thousands(run["sandbox_rows_per_s"]),
            f"{thousands(run['sandbox_peak_rss_mb'])} MB",
        ]


def test_calls_per_stream_table_is_the_results_file() -> None:
    rows = table_rows(DOC, "| rows | generic_company |")
    streams = ["generic_company", "generic_contact", "accounting_invoice_item",
               "accounting_invoice (+ line items)"]
    for row, run in zip(rows, SIZES.values(), strict=True):
        assert row[1:] == [f"{run['full_calls'][s]} / {run['no_change_calls'][s]} / "
                           f"{run['floor_calls'][s]}" for s in streams]


@pytest.mark.parametrize("size", list(SIZES))
def test_fixed_calls_of_a_sync_add_up_as_the_text_says(size: int) -> None:
    run = SIZES[size]
    other = run["other_full_calls"]
    listed = dict(re.findall(r"`(?:GET )?([\w/]+)` (\d+)", DOC.split("The other calls", 1)[1]
                             .split("no-change sync", 1)[0]))
    assert {k.removeprefix("GET "): v for k, v in other.items() if k.startswith("GET ")} == {
        name: int(count) for name, count in listed.items()}
    in_all = re.search(r"one token refresh \((\d+) in\s+all\)", DOC)
    assert in_all and int(in_all.group(1)) == sum(other.values())
    no_change = re.search(r"no-change sync (\d+) calls in all", DOC)
    assert no_change and int(no_change.group(1)) == run["no_change_total_calls"]


def test_target_paragraph_is_the_results_file() -> None:
    target = RESULTS["target"]
    windows = ", ".join(str(n) for n in target["full_windows"])
    assert f"{target['records']} creates" in DOC
    assert f"({len(target['full_windows'])} windows: {windows})" in DOC
    assert f"**{target['budget_fraction']:.3f} of the budget**" in DOC
    assert f"**{target['responses_429']}** responses 429" in DOC


def test_readme_summary_table_is_the_results_file() -> None:
    rows = table_rows(README, "| rows | API calls, full / no-change sync")
    for row, run in zip(rows, SIZES.values(), strict=True):
        assert row[1:] == [
            f"{thousands(run['full_total_calls'])} / {run['no_change_total_calls']}",
            thousands(run["tap_cpu_records_per_s"]), f"{thousands(run['tap_peak_rss_mb'])} MB"]


def test_fault_case_count_is_the_fault_tests() -> None:
    faults = dict_size(RELIABILITY / "test_faults.py", "FAULTS")
    assert f"`test_faults.py` ({faults} cases)" in DOC


def test_malformed_file_case_count_is_the_bad_input_tests() -> None:
    path = RELIABILITY / "test_bad_input.py"
    cases = 2 * dict_size(path, "BAD_CONFIGS") + dict_size(path, "BAD_CATALOGS")
    assert f"catalog…` ({cases} cases)" in DOC


def test_doc_names_no_xfail_or_helper_the_suite_does_not_have() -> None:
    suite = "\n".join(p.read_text(encoding="utf-8") for p in RELIABILITY.glob("*.py"))
    for name in ("xfail", "KNOWN_TRACEBACKS"):
        assert (name in DOC) <= (name in suite), name


def test_sandbox_figures_are_sandbox_results() -> None:
    """The table of the sandbox's own figures is benchmarks/sandbox-results.json's run."""
    results = json.loads((ROOT / "benchmarks" / "sandbox-results.json").read_text())
    rows = {row[0]: row for row in table_rows(DOC, "| rows a division |")}
    assert results["sizes"]
    for run in results["sizes"]:
        row = rows[thousands(run["rows"])]
        assert row[1] == f"{run['seed_seconds']:.1f} s"
        assert row[2] == f"{run['seed_cpu_seconds']:.1f} s"
        assert row[3] == f"{thousands(run['rows_per_s'])} / {thousands(run['rows_per_cpu_s'])}"
        assert row[4] == (f"{thousands(run['select_rows_per_s'])} / "
                          f"{thousands(run['select_rows_per_cpu_s'])}")
        assert row[5] == f"{round(run['peak_rss_mb'])} MB"
        assert row[6] == f"{round(run['rss_after_mb'])} MB"
        if run.get("select_served_rows_per_s"):  # a run with the served figure shows it
            assert row[7] == (f"{thousands(run['served_rows_per_s'])} / "
                              f"{thousands(run['select_served_rows_per_s'])}")
        if run.get("concurrent_rows_per_s"):  # and one with two readers at once, those
            assert row[8] == (f"{thousands(run['concurrent_rows_per_s'])} / "
                              f"{thousands(run['concurrent_served_rows_per_s'])}")


def test_invoice_table_is_the_invoices_file() -> None:
    invoices = json.loads((ROOT / "benchmarks" / "invoices.json").read_text())
    rows = table_rows(DOC, "| invoices | sync rows |")
    assert [row[0] for row in rows] == [thousands(run["invoices"]) for run in invoices]
    for row, run in zip(rows, invoices, strict=True):
        full = run["full"]["calls"]
        assert row[1:] == [
            thousands(run["sync_rows"]), thousands(run["receivables"]),
            str(full.get("GET sync/SalesInvoice/SalesInvoices", 0)),
            str(full.get("GET bulk/Cashflow/Receivables", 0)),
            str(sum(full.values())), str(run["floor"]), f"{run['ratio']:.2f}",
            str(sum(run["no_change"]["calls"].values())),
            str(sum(run["changed"]["calls"].values())),
            f"{run['full']['seconds']:.1f}", f"{run['full']['cpu_seconds']:.1f}",
            f"{run['full']['peak_rss_mb']:.0f} MB",
        ]



def test_many_divisions_table_is_the_divisions_results_file() -> None:
    spec = importlib.util.spec_from_file_location("divisions",
                                                  ROOT / "benchmarks" / "divisions.py")
    assert spec is not None and spec.loader is not None
    divisions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(divisions)
    results = json.loads((ROOT / "benchmarks" / "divisions.json").read_text())
    assert divisions.table(results) in DOC
    assert f"{results['divisions']:,} divisions" in DOC.split("## Many divisions", 1)[1]


def test_many_divisions_table_counts_the_listings_the_processes_made() -> None:
    """Division threads asking for the listing at once list it twice: the table shows the
    calls made and keeps them out of the calls per division."""
    spec = importlib.util.spec_from_file_location("divisions",
                                                  ROOT / "benchmarks" / "divisions.py")
    assert spec is not None and spec.loader is not None
    divisions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(divisions)
    own = {"GET sync/CRM/Accounts": 1, "GET users/Users": 1}
    run = {"workers": 2, "divisions": 120, "seconds": 60.0, "finished": True,
           "records": 500, "state_messages": 8, "state_megabytes": 0.1,
           "responses_429": 0, "by_status": {"200": 486, "401": 0},
           "token_answers": {"200": 3},
           "by_endpoint": {**{k: 120 * v for k, v in own.items()},
                           "GET system/Divisions": 120 + 3 * 2},
           "api_calls": 120 * 2 + 120 + 6}
    results = {"divisions": 120, "runs": [run],
               "floor": {"calls_per_division": 2 + 1 + 2,
                         "by_endpoint": {**own, "GET system/Divisions": 1 + 2}}}
    row = divisions.table(results).splitlines()[2]
    assert row == "| 2 | 60.0 s | 120 | 3.00 (3) | 6 (3 x 2) | 0 | 0 | 3 x 200 | 500 | 8 (0.1) |"
