"""Exact's API reference is the sandbox's schema: every endpoint answers with its properties."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from shapes import FLAGS, fits, rows_of

from exact_online_reference import reference
from exact_online_reference.recorded import null_on_get, served, served_paths
from exact_online_sandbox.entities import resolve
from exact_online_sandbox.server import Sandbox

D = 100001
SUBSCRIPTIONS = "webhooks/WebhookSubscriptions"  # rows only once an app subscribes: own test
GET_PATHS = sorted(p for p in served_paths()
                   if "GET" in getattr(served(p), "methods", ()) and p != SUBSCRIPTIONS)


@pytest.fixture(scope="module")
def sweep() -> Iterator[tuple[Sandbox, str]]:
    """One sandbox for the read-only sweep, with limits no sweep reaches."""
    with Sandbox(seed=42) as sb:
        sb.control.post("/limits", json={"minutely": 100_000, "daily": 1_000_000})
        yield sb, sb.access_token()


def get(sb: Sandbox, token: str, path: str, query: str = "") -> Any:
    if path.startswith("beta/"):
        response = sb.call(token, path.replace("{division}", str(D)) + query, division=None)
    else:
        response = sb.call(token, path + query)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def first_rows(sb: Sandbox, token: str, path: str) -> list[dict[str, Any]]:
    query = "?$top=1" if path.startswith("bulk/") else ""
    return rows_of(get(sb, token, path, query))


def test_the_sandbox_serves_every_endpoint_of_the_reference() -> None:
    missing = [p for p in reference().endpoints if resolve(p) is None]
    assert missing == []


@pytest.mark.parametrize("path", GET_PATHS)
def test_every_get_endpoint_answers_rows_with_exactly_the_reference_properties(
        sweep: tuple[Sandbox, str], path: str) -> None:
    sb, token = sweep
    endpoint = served(path)
    assert endpoint is not None
    rows = first_rows(sb, token, path)
    assert rows, f"{path}: no rows to look at"
    for row in rows:
        assert set(row) - {"__metadata"} == set(endpoint.names)


@pytest.mark.parametrize("path", GET_PATHS)
def test_every_value_has_its_edm_type_and_flags_are_never_null(
        sweep: tuple[Sandbox, str], path: str) -> None:
    sb, token = sweep
    endpoint = served(path)
    assert endpoint is not None
    nullable = null_on_get(path)
    for row in first_rows(sb, token, path):
        wrong = {p.name: row[p.name] for p in endpoint.properties if not fits(p.type, row[p.name])}
        assert wrong == {}
        null_flags = [p.name for p in endpoint.properties
                      if p.type in FLAGS and row[p.name] is None and p.name not in nullable]
        assert null_flags == []


def test_collections_are_deferred_links_to_the_nested_set(sweep: tuple[Sandbox, str]) -> None:
    sb, token = sweep
    (row,) = rows_of(get(sb, token, "crm/Quotations", "?$top=1"))
    uri = row["QuotationLines"]["__deferred"]["uri"]
    assert uri == row["__metadata"]["uri"] + "/QuotationLines"


def test_expand_of_a_generic_collection_returns_its_rows(sweep: tuple[Sandbox, str]) -> None:
    sb, token = sweep
    (row,) = rows_of(get(sb, token, "crm/Quotations", "?$top=1&$expand=QuotationLines"))
    lines = row["QuotationLines"]["results"]
    assert lines and {line["QuotationID"] for line in lines} == {row["QuotationID"]}


def test_a_compound_key_addresses_one_row(sweep: tuple[Sandbox, str]) -> None:
    sb, token = sweep
    (row,) = rows_of(get(sb, token, "openingbalance/CurrentYear/AfterEntry", "?$top=1"))
    key = row["__metadata"]["uri"].split("AfterEntry", 1)[1]
    assert key.startswith("(Division=") and "GLAccount=guid'" in key
    (again,) = rows_of(get(sb, token, "openingbalance/CurrentYear/AfterEntry" + key))
    assert again == row


def test_select_of_a_property_the_endpoint_lacks_is_exacts_400(sandbox: Sandbox,
                                                               token: str) -> None:
    response = sandbox.call(token, "sync/Logistics/Items?$select=ID,StandardSalesPrice")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "", "message": {"lang": "", "value": (
        "No property 'StandardSalesPrice' exists in type "
        "'Exact.Web.Api.Models.Sync.Logistics.Item'.")}}}


def test_the_same_property_is_served_where_the_reference_lists_it(sandbox: Sandbox,
                                                                  token: str) -> None:
    rows = rows_of(sandbox.call(token, "bulk/Logistics/Items?$select=ID,StandardSalesPrice"
                                       "&$top=2").json())
    assert len(rows) == 2 and all(isinstance(r["StandardSalesPrice"], int | float) for r in rows)


def test_post_of_a_property_the_endpoint_lacks_is_exacts_400(sandbox: Sandbox,
                                                             token: str) -> None:
    response = sandbox.call(token, "crm/Accounts", "POST",
                            json={"Name": "X", "NoSuchProperty": 1})
    assert response.status_code == 400
    assert response.json()["error"]["message"]["value"] == (
        "Error processing request stream. The property name 'NoSuchProperty' specified for "
        "type 'Exact.Web.Api.Models.Account' is not valid.")


def test_put_of_a_property_of_another_family_is_exacts_400(sandbox: Sandbox, token: str) -> None:
    key = rows_of(sandbox.call(token, "crm/Accounts?$top=1&$select=ID").json())[0]["ID"]
    response = sandbox.call(token, f"crm/Accounts(guid'{key}')", "PUT",
                            json={"Timestamp": "1"})
    assert response.status_code == 400
    assert "'Timestamp'" in response.json()["error"]["message"]["value"]


def test_a_get_only_property_in_a_post_is_ignored_as_exact_does(sandbox: Sandbox,
                                                                token: str) -> None:
    # recorded: POST crm/Accounts with IsPurchase false (GET only) → 200, read back true
    made = sandbox.call(token, "crm/Accounts", "POST", json={
        "Name": "Ignored BV", "Status": "C", "IsPurchase": False, "CountryName": "Mars"},
        headers={"Prefer": "return=representation"}).json()["d"]
    assert made["IsPurchase"] is True and made["CountryName"] is None


def test_a_missing_required_property_is_exacts_400(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "logistics/Items", "POST", json={"Code": "NO-DESC"})
    assert response.status_code == 400
    assert response.json()["error"]["message"]["value"] == "Mandatory: Description"


def test_a_contact_needs_a_first_or_a_last_name(sandbox: Sandbox, token: str) -> None:
    account = rows_of(sandbox.call(token, "crm/Accounts?$top=1&$select=ID").json())[0]["ID"]
    nameless = sandbox.call(token, "crm/Contacts", "POST", json={"Account": account})
    last_only = sandbox.call(token, "crm/Contacts", "POST",
                             json={"Account": account, "LastName": "Only"})
    assert nameless.status_code == 400 and last_only.status_code == 201


def test_a_create_through_the_plain_endpoint_shows_in_sync_and_bulk(sandbox: Sandbox,
                                                                    token: str) -> None:
    before = rows_of(sandbox.call(token, "sync/CRM/Accounts?$select=Timestamp").json())
    newest = max(int(r["Timestamp"]) for r in before)
    made = sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Seen Everywhere"}).json()
    key = made["d"]["ID"]
    synced = rows_of(sandbox.call(
        token, f"sync/CRM/Accounts?$filter=Timestamp gt {newest}L&$select=ID,Name,Timestamp"
    ).json())
    assert [(r["ID"], r["Name"]) for r in synced] == [(key, "Seen Everywhere")]
    assert int(synced[0]["Timestamp"]) > newest
    bulk = rows_of(sandbox.call(
        token, f"bulk/CRM/Accounts?$filter=ID eq guid'{key}'&$select=ID,Name").json())
    assert [r["Name"] for r in bulk] == ["Seen Everywhere"]


def test_a_delete_through_the_plain_endpoint_shows_in_sync_deleted(sandbox: Sandbox,
                                                                   token: str) -> None:
    made = sandbox.call(token, "crm/Addresses", "POST", json={
        "Account": rows_of(sandbox.call(token, "crm/Accounts?$top=1").json())[0]["ID"],
        "AddressLine1": "Kerkstraat 1", "Type": 1}).json()["d"]
    synced = rows_of(sandbox.call(
        token, "sync/CRM/Addresses?$filter=Timestamp gt 1L&$select=ID,AddressLine1").json())
    assert made["ID"] in {r["ID"] for r in synced}
    assert sandbox.call(token, f"crm/Addresses(guid'{made['ID']}')", "DELETE").status_code == 204
    deleted = rows_of(sandbox.call(token, "sync/Deleted?$filter=EntityType eq 3").json())
    assert made["ID"] in {r["EntityKey"] for r in deleted}


def test_a_beta_endpoint_takes_the_division_after_beta(sweep: tuple[Sandbox, str]) -> None:
    sb, token = sweep
    body = get(sb, token, "beta/{division}/budget/BudgetScenarios")
    uri = rows_of(body)[0]["__metadata"]["uri"]
    assert f"/api/v1/beta/{D}/budget/BudgetScenarios(guid'" in uri


def test_a_webhook_subscription_has_exactly_the_reference_properties(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    made = sandbox.call(token, SUBSCRIPTIONS, "POST",
                        json={"Topic": "Accounts", "CallbackURL": receiver.url})
    assert made.status_code == 201
    (row,) = rows_of(sandbox.call(token, SUBSCRIPTIONS).json())
    endpoint = served(SUBSCRIPTIONS)
    assert endpoint is not None and set(row) - {"__metadata"} == set(endpoint.names)
    assert {p.name: row[p.name] for p in endpoint.properties if not fits(p.type, row[p.name])} \
        == {}
