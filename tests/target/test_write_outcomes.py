"""RecordWriter outcomes: unknown only when a POST may have landed unanswered, ids kept, deletions
final, misses reported as not found, duplicates in one input warned about, the error-rate guard.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from exact_online_core.errors import (
    ReadBackError,
    ServerError,
    TransportError,
    ValidationError,
)
from target_exact_online.ledger import Ledger

from .test_writer import ID, FakeApi, plan, writer

CONTACT = {"first_name": "F", "last_name": "L", "company_id": ID.format(99)}
DELETED = {"_sdc_deleted_at": "2024-01-01T00:00:00Z"}


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite", owner="this-run")


# -- unknown only when the POST may have reached Exact unanswered ------------------------------


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(TransportError("connection refused", method="POST",
                                    endpoint="crm/Contacts", division=100001),
                     id="post-never-connected"),
        pytest.param(ServerError("failed with 503", method="GET", endpoint="salesinvoice/"
                                 "SalesInvoices(guid'x')", division=100001, status=503),
                     id="read-before-the-post-failed"),
        pytest.param(ValidationError("failed with 400", method="POST", endpoint="crm/Contacts",
                                     division=100001, status=400), id="post-refused"),
    ],
)
def test_a_post_that_cannot_have_created_anything_is_a_plain_failure_retried_next_run(
    api: FakeApi, ledger: Ledger, error: Exception
) -> None:
    api.fail_create, api.store_create = error, False
    p = plan(CONTACT, "generic_contact")
    first = writer(api, ledger).write(p)
    assert first.outcome == "failed", first
    assert ledger.get("generic_contact", 100001, p.input_key) is None
    api.fail_create, api.store_create = None, True
    again = writer(api, ledger).write(plan(CONTACT, "generic_contact"))
    assert again.outcome == "created"
    assert len(api.rows) == 1


def test_a_failed_token_endpoint_is_a_plain_failure_that_stops_the_run(
    api: FakeApi, ledger: Ledger
) -> None:
    from target_exact_online.writer import FatalWriteError

    api.fail_create = TransportError("Could not reach the token endpoint", method="POST",
                                     endpoint="oauth2/token")
    api.store_create = False
    p = plan(CONTACT, "generic_contact")
    with pytest.raises(FatalWriteError) as caught:
        writer(api, ledger).write(p)
    assert caught.value.result.outcome == "failed"
    assert ledger.get("generic_contact", 100001, p.input_key) is None


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(TransportError("no answer", outcome_unknown=True, method="POST",
                                    endpoint="crm/Contacts", division=100001), id="timeout"),
        pytest.param(ServerError("failed with 500", method="POST", endpoint="crm/Contacts",
                                 division=100001, status=500), id="5xx-to-the-post"),
    ],
)
def test_a_post_that_may_have_landed_without_an_answer_is_unknown(
    api: FakeApi, ledger: Ledger, error: Exception
) -> None:
    api.fail_create = error
    result = writer(api, ledger).write(plan(CONTACT, "generic_contact"))
    assert result.outcome == "unknown"


def test_a_confirmed_create_whose_read_back_failed_is_created_with_its_id(
    api: FakeApi, ledger: Ledger
) -> None:
    api.fail_create = ReadBackError(
        "the record was created, reading it back failed", exact_id=ID.format(1),
        method="GET", endpoint="salesinvoice/SalesInvoices", division=100001, status=503)
    p = plan(CONTACT, "generic_contact")
    result = writer(api, ledger).write(p)
    assert (result.outcome, result.exact_id) == ("created", ID.format(1))
    assert any("read" in w for w in result.warnings)
    entry = ledger.get("generic_contact", 100001, p.input_key)
    assert entry is not None and (entry.state, entry.exact_id) == ("written", ID.format(1))
    api.fail_create = None
    assert writer(api, ledger).write(plan(CONTACT, "generic_contact")).outcome == "unchanged"
    assert [c[0] for c in api.calls] == ["create"]


def test_an_update_whose_read_back_failed_is_recorded_as_written(
    api: FakeApi, ledger: Ledger
) -> None:
    w = writer(api, ledger)
    first = w.write(plan({"ref": "R", "name": "A"}, external_id="ref"))

    def update(stream: str, division: int, id: str, record: dict[str, Any]) -> Any:
        api.calls.append(("update", id))
        raise ReadBackError("updated, reading it back failed", exact_id=id, method="GET",
                            endpoint="crm/Accounts", division=division, status=503)

    api.update = update  # type: ignore[method-assign]
    second = w.write(plan({"ref": "R", "name": "B"}, external_id="ref"))
    assert (second.outcome, second.exact_id) == ("updated", first.exact_id)
    assert w.write(plan({"ref": "R", "name": "B"}, external_id="ref")).outcome == "unchanged"


# -- deletions are final ---------------------------------------------------------------------


def test_replaying_the_create_of_a_deleted_key_creates_nothing(api: FakeApi,
                                                              ledger: Ledger) -> None:
    w = writer(api, ledger)
    created = w.write(plan({"ref": "R", "name": "A"}, external_id="ref"))
    assert w.write(plan({"ref": "R", **DELETED}, external_id="ref")).outcome == "deleted"
    replay = w.write(plan({"ref": "R", "name": "A"}, external_id="ref"))
    assert replay.outcome == "unchanged"
    assert replay.exact_id == created.exact_id
    assert any("deleted" in w for w in replay.warnings)
    assert [c[0] for c in api.calls] == ["create", "delete"]
    assert api.rows == {}


def test_a_key_whose_id_was_deleted_by_id_is_not_updated_or_created_again(
    api: FakeApi, ledger: Ledger
) -> None:
    w = writer(api, ledger)
    created = w.write(plan({"ref": "R", "name": "A"}, external_id="ref"))
    gone = w.write(plan({"id": created.exact_id, **DELETED}))
    assert gone.outcome == "deleted"
    changed = w.write(plan({"ref": "R", "name": "B"}, external_id="ref"))
    assert changed.outcome == "unchanged"
    assert [c[0] for c in api.calls] == ["create", "delete"]


# -- messages --------------------------------------------------------------------------------


def test_a_delete_of_an_id_exact_does_not_have_is_not_found(api: FakeApi,
                                                            ledger: Ledger) -> None:
    p = plan({"id": ID.format(1), **DELETED})
    result = writer(api, ledger).write(p)
    assert result.outcome == "not_found"
    assert "not found" in (result.error or "").lower() or any(
        "not found" in w.lower() for w in result.warnings)
    entry = ledger.get("generic_company", 100001, p.input_key)
    assert entry is not None and entry.state == "deleted"


def test_two_identical_records_without_external_id_in_one_input_are_warned_about(
    api: FakeApi, ledger: Ledger
) -> None:
    w = writer(api, ledger)
    first = w.write(plan({"name": "Twin", "code": "T1"}))
    second = w.write(plan({"name": "Twin", "code": "T1"}))
    assert (first.outcome, second.outcome) == ("created", "unchanged")
    assert first.warnings == []
    assert any("identical" in w and "external_id" in w for w in second.warnings)


def test_a_record_replayed_in_a_later_run_is_not_called_a_duplicate(
    api: FakeApi, ledger: Ledger
) -> None:
    writer(api, ledger).write(plan({"name": "Once", "code": "O1"}))
    again = writer(api, ledger).write(plan({"name": "Once", "code": "O1"}))
    assert again.outcome == "unchanged"
    assert not any("identical" in w for w in again.warnings)


# -- the error-rate guard --------------------------------------------------------------------


def refused(endpoint: str = "crm/Accounts") -> ValidationError:
    return ValidationError("failed with 400 Bad Request", method="POST", endpoint=endpoint,
                           division=100001, status=400, exact_message="Mandatory: Name")


def test_refused_calls_stop_the_run_before_exact_blocks_the_app(api: FakeApi,
                                                               ledger: Ledger) -> None:
    from target_exact_online.writer import FatalWriteError

    api.fail_create, api.store_create = refused(), False
    w = writer(api, ledger, error_limit=3)
    assert [w.write(plan({"name": f"N{i}"})).outcome for i in range(2)] == ["failed"] * 2
    with pytest.raises(FatalWriteError) as caught:
        w.write(plan({"name": "N2"}))
    message = str(caught.value)
    for needle in ("crm/Accounts", "100001", "3", "blocks", "error_limit"):
        assert needle in message, (needle, message)
    assert len(api.calls) == 3


def test_refused_calls_of_an_earlier_run_count_and_nothing_is_sent(api: FakeApi,
                                                                   ledger: Ledger) -> None:
    from target_exact_online.writer import FatalWriteError

    for _ in range(3):
        ledger.record_error("crm/Accounts", 100001, 400, at=time.time() - 60)
    with pytest.raises(FatalWriteError):
        writer(api, ledger, error_limit=3).write(plan({"name": "A"}))
    assert api.calls == []


def test_refused_calls_on_another_endpoint_do_not_stop_this_one(api: FakeApi,
                                                                ledger: Ledger) -> None:
    for _ in range(3):
        ledger.record_error("crm/Contacts", 100001, 400, at=time.time() - 60)
    assert writer(api, ledger, error_limit=3).write(plan({"name": "A"})).outcome == "created"


def test_error_limit_zero_turns_the_guard_off(api: FakeApi, ledger: Ledger) -> None:
    api.fail_create, api.store_create = refused(), False
    w = writer(api, ledger, error_limit=0)
    assert {w.write(plan({"name": f"N{i}"})).outcome for i in range(12)} == {"failed"}
