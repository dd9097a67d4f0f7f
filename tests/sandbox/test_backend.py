"""Backend behaviour: paging, Timestamps, writes and their rules, invoices, payments, Deleted."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_sandbox.backend import Backend, Change, Query
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.entities import resolve
from exact_online_sandbox.errors import ExactApiError
from exact_online_sandbox.store import Store

D = 100001


@pytest.fixture
def backend() -> Backend:
    return Backend(Store(None), Clock(), seed=7, size={"accounts": 130, "contacts": 90,
                                                        "items": 20, "invoices": 30})


def R(path: str) -> Any:
    resolved = resolve(path)
    assert resolved is not None, path
    return resolved


def all_pages(b: Backend, path: str, q: Query, size: int) -> list[list[dict[str, Any]]]:
    pages = []
    query = q
    while True:
        page = b.page(R(path), D, query, size)
        pages.append(page.rows)
        if page.next_params is None:
            return pages
        token = page.next_params.get("$skiptoken")
        skip = page.next_params.get("$skip")
        query = Query(filter=q.filter, select=q.select, orderby=q.orderby, top=q.top,
                      skiptoken=token, skip=int(skip) if skip else 0)


def new_account(b: Backend, **extra: Any) -> dict[str, Any]:
    return b.create(R("crm/Accounts"), D, {"Name": "Test BV", **extra})


def new_item(b: Backend, code: str = "T-1", price: float = 10.0) -> dict[str, Any]:
    """An item with a standard sales price (set, as in Exact, through its sales price:
    StandardSalesPrice is read-only on logistics/Items)."""
    item = b.create(R("logistics/Items"), D, {"Code": code, "Description": "Thing"})
    b.create(R("logistics/SalesItemPrices"), D, {"Item": item["ID"], "Price": price})
    found = b.find(item_def(), D, item["ID"])
    assert found is not None
    return found


def item_def() -> Any:
    return R("logistics/Items").entity


def new_invoice(b: Backend, **extra: Any) -> dict[str, Any]:
    account, item = new_account(b), new_item(b)
    body = {"OrderedBy": account["ID"], "SalesInvoiceLines": [
        {"Item": item["ID"], "Quantity": 2}, {"Item": item["ID"], "NetPrice": 5.5}], **extra}
    return b.create(R("salesinvoice/SalesInvoices"), D, body)


def invoice_path(invoice: dict[str, Any]) -> str:
    return f"salesinvoice/SalesInvoices(guid'{invoice['InvoiceID']}')"


def sync_rows(b: Backend, invoice_id: str) -> list[dict[str, Any]]:
    rows = [r for p in all_pages(b, "sync/SalesInvoice/SalesInvoices", Query(), 1000) for r in p]
    return [r for r in rows if r["InvoiceID"] == invoice_id]


def sync_lines(b: Backend, invoice_id: str) -> list[dict[str, Any]]:
    return [r for r in sync_rows(b, invoice_id) if r["LineNumber"] != 0]


# --- paging ------------------------------------------------------------------------------
def test_plain_pages_hold_60_rows_and_return_every_row_once(backend: Backend) -> None:
    pages = all_pages(backend, "crm/Accounts", Query(), 60)
    ids = [r["ID"] for p in pages for r in p]
    assert [len(p) for p in pages] == [60, 60, 10]
    assert len(ids) == len(set(ids)) == 130


def test_plain_skiptoken_is_the_guid_of_the_last_row(backend: Backend) -> None:
    page = backend.page(R("crm/Accounts"), D, Query(), 60)
    assert page.next_params == {"$skiptoken": f"guid'{page.rows[-1]['ID']}'"}


def test_sync_pages_follow_timestamp_with_l_tokens_and_keep_the_filter(backend: Backend) -> None:
    start = backend.page(R("sync/CRM/Accounts"), D, Query(), 1000).rows[40]["Timestamp"]
    q = Query(filter=f"Timestamp gt {start}L")
    pages = all_pages(backend, "sync/CRM/Accounts", q, 50)
    stamps = [r["Timestamp"] for p in pages for r in p]
    assert stamps == sorted(stamps) and len(stamps) == len(set(stamps)) == 130 - 41
    first = backend.page(R("sync/CRM/Accounts"), D, q, 50)
    assert first.next_params == {"$skiptoken": f"{first.rows[-1]['Timestamp']}L"}


def test_sync_and_bulk_pages_hold_up_to_1000_rows() -> None:
    b = Backend(Store(None), Clock(), seed=1, size={"accounts": 1500, "invoices": 0})
    sync = b.page(R("sync/CRM/Accounts"), D, Query(), 1000)
    bulk = b.page(R("bulk/CRM/Accounts"), D, Query(select=("ID", "Name")), 1000)
    assert len(sync.rows) == len(bulk.rows) == 1000
    assert sync.next_params is not None and bulk.next_params is not None


def test_top_caps_the_page_and_the_total(backend: Backend) -> None:
    small = backend.page(R("crm/Accounts"), D, Query(top=10), 60)
    big = backend.page(R("crm/Accounts"), D, Query(top=70), 60)
    assert len(small.rows) == 10 and small.next_params is None
    assert len(big.rows) == 60 and big.next_params is not None


def test_orderby_pages_continue_with_the_sort_values_and_key_as_skiptoken(
        backend: Backend) -> None:
    first = backend.page(R("crm/Accounts"), D, Query(orderby="Name"), 60)
    last = first.rows[-1]
    assert first.next_params == {
        "$skiptoken": "'" + last["Name"].replace("'", "''") + f"',guid'{last['ID']}'"}


@pytest.mark.parametrize("orderby", ["Name desc", "Name", "Modified asc", "Email desc"])
def test_orderby_paging_returns_every_row_once_in_order(backend: Backend, orderby: str) -> None:
    pages = all_pages(backend, "crm/Accounts", Query(orderby=orderby), 60)
    rows = [r for p in pages for r in p]
    assert len({r["ID"] for r in rows}) == len(rows) == 130
    name, _, direction = orderby.partition(" ")
    values = [(r[name] is not None, r[name] or "", r["ID"]) for r in rows]
    ordered = sorted(values, key=lambda v: (v[0], v[1]), reverse=direction == "desc")
    assert [v[:2] for v in values] == [v[:2] for v in ordered]


def test_bulk_without_select_or_top_1_is_refused(backend: Backend) -> None:
    with pytest.raises(ExactApiError) as err:
        backend.page(R("bulk/CRM/Accounts"), D, Query(), 1000)
    assert err.value.status == 400
    assert err.value.message == ("Please add a $select or a $top=1 statement to the query "
                                 "string.")
    assert len(backend.page(R("bulk/CRM/Accounts"), D, Query(top=1), 1000).rows) == 1


def test_select_of_an_unknown_property_is_a_400(backend: Backend) -> None:
    with pytest.raises(ExactApiError) as err:
        backend.page(R("crm/Accounts"), D, Query(select=("ID", "Bogus")), 60)
    assert err.value.status == 400 and "Bogus" in err.value.message


def test_timestamp_exists_only_on_the_sync_endpoint(backend: Backend) -> None:
    with pytest.raises(ExactApiError):
        backend.page(R("crm/Accounts"), D, Query(filter="Timestamp gt 1L"), 60)
    assert backend.page(R("sync/CRM/Accounts"), D, Query(top=1), 1000).rows[0]["Timestamp"]


def test_sync_filters_only_on_timestamp(backend: Backend) -> None:
    with pytest.raises(ExactApiError) as err:
        backend.page(R("sync/CRM/Accounts"), D, Query(filter="Name eq 'x'"), 1000)
    assert err.value.status == 400


def test_count_applies_the_filter(backend: Backend) -> None:
    total = backend.count(R("crm/Accounts"), D, None)
    customers = backend.count(R("crm/Accounts"), D, "Status eq 'C'")
    assert total == 130 and 0 < customers < total


def test_divisions_are_not_division_scoped_and_100003_exists_unreachable(
        backend: Backend) -> None:
    rows = backend.page(R("system/Divisions"), 100002, Query(), 60).rows
    assert [r["Code"] for r in rows] == [100001, 100002]
    assert backend.division_exists(100003) and not backend.division_exists(100004)
    assert backend.reachable_divisions() == [100001, 100002]


def test_unknown_key_is_a_404(backend: Backend) -> None:
    path = "crm/Accounts(guid'00000000-0000-4000-8000-00000000dead')"
    for call in (lambda: backend.get(R(path), D, Query()),
                 lambda: backend.update(R(path), D, {"Name": "x"}),
                 lambda: backend.delete(R(path), D)):
        with pytest.raises(ExactApiError) as err:
            call()
        assert err.value.status == 404


# --- writes ------------------------------------------------------------------------------
def test_account_code_is_auto_assigned_and_padded_and_country_padded(backend: Backend) -> None:
    account = new_account(backend, Country="nl")
    assert len(account["Code"]) == 18 and account["Code"].strip().isdigit()
    assert account["Country"] == "NL "
    assert new_account(backend, Code="  7777")["Code"] == " " * 14 + "7777"


def test_duplicate_account_code_is_refused(backend: Backend) -> None:
    new_account(backend, Code="9999")
    with pytest.raises(ExactApiError) as err:
        new_account(backend, Code="9999")
    assert err.value.status == 400


@pytest.mark.parametrize(("body", "needle"), [
    ({}, "Mandatory: Name"),
    ({"Name": "x", "Bogus": 1}, "The property name 'Bogus'"),
    ({"Name": 12}, "Type conversion failed for property 'Name'"),
    ({"Name": "x", "IsSales": "yes"}, "Type conversion failed for property 'IsSales'"),
    ({"Name": "x", "StartDate": "not a date"}, "StartDate"),
])
def test_invalid_account_bodies_are_400s(backend: Backend, body: dict[str, Any],
                                         needle: str) -> None:
    with pytest.raises(ExactApiError) as err:
        backend.create(R("crm/Accounts"), D, body)
    assert err.value.status == 400 and needle in err.value.message


def test_contact_needs_an_existing_account_and_a_name(backend: Backend) -> None:
    with pytest.raises(ExactApiError) as err:
        backend.create(R("crm/Contacts"), D, {"Account": "00000000-0000-4000-8000-000000000000",
                                              "LastName": "X"})
    assert err.value.status == 400
    account = new_account(backend)
    with pytest.raises(ExactApiError):
        backend.create(R("crm/Contacts"), D, {"Account": account["ID"]})
    contact = backend.create(R("crm/Contacts"), D, {"Account": account["ID"],
                                                    "FirstName": "Zoë", "LastName": "Bakker"})
    assert contact["FullName"] == "Zoë Bakker" and contact["AccountName"] == "Test BV"


def test_server_sets_audit_fields_and_ignores_client_values(backend: Backend) -> None:
    account = new_account(backend, Created="/Date(0)/", Division=1)
    assert account["Created"] > 0 and account["Division"] == D
    assert account["Creator"] == backend.user()["UserID"]


def test_update_is_partial_and_bumps_the_timestamp(backend: Backend) -> None:
    account = new_account(backend, Email="a@b.test")
    path = f"crm/Accounts(guid'{account['ID']}')"
    backend.update(R(path), D, {"Name": "Renamed"})
    row = backend.page(R("sync/CRM/Accounts"), D,
                       Query(filter=f"Timestamp gt {account['Timestamp']}L"), 1000).rows
    assert [r["ID"] for r in row] == [account["ID"]]
    assert row[0]["Name"] == "Renamed" and row[0]["Email"] == "a@b.test"
    assert row[0]["Timestamp"] > account["Timestamp"]


def test_timestamps_are_monotonic_across_entities(backend: Backend) -> None:
    a, item = new_account(backend), new_item(backend)
    c = backend.create(R("crm/Contacts"), D, {"Account": a["ID"], "FirstName": "Y",
                                              "LastName": "X"})
    assert a["Timestamp"] < item["Timestamp"] < c["Timestamp"]


@pytest.mark.parametrize(("path", "code"), [("crm/Accounts", 2), ("crm/Contacts", 5),
                                            ("logistics/Items", 9), ("project/Projects", 21)])
def test_delete_records_a_sync_deleted_row_with_the_entity_type(backend: Backend, path: str,
                                                                code: int) -> None:
    bodies = {"crm/Accounts": {"Name": "Gone"}, "logistics/Items": {"Code": "G", "Description":
                                                                    "Gone"},
              "project/Projects": {"Code": "PG", "Description": "Gone", "Type": 2}}
    if path == "crm/Contacts":
        row = backend.create(R(path), D, {"Account": new_account(backend)["ID"],
                                          "FirstName": "G", "LastName": "G"})
    else:
        row = backend.create(R(path), D, bodies[path])
    before = backend.store.current_timestamp(D)
    backend.delete(R(f"{path}(guid'{row['ID']}')"), D)
    deleted = backend.page(R("sync/Deleted"), D,
                           Query(filter=f"Timestamp gt {before}L and EntityType eq {code}"),
                           1000).rows
    assert len(deleted) == 1
    assert deleted[0]["EntityKey"] == row["ID"]
    assert deleted[0]["DeletedBy"] == backend.user()["UserID"]
    assert deleted[0]["Division"] == D
    assert backend.find(R(path).entity, D, row["ID"]) is None


def test_listeners_hear_committed_changes_only(backend: Backend) -> None:
    heard: list[Change] = []
    backend.listeners.append(heard.append)
    account = new_account(backend)
    with pytest.raises(ExactApiError):
        backend.create(R("crm/Accounts"), D, {})
    backend.delete(R(f"crm/Accounts(guid'{account['ID']}')"), D)
    assert [(c.entity.name, c.action, c.key, c.division) for c in heard] == [
        ("Accounts", "Create", account["ID"], D), ("Accounts", "Delete", account["ID"], D)]


# --- invoices ----------------------------------------------------------------------------
def test_invoice_post_computes_lines_and_totals(backend: Backend) -> None:
    invoice = new_invoice(backend)
    assert invoice["AmountFCExclVat"] == 25.5
    assert invoice["VATAmountFC"] == 5.36
    assert invoice["AmountFC"] == invoice["AmountDC"] == 30.86
    assert invoice["Status"] == 20 and invoice["InvoiceNumber"] is None
    assert invoice["DueDate"] - invoice["InvoiceDate"] == 30 * 86_400_000
    lines = backend.get(R(invoice_path(invoice)), D, Query(expand=("SalesInvoiceLines",)))
    assert [ln["LineNumber"] for ln in lines["SalesInvoiceLines"]] == [1, 2]
    assert [ln["AmountFC"] for ln in lines["SalesInvoiceLines"]] == [20.0, 5.5]


def test_invoice_needs_an_existing_orderer_and_item(backend: Backend) -> None:
    with pytest.raises(ExactApiError) as err:
        backend.create(R("salesinvoice/SalesInvoices"), D, {})
    assert err.value.message == "Mandatory: OrderedBy"
    account = new_account(backend)
    with pytest.raises(ExactApiError) as err:
        backend.create(R("salesinvoice/SalesInvoices"), D, {
            "OrderedBy": account["ID"],
            "SalesInvoiceLines": [{"Item": "00000000-0000-4000-8000-000000000000"}]})
    assert err.value.status == 400 and "Item" in err.value.message


def test_credit_note_amounts_are_negative(backend: Backend) -> None:
    invoice = new_invoice(backend, Type=8021)
    assert invoice["AmountFC"] == -30.86 and invoice["TypeDescription"] == "Sales credit note"


def test_sync_invoices_have_one_row_per_line_with_header_fields(backend: Backend) -> None:
    invoice = new_invoice(backend, Remarks="note")
    rows = sync_lines(backend, invoice["InvoiceID"])
    assert len(rows) == 2
    assert {r["Remarks"] for r in rows} == {"note"}
    assert {r["OrderedBy"] for r in rows} == {invoice["OrderedBy"]}
    assert sorted(r["AmountFC"] for r in rows) == [5.5, 20.0]


def test_sync_invoices_have_a_header_row_with_line_number_0_and_the_totals(
        backend: Backend) -> None:
    invoice = new_invoice(backend, Description="Header text")
    rows = {r["LineNumber"]: r for r in sync_rows(backend, invoice["InvoiceID"])}
    assert sorted(rows) == [0, 1, 2]
    header = rows[0]
    assert header["Item"] is None and header["Quantity"] is None
    assert header["Description"] == "Header text"
    assert (header["AmountFC"], header["AmountFCExclVat"]) == (invoice["AmountFC"], 25.5)
    assert header["ID"] not in {rows[1]["ID"], rows[2]["ID"], invoice["InvoiceID"]}


def test_header_only_amounts_are_filled_on_the_header_row_only(backend: Backend) -> None:
    invoice = new_invoice(backend)
    for row in sync_rows(backend, invoice["InvoiceID"]):
        filled = [row[k] is not None for k in ("AmountDiscount", "AmountDiscountExclVat",
                                               "AmountFCExclVat")]
        assert filled == [row["LineNumber"] == 0] * 3


def test_header_change_gives_the_header_row_a_new_timestamp(backend: Backend) -> None:
    invoice = new_invoice(backend)
    before = {r["LineNumber"]: r for r in sync_rows(backend, invoice["InvoiceID"])}
    backend.update(R(invoice_path(invoice)), D, {"Description": "changed"})
    after = {r["LineNumber"]: r for r in sync_rows(backend, invoice["InvoiceID"])}
    assert after.keys() == before.keys() == {0, 1, 2}
    assert after[0]["Timestamp"] > before[0]["Timestamp"]
    assert after[0]["Description"] == "changed"
    assert [after[n]["Timestamp"] for n in (1, 2)] == [before[n]["Timestamp"] for n in (1, 2)]


def test_line_change_gives_the_header_row_and_that_line_a_new_timestamp(
        backend: Backend) -> None:
    invoice = new_invoice(backend)
    before = {r["LineNumber"]: r for r in sync_rows(backend, invoice["InvoiceID"])}
    backend.update(R(f"salesinvoice/SalesInvoiceLines(guid'{before[2]['ID']}')"), D,
                   {"Quantity": 4})
    after = {r["LineNumber"]: r for r in sync_rows(backend, invoice["InvoiceID"])}
    assert after[0]["Timestamp"] > before[0]["Timestamp"]
    assert after[2]["Timestamp"] > before[2]["Timestamp"]
    assert after[1]["Timestamp"] == before[1]["Timestamp"]
    assert after[2]["Quantity"] == 4 and after[0]["AmountFCExclVat"] == 42.0


def test_line_change_recomputes_the_header(backend: Backend) -> None:
    invoice = new_invoice(backend)
    line = backend.get(R(invoice_path(invoice)), D,
                       Query(expand=("SalesInvoiceLines",)))["SalesInvoiceLines"][1]
    backend.update(R(f"salesinvoice/SalesInvoiceLines(guid'{line['ID']}')"), D,
                   {"Quantity": 3})
    header = backend.get(R(invoice_path(invoice)), D, Query())
    assert header["AmountFCExclVat"] == 36.5


def test_processing_sets_status_50_number_and_an_open_receivable(backend: Backend) -> None:
    invoice = new_invoice(backend)
    backend.create(R("salesinvoice/PrintedSalesInvoices"), D, {"InvoiceID": invoice["InvoiceID"]})
    header = backend.get(R(invoice_path(invoice)), D, Query())
    assert header["Status"] == 50 and str(header["InvoiceNumber"])[2:4] == "70"
    receivable = backend.page(R("cashflow/Receivables"), D, Query(
        filter=f"TransactionEntryID eq guid'{invoice['InvoiceID']}'"), 60).rows
    assert receivable[0]["AmountDC"] == 30.86 and receivable[0]["IsFullyPaid"] is False
    listed = backend.page(R("read/financial/ReceivablesList"), D, Query(
        filter=f"InvoiceNumber eq {header['InvoiceNumber']}"), 60).rows
    assert listed[0]["Amount"] == 30.86


@pytest.mark.parametrize("action", ["update", "delete", "line"])
def test_processed_invoices_cannot_change(backend: Backend, action: str) -> None:
    invoice = new_invoice(backend)
    backend.create(R("salesinvoice/PrintedSalesInvoices"), D, {"InvoiceID": invoice["InvoiceID"]})
    with pytest.raises(ExactApiError) as err:
        if action == "update":
            backend.update(R(invoice_path(invoice)), D, {"Description": "x"})
        elif action == "delete":
            backend.delete(R(invoice_path(invoice)), D)
        else:
            backend.create(R("salesinvoice/SalesInvoiceLines"), D, {
                "InvoiceID": invoice["InvoiceID"], "Item": new_item(backend, "T-2")["ID"]})
    assert err.value.status == 400 and "only draft (10) and open (20)" in err.value.message


def test_deleting_an_invoice_records_type_13_with_the_invoice_id_and_each_line_id(
    backend: Backend,
) -> None:
    invoice = new_invoice(backend, Status=10)
    lines = [r["ID"] for r in sync_lines(backend, invoice["InvoiceID"])]
    backend.delete(R(invoice_path(invoice)), D)
    deleted = backend.page(R("sync/Deleted"), D, Query(filter="EntityType eq 13"), 1000).rows
    assert sorted(d["EntityKey"] for d in deleted) == sorted([invoice["InvoiceID"], *lines])
    assert sync_lines(backend, invoice["InvoiceID"]) == []


def test_deleting_a_line_records_type_13_with_the_line_id(backend: Backend) -> None:
    invoice = new_invoice(backend, Status=10)
    line = sync_lines(backend, invoice["InvoiceID"])[0]["ID"]
    backend.delete(R(f"salesinvoice/SalesInvoiceLines(guid'{line}')"), D)
    deleted = backend.page(R("sync/Deleted"), D, Query(filter="EntityType eq 13"), 1000).rows
    assert [d["EntityKey"] for d in deleted] == [line]


def test_payment_changes_the_receivable_not_the_invoice(backend: Backend) -> None:
    invoice = new_invoice(backend)
    backend.create(R("salesinvoice/PrintedSalesInvoices"), D, {"InvoiceID": invoice["InvoiceID"]})
    header = backend.get(R(invoice_path(invoice)), D, Query())
    stamps = {r["ID"]: r["Timestamp"] for r in sync_lines(backend, invoice["InvoiceID"])}
    partial = backend.book_payment(D, invoice["InvoiceID"], 10.0)
    assert partial["AmountDC"] == 20.86 and not partial["IsFullyPaid"]
    assert partial["LastPaymentDate"] is not None
    full = backend.book_payment(D, invoice["InvoiceID"], None)
    assert full["AmountDC"] == 0 and full["IsFullyPaid"] and full["EndDate"] is not None
    assert backend.get(R(invoice_path(invoice)), D, Query()) == header
    assert {r["ID"]: r["Timestamp"] for r in sync_lines(backend, invoice["InvoiceID"])} == stamps
    listed = backend.page(R("read/financial/ReceivablesList"), D, Query(
        filter=f"InvoiceNumber eq {header['InvoiceNumber']}"), 60).rows
    assert listed == []


def test_payment_of_an_unprocessed_invoice_is_refused(backend: Backend) -> None:
    invoice = new_invoice(backend)
    with pytest.raises(ExactApiError) as err:
        backend.book_payment(D, invoice["InvoiceID"], None)
    assert err.value.status == 400


def test_navigation_lists_the_lines_of_one_invoice(backend: Backend) -> None:
    invoice = new_invoice(backend)
    path = invoice_path(invoice) + "/SalesInvoiceLines"
    assert len(backend.page(R(path), D, Query(), 60).rows) == 2
    assert backend.count(R(path), D, None) == 2


def test_reset_restores_the_seeded_state(backend: Backend) -> None:
    new_account(backend)
    backend.reset(seed=7, size={"accounts": 130, "contacts": 90, "items": 20, "invoices": 30})
    assert backend.row_count("crm/Accounts", D) == 130


def test_me_reports_the_current_division(backend: Backend) -> None:
    me = backend.me()
    assert me["CurrentDivision"] == 100001 and me["UserID"] == backend.user()["UserID"]


def test_sync_rows_are_fetched_by_their_timestamp_key(backend: Backend) -> None:
    row = backend.page(R("sync/CRM/Accounts"), D, Query(top=1), 1000).rows[0]
    again = backend.get(R(f"sync/CRM/Accounts({row['Timestamp']}L)"), D, Query())
    assert again["ID"] == row["ID"]
