"""RecordWriter with a fake core API: ledger decisions, unknown-outcome recovery, read-back."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from exact_online_core.errors import (
    DailyLimitExceededError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from target_exact_online.ledger import Ledger
from target_exact_online.validation import RecordPlanner, resolve_stream
from target_exact_online.writer import FatalWriteError, RecordWriter, same_value

ID = "0f0e0d0c-0000-4000-8000-0000000000{:02d}"
SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.rows: dict[str, dict[str, Any]] = {}
        self.fail_create: Exception | None = None
        self.store_create: bool = True
        self.drop: set[str] = set()

    def create(self, stream: str, division: int, record: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", stream))
        row = {"id": ID.format(len(self.rows) + 1), "division": division, **record}
        for prop in self.drop:
            row[prop] = None
        if self.store_create:
            self.rows[row["id"]] = row
        if self.fail_create is not None:
            raise self.fail_create
        return row

    def update(self, stream: str, division: int, id: str, record: dict[str, Any]) -> Any:
        self.calls.append(("update", id))
        if id not in self.rows:
            raise NotFoundError("no such record")
        self.rows[id].update(record)
        return self.rows[id]

    def delete(self, stream: str, division: int, id: str) -> None:
        self.calls.append(("delete", id))
        if self.rows.pop(id, None) is None:
            raise NotFoundError("no such record")

    def find(self, stream: str, division: int, prop: str, value: Any) -> list[dict[str, Any]]:
        self.calls.append(("find", f"{prop}={value}"))
        return [r for r in self.rows.values() if r.get(prop) == value]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite")


def writer(api: FakeApi, ledger: Ledger, dry_run: bool = False,
           error_limit: int = 8) -> RecordWriter:
    return RecordWriter(api, ledger, dry_run=dry_run,  # type: ignore[arg-type]
                        logger=logging.getLogger("test"), error_limit=error_limit)


def plan(record: dict[str, Any], stream: str = "generic_company", external_id: str | None = None):
    spec = resolve_stream(stream, {}, ())
    p = RecordPlanner(spec, SCHEMA, external_id=external_id, default_division=lambda: 100001,
                      allowed_divisions=None)
    return p.plan(record)


def test_replay_of_a_created_record_is_unchanged(api: FakeApi, ledger: Ledger) -> None:
    w = writer(api, ledger)
    first = w.write(plan({"name": "A", "code": "A1"}))
    again = w.write(plan({"name": "A", "code": "A1"}))
    assert (first.outcome, again.outcome) == ("created", "unchanged")
    assert again.exact_id == first.exact_id
    assert [c[0] for c in api.calls] == ["create"]


def test_known_external_id_with_a_new_payload_becomes_an_update(api: FakeApi,
                                                                  ledger: Ledger) -> None:
    w = writer(api, ledger)
    first = w.write(plan({"ref": "R", "name": "A"}, external_id="ref"))
    second = w.write(plan({"ref": "R", "name": "B"}, external_id="ref"))
    assert (second.outcome, second.operation, second.exact_id) == ("updated", "update",
                                                                    first.exact_id)
    assert api.rows[first.exact_id or ""]["name"] == "B"


def test_delete_by_external_id_uses_the_ledger_id(api: FakeApi, ledger: Ledger) -> None:
    w = writer(api, ledger)
    first = w.write(plan({"ref": "R", "name": "A"}, external_id="ref"))
    gone = w.write(plan({"ref": "R", "_sdc_deleted_at": "2024-01-01T00:00:00Z"},
                        external_id="ref"))
    assert (gone.outcome, gone.exact_id) == ("deleted", first.exact_id)
    assert w.write(plan({"ref": "R", "_sdc_deleted_at": "2024-01-01T00:00:00Z"},
                        external_id="ref")).outcome == "unchanged"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(TransportError("timed out", outcome_unknown=True), id="timeout"),
        pytest.param(ServerError("500"), id="5xx"),
    ],
)
def test_unknown_post_outcome_is_recovered_by_code_not_resent(
    api: FakeApi, ledger: Ledger, error: Exception
) -> None:
    api.fail_create = error
    result = writer(api, ledger).write(plan({"name": "A", "code": "A1"}))
    assert result.outcome == "created"
    assert [c[0] for c in api.calls] == ["create", "find"]
    assert result.exact_id in api.rows


def test_unknown_post_without_natural_key_is_reported_unknown(api: FakeApi,
                                                              ledger: Ledger) -> None:
    api.fail_create = TransportError("reset", outcome_unknown=True)
    record = {"first_name": "F", "company_id": ID.format(99)}
    w = writer(api, ledger)
    result = w.write(plan(record, "generic_contact"))
    assert result.outcome == "unknown"
    assert "NOT sent again" in (result.error or "")
    api.fail_create = None
    assert w.write(plan(record, "generic_contact")).outcome == "unknown"  # replay: still no
    assert [c[0] for c in api.calls] == ["create"]


def test_an_intent_left_by_a_crash_is_looked_up_on_replay(api: FakeApi, ledger: Ledger) -> None:
    p = plan({"name": "A", "code": "A1"})
    assert p.payload_hash is not None
    ledger.record_pending("generic_company", 100001, p.input_key, p.payload_hash)
    api.rows[ID.format(7)] = {"id": ID.format(7), "name": "A", "code": "A1"}
    result = writer(api, ledger).write(p)
    assert (result.outcome, result.exact_id) == ("created", ID.format(7))
    assert [c[0] for c in api.calls] == ["find"]


def test_refused_create_clears_its_intent(api: FakeApi, ledger: Ledger) -> None:
    api.fail_create = ValidationError("Mandatory: Name")
    api.store_create = False
    p = plan({"name": "A"})
    result = writer(api, ledger).write(p)
    assert result.outcome == "failed" and "Mandatory" in (result.error or "")
    assert ledger.get("generic_company", 100001, p.input_key) is None


def test_daily_limit_stops_the_run(api: FakeApi, ledger: Ledger) -> None:
    api.fail_create = DailyLimitExceededError("daily limit")
    api.store_create = False
    with pytest.raises(FatalWriteError) as caught:
        writer(api, ledger).write(plan({"name": "A"}))
    assert caught.value.result.outcome == "failed"


def test_a_429_that_outlasted_the_waits_stops_the_run(api: FakeApi, ledger: Ledger) -> None:
    api.fail_create = RateLimitError("failed with 429", method="POST", endpoint="crm/Accounts",
                                     division=100001, status=429,
                                     exact_message="Too many errors: blocked")
    api.store_create = False
    with pytest.raises(FatalWriteError) as caught:
        writer(api, ledger).write(plan({"name": "A"}))
    assert "Too many errors" in (caught.value.result.error or "")


def test_silently_dropped_values_are_warnings(api: FakeApi, ledger: Ledger) -> None:
    api.drop = {"website"}
    result = writer(api, ledger).write(plan({"name": "A", "website": "https://a.example"}))
    assert result.outcome == "created"
    assert any("website" in w for w in result.warnings)


def test_dry_run_calls_nothing(api: FakeApi, tmp_path: Path) -> None:
    w = writer(api, Ledger(tmp_path / "none.sqlite", read_only=True), dry_run=True)
    result = w.write(plan({"name": "A"}))
    assert (result.outcome, result.call) == ("created", "POST crm/Accounts (division 100001)")
    assert api.calls == []
    assert not (tmp_path / "none.sqlite").exists()


@pytest.mark.parametrize(
    ("sent", "stored", "same"),
    [
        ("NL", "NL ", True),
        (12.5, 12.5000000001, True),
        ("2024-03-01T00:00:00Z", "2024-03-01T00:00:00+00:00", True),
        ("x", None, False),
        ("a", "b", False),
    ],
)
def test_same_value(sent: Any, stored: Any, same: bool) -> None:
    assert same_value(sent, stored) is same


def test_ledger_survives_reopen(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as first:
        first.record_written("s", 1, "k", "id-1", "h")
    with Ledger(tmp_path / "l.sqlite") as second:
        entry = second.get("s", 1, "k")
    assert entry is not None and (entry.exact_id, entry.state) == ("id-1", "written")


def test_an_intent_not_found_in_exact_on_replay_is_sent_again(api: FakeApi,
                                                              ledger: Ledger) -> None:
    p = plan({"name": "A", "code": "A1"})
    assert p.payload_hash is not None
    ledger.record_pending("generic_company", 100001, p.input_key, p.payload_hash)
    result = writer(api, ledger).write(p)
    assert result.outcome == "created"
    assert [c[0] for c in api.calls] == ["find", "create"]
