"""``sync/Deleted`` read once per division per run, shared by every stream that folds deletes.

Exact keeps deletions of all entity types in one feed, and its Timestamps come from the
same per-division counter as the rows. Reading it per stream would cost a call per
stream; instead it is read once per division, before any data page of that division, from
the oldest bookmark a stream still needs, and each stream takes the deletions newer than
its own bookmark.

A stream's first sync skips the deletions read here: they all happened before its data
pages were read, so the rows they name are simply absent from those pages. Its first
checkpoint records where the feed stood (:meth:`DeletionFeed.bookmark`), so when that first
sync is interrupted, the resumed run takes every deletion made since.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from exact_online_core.api import ExactOnline
from exact_online_core.errors import PermissionDeniedError

Bookmark = Callable[[str, int], int | None]


@dataclass
class _DivisionFeed:
    since: dict[str, int | None]
    by_stream: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    bookmark: int | None = None
    refused: PermissionDeniedError | None = None


class DeletionFeed:
    """Reads each division's deletions once and hands them out per stream."""

    def __init__(self, api: ExactOnline, streams: Collection[str], bookmark_of: Bookmark) -> None:
        self._api = api
        self._streams = frozenset(streams)
        self._bookmark_of = bookmark_of
        self._feeds: dict[int, _DivisionFeed] = {}

    @property
    def streams(self) -> frozenset[str]:
        return self._streams

    def load(self, division: int) -> None:
        """Read the division's deletions now (call before its first data page)."""
        if division in self._feeds or not self._streams:
            return
        since = {stream: self._bookmark_of(stream, division) for stream in self._streams}
        known = [value for value in since.values() if value is not None]
        start = min(known) if known else None
        feed = _DivisionFeed(since=since, bookmark=start)
        try:
            for page in self._api.deletions(division, since=start, streams=self._streams):
                for stream, record in page.records:
                    mark = since.get(stream)
                    if mark is not None and int(record["exact_timestamp"]) > mark:
                        feed.by_stream[stream].append(self._api.tombstone(stream, record))
                if page.bookmark is not None:
                    feed.bookmark = max(page.bookmark, feed.bookmark or 0)
        except PermissionDeniedError as error:
            # Keep the bookmarks where they are: deletions are read once access is granted.
            feed = _DivisionFeed(since=since, bookmark=None, refused=error)
        self._feeds[division] = feed

    def refusal(self, division: int) -> PermissionDeniedError | None:
        """Why Exact would not give this division's deletions (None: it did)."""
        feed = self._feeds.get(division)
        return feed.refused if feed else None

    def for_stream(self, stream: str, division: int) -> Iterator[dict[str, Any]]:
        """Deletion records of ``stream`` in ``division`` newer than its bookmark."""
        self.load(division)
        feed = self._feeds.get(division)
        if feed is not None:
            yield from feed.by_stream.pop(stream, ())

    def bookmark(self, division: int) -> int | None:
        """The newest sync/Deleted Timestamp read for ``division`` (None: nothing read)."""
        feed = self._feeds.get(division)
        return feed.bookmark if feed else None
