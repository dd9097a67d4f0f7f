"""Purchase entry lines (no Timestamp, no Modified) read with their entries' changes: what is
asked of Exact, what the records carry, and what a bookmark skips."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from exact_online_core.errors import MalformedResponseError
from exact_online_core.odata import Page
from exact_online_core.pack import pack_streams
from exact_online_core.readers import SEEN_KEY
from exact_online_reference.recorded import served

from .test_api import RecordingClient, make_api

STREAM = "exact_purchase_entry_lines"
ENTRY = "0b5d704b-c18a-475a-8877-6ba3224de217"
LINE = "5e0a1b5c-46b5-4d1e-9a37-0a8f8e0f2a11"
MODIFIED = "/Date(1779990000000)/"  # Exact local 17:40 = 2026-05-28T15:40:00Z


def entry(lines: Any) -> dict[str, Any]:
    return {"EntryID": ENTRY, "Modified": MODIFIED, "PurchaseEntryLines": lines}


class EntriesClient(RecordingClient):
    """Answers purchaseentry/PurchaseEntries with one page of ``rows``."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows

    def iter_pages(
        self, path: str, *, division: int | None = None, params: Mapping[str, str] | None = None
    ) -> Iterator[Page]:
        self.asked.append(("GET", path, dict(params or {})))
        yield Page(self.rows if path == "purchaseentry/PurchaseEntries" else [], None)


def read(rows: list[dict[str, Any]], **kw: Any) -> tuple[list[Any], EntriesClient]:
    api, _ = make_api()
    fake = EntriesClient(rows)
    api.client = fake  # type: ignore[assignment]
    return list(api.read_pages(STREAM, 100001, **kw)), fake


def test_a_first_sync_reads_every_entry_with_its_lines_expanded() -> None:
    pages, fake = read([])
    [(_, path, params)] = fake.asked
    assert path == "purchaseentry/PurchaseEntries"
    assert params["$expand"] == "PurchaseEntryLines"
    assert params["$select"] == "EntryID,Modified,PurchaseEntryLines"
    assert "$filter" not in params
    assert pages[-1].bookmark is not None


def test_each_line_of_an_entry_is_a_record_carrying_the_entrys_modified() -> None:
    lines = {"results": [{"ID": LINE, "EntryID": ENTRY, "AmountFC": 10.5, "LineNumber": 1,
                          "Division": 100001}]}
    pages, _ = read([entry(lines)])
    [record] = [r for p in pages for r in p.records]
    assert record == {"id": LINE, "entry_id": ENTRY, "amount_fc": 10.5, "line_number": 1,
                      "division": 100001, "entry_modified": "2026-05-28T15:40:00Z"}


def test_a_later_sync_asks_only_for_entries_modified_since_the_bookmark() -> None:
    _, fake = read([], since="2026-05-28T10:00:00Z")
    [(_, _, params)] = fake.asked
    assert params["$filter"] == "Modified ge datetime'2026-05-28T12:00:00'"


def test_an_entry_read_before_with_the_same_modified_is_skipped() -> None:
    lines = {"results": [{"ID": LINE, "EntryID": ENTRY}]}
    state = {SEEN_KEY: {ENTRY: "2026-05-28T15:40:00Z"}}
    pages, _ = read([entry(lines)], since="2026-05-28T15:40:00Z", state=state)
    assert [r for p in pages for r in p.records] == []


def test_an_entry_answered_without_its_expanded_lines_is_refused() -> None:
    deferred = {"__deferred": {"uri": "https://start.exactonline.nl/x"}}
    with pytest.raises(MalformedResponseError, match=r"exact_purchase_entry_lines.*"
                                                     r"PurchaseEntryLines"):
        read([entry(deferred)])


def test_deselected_line_properties_are_left_out_but_the_bookmark_stays() -> None:
    lines = {"results": [{"ID": LINE, "EntryID": ENTRY, "AmountFC": 1.0, "Notes": "n"}]}
    pages, _ = read([entry(lines)], properties=["id", "amount_fc"])
    [record] = [r for p in pages for r in p.records]
    assert set(record) == {"id", "amount_fc", "division", "entry_modified"}


def test_with_a_filter_the_lines_endpoint_itself_is_read_in_full() -> None:
    _, fake = read([], filter="AmountFC gt 100")
    [(_, path, params)] = fake.asked
    assert path == "purchaseentry/PurchaseEntryLines"
    assert params["$filter"] == "AmountFC gt 100"


def test_the_header_read_asks_only_for_what_exact_serves_there() -> None:
    for stream in pack_streams():
        if stream.header is None:
            continue
        header = served(stream.header.endpoint)
        assert header is not None, stream.name
        for name in (stream.header.key, "Modified", stream.header.collection):
            prop = header.property(name)
            assert prop is not None and "GET" in prop.methods, (stream.name, name)
        assert stream.header.key in (served(stream.endpoint) or header), stream.name
