"""target-exact-online (the real executable) against the sandbox: what it writes lands in Exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox

from .test_target_support import DATA, DIVISION, run_target, singer, target_config

DELETED = {"_sdc_deleted_at": "2024-05-01T12:00:00Z"}

Rest = Callable[..., Any]


@pytest.fixture
def rest(sandbox: Sandbox) -> Rest:
    """GET (or any method) on Exact's REST surface of the sandbox; parsed JSON or None."""
    token = sandbox.access_token()

    def call(path: str, method: str = "GET", **kwargs: Any) -> Any:
        response = sandbox.call(token, path, method, **kwargs)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json() if response.content else None

    return call


def rows(rest: Rest, path: str) -> list[dict[str, Any]]:
    d = rest(path)["d"]  # a bare {"d": [...]} for $top below the page size, as Exact answers
    return list(d if isinstance(d, list) else d["results"])


def entity(rest: Rest, path: str, key: str) -> dict[str, Any] | None:
    body = rest(f"{path}(guid'{key}')")
    if body is None:
        return None
    d = body["d"]
    return dict(d["results"][0] if "results" in d else d)


@pytest.fixture
def refs(rest: Rest) -> dict[str, str]:
    """Seeded rows the records refer to: an account, an item, a draft invoice."""
    account = rows(rest, "crm/Accounts?$top=1&$select=ID")[0]["ID"]
    item = rows(rest, "logistics/Items?$top=1&$select=ID")[0]["ID"]
    draft = rows(rest, "salesinvoice/SalesInvoices?$filter=Status eq 10&$top=1"
                       "&$select=InvoiceID")[0]["InvoiceID"]
    return {"account": account, "item": item, "draft": draft}


# (stream, Exact path, create record, update record, Exact fields expected after each)
CASES: list[Any] = [
    pytest.param(
        "generic_company", "crm/Accounts",
        lambda r: {"name": "Writer B.V.", "code": "WRT001", "country": "NL",
                   "email": "info@writer.example", "website": "https://writer.example"},
        lambda r: {"name": "Writer Holding B.V.", "phone": "+31 20 000 0000"},
        {"Name": "Writer B.V.", "Email": "info@writer.example"},
        {"Name": "Writer Holding B.V.", "Phone": "+31 20 000 0000",
         "Email": "info@writer.example"},
        id="generic_company",
    ),
    pytest.param(
        "generic_contact", "crm/Contacts",
        lambda r: {"first_name": "Ada", "last_name": "O'Brien", "email": "ada@example.com",
                   "company_id": r["account"]},
        lambda r: {"email": "ada.obrien@example.com"},
        {"FirstName": "Ada", "LastName": "O'Brien"},
        {"Email": "ada.obrien@example.com", "LastName": "O'Brien"},
        id="generic_contact",
    ),
    pytest.param(
        "accounting_invoice_item", "logistics/Items",
        lambda r: {"name": "Consulting hour", "code": "HOUR-WRT", "price": 95.5,
                   "is_sales_item": True, "description": "Senior"},
        lambda r: {"price": 99.0},
        {"Description": "Consulting hour", "StandardSalesPrice": 95.5},
        {"StandardSalesPrice": 99.0, "Description": "Consulting hour"},
        id="accounting_invoice_item",
    ),
    pytest.param(
        "accounting_invoice", "salesinvoice/SalesInvoices",
        lambda r: {"customer_company_id": r["account"], "journal": "70", "type": "invoice",
                   "description": "Written by the target",
                   "line_items": [{"item_id": r["item"], "quantity": 2,
                                   "price_per_unit": 10.0, "description": "Line one"}]},
        lambda r: {"note": "Updated remark", "description": "Renamed"},
        {"Description": "Written by the target", "AmountFCExclVat": 20.0},
        {"Remarks": "Updated remark", "Description": "Renamed"},
        id="accounting_invoice",
    ),
    pytest.param(
        "accounting_invoice_line_item", "salesinvoice/SalesInvoiceLines",
        lambda r: {"invoice_id": r["draft"], "item_id": r["item"], "quantity": 3,
                   "price_per_unit": 7.5, "description": "Extra line"},
        lambda r: {"quantity": 4},
        {"Quantity": 3.0, "NetPrice": 7.5},
        {"Quantity": 4.0, "Description": "Extra line"},
        id="accounting_invoice_line_item",
    ),
]


def check(row: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    assert row is not None
    for name, value in expected.items():
        actual = row.get(name)
        if isinstance(actual, str):
            actual = actual.strip()
        assert actual == value, f"{name}: {actual!r} != {value!r}"


@pytest.mark.parametrize(("stream", "path", "create", "update", "after_create", "after_update"),
                         CASES)
def test_create_update_delete_land_in_exact(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path, rest: Rest,
    refs: dict[str, str], stream: str, path: str, create: Callable[..., dict[str, Any]],
    update: Callable[..., dict[str, Any]], after_create: dict[str, Any],
    after_update: dict[str, Any],
) -> None:
    config = target_config(settings, tmp_path)
    entity_name = path
    before = sandbox.row_count(entity_name)

    created = run_target(config, tmp_path, singer(stream, [create(refs)]))
    assert created.returncode == 0, created.stderr
    [record] = created.records
    assert (record["outcome"], record["operation"]) == ("created", "create"), record
    exact_id = record["exact_id"]
    check(entity(rest, path, exact_id), after_create)
    assert sandbox.row_count(entity_name) == before + 1

    changes = {"id": exact_id, "division": DIVISION, **update(refs)}
    updated = run_target(config, tmp_path, singer(stream, [changes]))
    assert updated.returncode == 0, updated.stderr
    assert [r["outcome"] for r in updated.records] == ["updated"], updated.records
    check(entity(rest, path, exact_id), after_update)

    deleted = run_target(config, tmp_path,
                         singer(stream, [{"id": exact_id, "division": DIVISION, **DELETED}]))
    assert deleted.returncode == 0, deleted.stderr
    assert [r["outcome"] for r in deleted.records] == ["deleted"], deleted.records
    assert entity(rest, path, exact_id) is None
    assert sandbox.row_count(entity_name) == before


def test_camelcase_stream_name_and_second_division(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path, rest: Rest,
) -> None:
    config = target_config(settings, tmp_path)
    record = {"name": "Tweede", "code": "BE-2", "division": 100002}
    run = run_target(config, tmp_path, singer("genericCompany", [record],
                                              model="generic_company"))
    assert run.returncode == 0, run.stderr
    [result] = run.records
    assert (result["stream"], result["division"]) == ("generic_company", 100002)
    token = sandbox.access_token()
    response = sandbox.call(token, f"crm/Accounts(guid'{result['exact_id']}')", division=100002)
    assert response.json()["d"]["Name"] == "Tweede"


def test_mapped_custom_field_is_written(
    settings: dict[str, Any], tmp_path: Path, rest: Rest, refs: dict[str, str],
) -> None:
    mappings = {"generic_company": {"kvk": {"exact": "ChamberOfCommerce", "type": "string"}}}
    config = target_config(settings, tmp_path, field_mappings=mappings)
    schema = {"type": "object", "properties": {"id": {"type": "string"},
                                               "division": {"type": "integer"},
                                               "kvk": {"type": ["string", "null"]}}}
    text = (json.dumps({"type": "SCHEMA", "stream": "generic_company", "schema": schema,
                        "key_properties": ["division", "id"]}) + "\n"
            + json.dumps({"type": "RECORD", "stream": "generic_company",
                          "record": {"id": refs["account"], "division": DIVISION,
                                     "kvk": "87654321"}}) + "\n")
    run = run_target(config, tmp_path, text)
    assert run.returncode == 0, run.stderr
    assert run.outcomes() == ["updated"]
    check(entity(rest, "crm/Accounts", refs["account"]), {"ChamberOfCommerce": "87654321"})


def test_custom_stream_writes_to_its_write_endpoint(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path, rest: Rest,
) -> None:
    custom = [{"name": "projects", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
               "replication_key": "Timestamp",
               "select": ["ID", "Code", "Description", "Notes", "Timestamp"],
               "write_endpoint": "project/Projects"}]
    config = target_config(settings, tmp_path, custom_streams=custom)
    before = sandbox.row_count("project/Projects")
    run = run_target(config, tmp_path, DATA / "projects_create.singer")
    assert run.returncode == 0, run.stderr
    [result] = run.records
    assert result["outcome"] == "created"
    check(entity(rest, "project/Projects", result["exact_id"]),
          {"Code": "PRJ-WRT", "Description": "Written project"})
    edit = {"ID": result["exact_id"], "division": DIVISION, "Notes": "note"}
    lines = DATA.joinpath("projects_create.singer").read_text().splitlines()[0] + "\n"
    lines += json.dumps({"type": "RECORD", "stream": "projects", "record": edit}) + "\n"
    assert run_target(config, tmp_path, lines).outcomes() == ["updated"]
    check(entity(rest, "project/Projects", result["exact_id"]), {"Notes": "note"})
    gone = {"ID": result["exact_id"], "division": DIVISION, **DELETED}
    lines = lines.splitlines()[0] + "\n" + json.dumps(
        {"type": "RECORD", "stream": "projects", "record": gone}) + "\n"
    assert run_target(config, tmp_path, lines).outcomes() == ["deleted"]
    assert sandbox.row_count("project/Projects") == before
