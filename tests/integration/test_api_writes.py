"""ExactOnline writes, deletions, lookups, probes and divisions against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exact_online_core.api import ExactOnline
from exact_online_core.config import ExactConfig
from exact_online_core.errors import NotFoundError, ValidationError
from exact_online_core.http import ExactClient
from exact_online_sandbox.server import Sandbox

DIVISION = 100001


@pytest.fixture
def api(config: ExactConfig, client: ExactClient, sandbox: Sandbox) -> ExactOnline:
    sandbox.set_limits(minutely=1000)
    return ExactOnline(
        config,
        client=client,
        clock=sandbox.now,
        field_mappings={"generic_company": {"kvk": "ChamberOfCommerce"},
                        "accounting_invoice_item": {"colour": "FreeTextField_01"}},
        custom_streams=[{"name": "projects", "endpoint": "sync/Project/Projects",
                         "primary_keys": ["ID"], "replication_key": "Timestamp",
                         "select": ["ID", "Code", "Description", "Timestamp"],
                         "write_endpoint": "project/Projects"}],
    )


def raw(client: ExactClient, path: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(path, division=DIVISION)["d"]
    return body


def a_company(api: ExactOnline) -> dict[str, Any]:
    return next(api.list("generic_company", DIVISION, limit=1))


def an_item(api: ExactOnline) -> dict[str, Any]:
    return next(api.list("accounting_invoice_item", DIVISION, limit=1))


def test_company_create_update_delete(api: ExactOnline, client: ExactClient) -> None:
    made = api.create("generic_company", DIVISION,
                      {"name": "Nieuw Bedrijf B.V.", "country": "NL", "kvk": "12345678"})
    row = raw(client, f"crm/Accounts(guid'{made['id']}')")
    assert (row["Name"], row["Country"].strip(), row["ChamberOfCommerce"]) == (
        "Nieuw Bedrijf B.V.", "NL", "12345678")
    assert made["name"] == "Nieuw Bedrijf B.V." and made["code"]
    changed = api.update("generic_company", DIVISION, made["id"], {"email": "x@example.test"})
    assert changed["email"] == raw(client, f"crm/Accounts(guid'{made['id']}')")["Email"]
    api.delete("generic_company", DIVISION, made["id"])
    with pytest.raises(NotFoundError):
        api.retrieve("generic_company", DIVISION, made["id"])


def test_contact_create_update_delete(api: ExactOnline, client: ExactClient) -> None:
    company = a_company(api)
    made = api.create("generic_contact", DIVISION, {
        "first_name": "Zoë", "last_name": "O'Neil", "company_id": company["id"]})
    row = raw(client, f"crm/Contacts(guid'{made['id']}')")
    assert (row["FirstName"], row["LastName"], row["Account"]) == (
        "Zoë", "O'Neil", company["id"])
    assert api.update("generic_contact", DIVISION, made["id"], {"phone": "0612345678"})[
        "phone"] == "0612345678"
    api.delete("generic_contact", DIVISION, made["id"])
    with pytest.raises(NotFoundError):
        raw(client, f"crm/Contacts(guid'{made['id']}')")


def test_item_create_update_delete(api: ExactOnline, client: ExactClient) -> None:
    made = api.create("accounting_invoice_item", DIVISION, {
        "name": "Fiets", "code": "FIETS-1", "price": 499.5, "colour": "red"})
    row = raw(client, f"logistics/Items(guid'{made['id']}')")
    assert (row["Description"], row["StandardSalesPrice"], row["FreeTextField_01"]) == (
        "Fiets", 499.5, "red")
    assert made["currency"] == "EUR" and made["colour"] == "red"
    assert api.update("accounting_invoice_item", DIVISION, made["id"], {"price": 450})[
        "price"] == 450.0
    api.delete("accounting_invoice_item", DIVISION, made["id"])
    with pytest.raises(NotFoundError):
        raw(client, f"logistics/Items(guid'{made['id']}')")


def test_invoice_create_with_lines_update_lines_and_delete(
    api: ExactOnline, client: ExactClient
) -> None:
    company, item = a_company(api), an_item(api)
    made = api.create("accounting_invoice", DIVISION, {
        "customer_company_id": company["id"], "description": "Twee regels",
        "line_items": [{"item_id": item["id"], "quantity": 2, "price_per_unit": 10.0},
                       {"item_id": item["id"], "quantity": 1, "price_per_unit": 5.0}]})
    assert made["status"] == "pending" and made["description"] == "Twee regels"
    assert [li["quantity"] for li in made["line_items"]] == [2.0, 1.0]
    assert made["pre_tax_amount"] == 25.0
    first = made["line_items"][0]
    changed = api.update("accounting_invoice", DIVISION, made["id"], {
        "note": "bijgewerkt",
        "line_items": [{**first, "quantity": 3},
                       {"item_id": item["id"], "quantity": 4, "price_per_unit": 1.0}]})
    assert changed["note"] == "bijgewerkt"
    assert [(li["quantity"], li["price_per_unit"]) for li in changed["line_items"]] == [
        (3.0, 10.0), (4.0, 1.0)]
    assert changed["line_items"][0]["id"] == first["id"]
    api.delete("accounting_invoice", DIVISION, made["id"])
    with pytest.raises(NotFoundError):
        api.retrieve("accounting_invoice", DIVISION, made["id"])


@pytest.mark.parametrize(
    ("stream", "operation"),
    [("generic_user", "create"), ("generic_user", "update"), ("generic_workspace", "create"),
     ("generic_workspace", "delete")],
)
def test_writes_to_read_only_models_are_refused_before_any_call(
    api: ExactOnline, sandbox: Sandbox, stream: str, operation: str
) -> None:
    before = sandbox.calls()["total"]
    key = "5d4a3b2c-0000-4000-8000-000000000001" if stream == "generic_user" else "100001"
    with pytest.raises(ValidationError, match=stream):
        if operation == "create":
            api.create(stream, DIVISION, {"email": "x@example.test"})
        elif operation == "update":
            api.update(stream, DIVISION, key, {"email": "x@example.test"})
        else:
            api.delete(stream, DIVISION, key)
    assert sandbox.calls()["total"] == before


def test_writes_to_a_processed_invoice_are_refused_without_writing(
    api: ExactOnline, client: ExactClient, sandbox: Sandbox
) -> None:
    processed = next(client.iter_rows("salesinvoice/SalesInvoices", division=DIVISION,
                                      params={"$filter": "Status eq 50",
                                              "$select": "InvoiceID"}))["InvoiceID"]
    with pytest.raises(ValidationError, match="processed"):
        api.update("accounting_invoice", DIVISION, processed, {"note": "no"})
    api.retrieve("accounting_invoice", DIVISION, processed)
    before = sandbox.calls()["total"]
    with pytest.raises(ValidationError, match="processed"):
        api.delete("accounting_invoice", DIVISION, processed)
    assert sandbox.calls()["total"] == before  # known processed: refused without a call
    by_endpoint = sandbox.calls()["by_endpoint"]
    assert not [k for k in by_endpoint if k.startswith(("PUT", "DELETE"))]


@pytest.mark.parametrize(
    ("stream", "key"),
    [("generic_contact", "generic_contact"), ("generic_company", "generic_company"),
     ("accounting_invoice_item", "accounting_invoice_item"),
     ("accounting_invoice", "accounting_invoice")],
)
def test_deleted_record_appears_in_deletions(
    api: ExactOnline, stream: str, key: str
) -> None:
    company, item = a_company(api), an_item(api)
    bodies: dict[str, dict[str, Any]] = {
        "generic_contact": {"last_name": "Weg", "company_id": company["id"]},
        "generic_company": {"name": "Weg B.V."},
        "accounting_invoice_item": {"name": "Weg", "code": "WEG-1"},
        "accounting_invoice": {"customer_company_id": company["id"],
                               "line_items": [{"item_id": item["id"], "quantity": 1}]},
    }
    made = api.create(stream, DIVISION, bodies[stream])
    mark = list(api.deletions(DIVISION, since=None, streams=api.models()))[-1].bookmark
    api.delete(stream, DIVISION, made["id"])
    pages = list(api.deletions(DIVISION, since=mark, streams=[stream]))
    found = [(name, record["id"], record["division"]) for p in pages for name, record in
             p.records]
    # a deleted invoice also names its lines (EntityType 13 for every sync row it loses)
    lines = [line["id"] for line in made.get("line_items", [])]
    assert sorted(found) == sorted((key, i, DIVISION) for i in [made["id"], *lines])
    records = [record for p in pages for _, record in p.records]
    assert all(record["_sdc_deleted_at"].endswith("Z") for record in records)
    assert pages[-1].bookmark == max(r["exact_timestamp"] for r in records) > (mark or 0)


def test_custom_stream_deletion_and_writes(api: ExactOnline) -> None:
    made = api.create("projects", DIVISION, {"Code": "P-NEW", "Description": "Nieuw project",
                                             "Type": 2})  # Exact requires a project Type
    assert made["Code"] == "P-NEW"
    assert api.update("projects", DIVISION, made["ID"], {"Description": "Anders"})[
        "Description"] == "Anders"
    api.delete("projects", DIVISION, made["ID"])
    [page] = list(api.deletions(DIVISION, since=None, streams=["projects"]))
    [(name, record)] = page.records
    assert name == "projects" and record["ID"] == record["id"] == made["ID"]


def test_find_company_by_code(api: ExactOnline) -> None:
    [found] = api.find("generic_company", DIVISION, "code", "3")
    assert found["code"] == "3"
    assert api.find("generic_company", DIVISION, "code", "no-such-code") == []


def test_field_mappings_add_columns_to_records_and_schema(
    api: ExactOnline, client: ExactClient
) -> None:
    raw_rows = {r["ID"]: r for r in client.iter_rows(
        "crm/Accounts", division=DIVISION, params={"$select": "ID,ChamberOfCommerce"})}
    got = list(api.list("generic_company", DIVISION))
    assert all(r["kvk"] == raw_rows[r["id"]]["ChamberOfCommerce"] for r in got)
    assert "kvk" in api.schema("generic_company")["properties"]
    assert "colour" in next(api.list("accounting_invoice_item", DIVISION, limit=1))


def test_probe_with_a_crm_only_app(
    settings: dict[str, Any], sandbox: Sandbox, tmp_path: Path
) -> None:
    reader = ExactConfig.from_mapping({
        **settings, "client_id": "sandbox-crm-reader",
        "refresh_token": sandbox.mint_refresh_token("sandbox-crm-reader"),
        "token_store": str(tmp_path / "reader.json")})
    with ExactOnline(reader, clock=sandbox.now) as api:
        company = api.probe("generic_company", DIVISION)
        items = api.probe("accounting_invoice_item", DIVISION)
        write = api.probe("generic_company", DIVISION, write=True)
    assert (company.allowed, company.message) == (True, "")
    assert (items.allowed, items.scope) == (False, "logistics.items")
    assert "Application Scope Violated" in items.message and "App Center" in items.message
    assert (write.allowed, write.scope) == (False, "crm.accounts")


def test_probe_write_with_full_scopes_is_allowed(api: ExactOnline) -> None:
    assert api.probe("accounting_invoice", DIVISION, write=True).allowed
    assert not api.probe("generic_user", DIVISION, write=True).allowed


def test_divisions_list_all_and_current(
    api: ExactOnline, settings: dict[str, Any], client: ExactClient, sandbox: Sandbox
) -> None:
    assert api.divisions() == [100001, 100002]
    for value, expected in (("all", [100001, 100002]), (None, [100001])):
        config = ExactConfig.from_mapping({**settings, "divisions": value})
        assert ExactOnline(config, client=client, clock=sandbox.now).divisions() == expected
    assert api.division_info(100002)["Currency"] == "EUR"


def test_invoice_line_create_update_delete_through_its_own_endpoint(
    api: ExactOnline, client: ExactClient
) -> None:
    company, item = a_company(api), an_item(api)
    invoice = api.create("accounting_invoice", DIVISION, {
        "customer_company_id": company["id"],
        "line_items": [{"item_id": item["id"], "quantity": 1, "price_per_unit": 2.0}]})
    line = api.create("accounting_invoice_line_item", DIVISION, {
        "invoice_id": invoice["id"], "item_id": item["id"], "quantity": 5,
        "price_per_unit": 3.0})
    assert (line["invoice_id"], line["line_number"], line["total_amount"]) == (
        invoice["id"], 2, 15.0)
    changed = api.update("accounting_invoice_line_item", DIVISION, line["id"], {"quantity": 6})
    assert changed["quantity"] == 6.0 == api.retrieve(
        "accounting_invoice_line_item", DIVISION, line["id"])["quantity"]
    api.delete("accounting_invoice_line_item", DIVISION, line["id"])
    assert len(api.retrieve("accounting_invoice", DIVISION, invoice["id"])["line_items"]) == 1
    client.post("salesinvoice/PrintedSalesInvoices", {"InvoiceID": invoice["id"]},
                division=DIVISION)
    with pytest.raises(ValidationError, match="processed"):
        api.create("accounting_invoice_line_item", DIVISION, {
            "invoice_id": invoice["id"], "item_id": item["id"], "quantity": 1})


def test_line_items_with_a_filter_read_the_bulk_lines(api: ExactOnline, sandbox: Sandbox) -> None:
    got = list(api.list("accounting_invoice_line_item", DIVISION, filter="Quantity gt 5"))
    assert got and all(r["quantity"] > 5 for r in got)
    assert sandbox.calls()["by_endpoint"].get("GET bulk/SalesInvoice/SalesInvoiceLines") == 1


def test_a_confirmed_create_whose_read_back_fails_raises_with_the_new_id(
    api: ExactOnline, client: ExactClient, sandbox: Sandbox
) -> None:
    from exact_online_core.errors import ReadBackError

    customer, item = a_company(api)["id"], an_item(api)["id"]
    sandbox.inject_fault("*/salesinvoice/SalesInvoices*", method="GET", kind="status",
                         status=404, count=50)
    with pytest.raises(ReadBackError) as caught:
        api.create("accounting_invoice", DIVISION, {
            "customer_company_id": customer, "journal": "70",
            "line_items": [{"item_id": item, "quantity": 1, "price_per_unit": 2.0}]})
    sandbox.clear_faults()
    assert "reading it back failed" in str(caught.value)
    assert api.retrieve("accounting_invoice", DIVISION, caught.value.exact_id)["id"] == \
        caught.value.exact_id
