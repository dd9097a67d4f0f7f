"""Modified-windowed reads: bookmarked at the read's start, deduplicated by what was read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from exact_online_core.invoices_reader import (
    RECEIVABLES_SEEN,
    RECEIVABLES_SINCE,
    ReceivablesTracker,
)
from exact_online_core.mappings.converters import EXACT_TZ, exact_instant
from exact_online_core.odata import Page
from exact_online_core.readers import (
    LEGACY_SEEN_KEY,
    MODIFIED_MARGIN,
    SEEN_KEY,
    ModifiedWindow,
)

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 2, 12, tzinfo=UTC)
START = NOW - MODIFIED_MARGIN


def test_next_bookmark_is_the_read_start_minus_the_margin_not_the_newest_row() -> None:
    window = ModifiedWindow(SINCE, {}, NOW)
    assert window.admit("a", NOW + timedelta(minutes=3))  # edited while the read ran
    assert window.bookmark == "2026-01-02T11:50:00Z"


def test_a_row_edited_during_the_read_is_read_again_by_the_next_read() -> None:
    first = ModifiedWindow(SINCE, {}, NOW)
    first.admit("page-1-row", SINCE + timedelta(hours=1))  # read before its edit
    first.admit("page-5-row", NOW + timedelta(minutes=2))  # edited after page 1, read later
    edited = NOW + timedelta(minutes=1)  # page-1-row's edit, during the read
    second = ModifiedWindow(datetime.fromisoformat(first.bookmark), first.state,
                            NOW + timedelta(hours=1))
    assert second.since is not None and edited >= second.since
    assert second.admit("page-1-row", edited)


def test_rows_read_since_the_new_bookmark_are_skipped_next_time_while_unchanged() -> None:
    first = ModifiedWindow(SINCE, {}, NOW)
    assert first.admit("old", SINCE + timedelta(hours=1))
    assert first.admit("recent", START + timedelta(seconds=1))
    assert first.state == {SEEN_KEY: {"recent": "2026-01-02T11:50:01Z"}}
    second = ModifiedWindow(START, first.state, NOW + timedelta(minutes=1))
    assert not second.admit("recent", START + timedelta(seconds=1))
    assert second.admit("recent", START + timedelta(seconds=2))


def test_a_skipped_row_is_still_remembered_while_it_is_inside_the_window() -> None:
    first = ModifiedWindow(SINCE, {}, NOW)
    first.admit("recent", NOW - timedelta(minutes=1))
    second = ModifiedWindow(START, first.state, NOW + timedelta(minutes=1))
    assert not second.admit("recent", NOW - timedelta(minutes=1))
    assert "recent" in second.state[SEEN_KEY]


def test_the_bookmark_never_moves_back_when_runs_are_closer_than_the_margin() -> None:
    recent = NOW - timedelta(minutes=2)
    window = ModifiedWindow(recent, {}, NOW)
    assert window.bookmark == "2026-01-02T11:58:00Z"


def test_pages_before_the_last_carry_the_incoming_bookmark_and_seen_rows() -> None:
    incoming = {SEEN_KEY: {"a": "2026-01-01T00:00:00Z"}, "receivables_since": "x"}
    window = ModifiedWindow(SINCE, incoming, NOW)
    window.admit("b", NOW)
    assert window.incoming_bookmark == "2026-01-01T00:00:00Z"
    assert window.incoming_state == {SEEN_KEY: {"a": "2026-01-01T00:00:00Z"}}


def test_a_state_of_the_earlier_layout_skips_the_ids_read_at_its_bookmark() -> None:
    window = ModifiedWindow(SINCE, {LEGACY_SEEN_KEY: ["a"]}, NOW)
    assert not window.admit("a", SINCE)
    assert window.admit("a", SINCE + timedelta(milliseconds=1))
    assert window.admit("b", SINCE)


def test_a_first_read_without_a_start_date_has_no_filter() -> None:
    window = ModifiedWindow(None, {SEEN_KEY: {"a": "2026-01-01T00:00:00Z"}}, NOW)
    assert window.filter() is None
    assert window.admit("a", SINCE)
    assert window.incoming_bookmark is None


class ReceivablePages:
    """A ReadContext stand-in: ``bulk/Cashflow/Receivables`` answers the rows modified since
    the tracker's mark (as Exact's ``Modified ge`` filter would), in these pages."""

    def __init__(self, tracker: ReceivablesTracker, *pages: list[dict[str, object]]) -> None:
        self._since = tracker.since
        self._pages = pages

    def pages(self, path: str, params: object) -> Iterator[Page]:
        assert path == "bulk/Cashflow/Receivables"
        for n, rows in enumerate(self._pages):
            kept = [r for r in rows if self._since is None
                    or exact_instant(r["Modified"]) >= self._since]  # type: ignore[operator]
            yield Page(kept, "next" if n + 1 < len(self._pages) else None)


def receivable(key: str, invoice: str, modified: datetime) -> dict[str, object]:
    wall = modified.astimezone(EXACT_TZ).replace(tzinfo=UTC)
    return {"ID": key, "TransactionEntryID": invoice,
            "Modified": f"/Date({int(wall.timestamp() * 1000)})/"}


def test_a_payment_on_page_1_booked_while_page_2_is_read_is_found_by_the_next_run() -> None:
    state = {RECEIVABLES_SINCE: "2026-01-01T00:00:00Z", RECEIVABLES_SEEN: {}}
    first = ReceivablesTracker(state, NOW)
    pages = ReceivablePages(first, [receivable("r1", "inv-1", SINCE + timedelta(hours=1))],
                            [receivable("r2", "inv-2", NOW + timedelta(minutes=5))])
    assert list(first.changed(pages)) == ["inv-1", "inv-2"]  # type: ignore[arg-type]
    paid_during_the_read = NOW + timedelta(minutes=1)  # r1, after page 1 was read
    second = ReceivablesTracker(first.new_state, NOW + timedelta(hours=1))
    again = ReceivablePages(second, [receivable("r1", "inv-1", paid_during_the_read)],
                            [receivable("r2", "inv-2", NOW + timedelta(minutes=5))])
    assert list(second.changed(again)) == ["inv-1"]  # type: ignore[arg-type]
