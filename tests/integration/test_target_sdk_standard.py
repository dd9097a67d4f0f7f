"""singer-sdk's target test framework (get_target_test_class) against the sandbox.

The SDK's own input files use streams like ``test_camelcase`` that are not Exact models, and
this target refuses such streams at their SCHEMA (by design), so the stream-agnostic SDK
test cli_prints runs as it is and the other standard cases run on Exact-shaped equivalents
in ``tests/data_files/sdk_*.singer``. The SDK's record_before_schema and invalid_schema
tests expect the run to crash with an exception; this target fails such a line alone (a
failed result naming the line, exit status 1, the other records written), which the two
replacements here check on the SDK's own input files.

Like the tap's standard tests, the SDK builds the class at import time from a finished
config: this module starts its own sandbox while it is collected.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import TargetCliPrintsTest
from singer_sdk.testing.templates import TargetFileTestTemplate

from exact_online_sandbox.server import Sandbox
from target_exact_online.target import TargetExactOnline

DATA = Path(__file__).resolve().parents[1] / "data_files"
_SANDBOX = Sandbox(seed=42).start()
_DIR = Path(tempfile.mkdtemp(prefix="target-standard-tests-"))
atexit.register(_SANDBOX.stop)
atexit.register(shutil.rmtree, _DIR, True)
_SANDBOX.set_limits(minutely=100000, daily=100000)

CONFIG = {
    "base_url": _SANDBOX.base_url,
    "client_id": _SANDBOX.client_id,
    "client_secret": _SANDBOX.client_secret,
    "refresh_token": _SANDBOX.mint_refresh_token(),
    "token_store": str(_DIR / "tokens.json"),
    "divisions": [100001, 100002],
    "results_path": str(_DIR / "results.jsonl"),
}


def _results() -> list[dict[str, Any]]:
    path = Path(CONFIG["results_path"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _invoice_file() -> Path:
    """An invoice with nested line_items (the SDK's array_data case) on seeded references."""
    token = _SANDBOX.access_token()
    account = _SANDBOX.call(token, "crm/Accounts?$top=1&$select=ID").json()["d"][0]
    item = _SANDBOX.call(token, "logistics/Items?$top=1&$select=ID").json()["d"][0]
    schema = {"type": "object", "properties": {
        "customer_company_id": {"type": "string"}, "journal": {"type": "string"},
        "line_items": {"type": "array", "items": {"type": "object", "properties": {
            "item_id": {"type": "string"}, "quantity": {"type": "number"},
            "price_per_unit": {"type": "number"}}}}}}
    record = {"customer_company_id": account["ID"], "journal": "70",
              "line_items": [{"item_id": item["ID"], "quantity": q, "price_per_unit": 2.5}
                             for q in (1, 2, 3)]}
    path = _DIR / "sdk_array_data.singer"
    path.write_text(
        json.dumps({"type": "SCHEMA", "stream": "accounting_invoice", "schema": schema,
                    "key_properties": []}) + "\n"
        + json.dumps({"type": "RECORD", "stream": "accounting_invoice", "record": record}) + "\n")
    return path


class _ExactFileTest(TargetFileTestTemplate):
    """Run one data file; every record must succeed with the expected outcomes."""

    file: Path
    outcomes: list[str]

    @property
    def singer_filepath(self) -> Path:  # type: ignore[override]
        return self.file

    def test(self) -> None:
        before = len(_results())
        self.runner.sync_all()
        lines = [r for r in _results()[before:] if r["type"] == "record"]
        assert [r["outcome"] for r in lines] == self.outcomes, lines


def _case(name: str, outcomes: list[str], file: Path | None = None) -> type[_ExactFileTest]:
    return type(f"Exact_{name}", (_ExactFileTest,), {
        "name": name, "file": file or DATA / f"sdk_{name}.singer", "outcomes": outcomes})


class TargetExactMultipleStates(_ExactFileTest):
    """STATE is relayed once every record before it is written: here, at the end."""

    name = "multiple_state_messages"
    file = DATA / "sdk_multiple_state_messages.singer"
    outcomes = ["created", "created", "created"]  # noqa: RUF012

    def test(self) -> None:
        super().test()
        assert self.runner.state_messages == [{"bookmarks": {"generic_company": {"n": 3}}}]


class _FailsAloneTest(TargetFileTestTemplate):
    """An SDK input the SDK's reader crashes on: one failed result naming it, exit status 1."""

    says: str

    def test(self) -> None:
        before = len(_results())
        with pytest.raises(SystemExit) as stopped:
            self.runner.sync_all()
        assert stopped.value.code == 1
        lines = [r for r in _results()[before:] if r["type"] == "record"]
        assert lines and all(r["outcome"] == "failed" for r in lines), lines
        assert self.says in lines[0]["error"], lines[0]


class TargetRecordBeforeSchemaFailsAlone(_FailsAloneTest):
    name = "record_before_schema"
    says = "before its SCHEMA"


class TargetInvalidSchemaFailsAlone(_FailsAloneTest):
    name = "invalid_schema"
    says = 'is not a JSON Schema object with "properties"'


SUITE = SingerTestSuite(kind="target", tests=[
    TargetCliPrintsTest,
    TargetRecordBeforeSchemaFailsAlone,
    TargetInvalidSchemaFailsAlone,
    _case("camelcase", ["created"]),
    _case("duplicate_records", ["created", "unchanged"]),
    _case("schema_updates", ["created", "created"]),
    _case("optional_attributes", ["created", "created"]),
    _case("no_primary_keys", ["created"]),
    _case("special_chars", ["created"]),
    _case("array_data", ["created"], _invoice_file()),
    TargetExactMultipleStates,
])

TestTargetExactOnline = get_target_test_class(
    TargetExactOnline, config=CONFIG, custom_suites=[SUITE], include_target_tests=False,
)
