"""When the tap emits STATE: after a page once the records it covers outnumber its bookmarks.

A Singer STATE message is the whole state, every stream's bookmark in every division (a
loader or Meltano keeps the last one as the state, so it cannot carry only what moved). The
tap used to emit one after every page, so its STATE output grew with divisions x pages: a
run over 1000 divisions wrote 128 MB of STATE and did not finish. Now a STATE goes out at a
page boundary only once the records emitted since the previous STATE are at least as many as
the bookmarks (stream x division partitions) it holds; and always at the end of the run, when
the run stops on an error or a spent daily budget, and on SIGTERM (at the end of the page
being written: ``TapExactOnline._handle_termination``). A
STATE equal to the last one, with no record since, is never repeated.

What that keeps and what it bounds:

- A STATE is taken at a page boundary, after that page's records were written (in batch
  mode after the BATCH message announcing them), so it covers only records before it: a
  run killed anywhere and resumed loses nothing and re-reads only what the last STATE did
  not cover, fewer records than that STATE's bookmarks plus the page in flight.
- Bookmarks written in STATE <= records emitted + two whole states (the one the run starts
  from and its last): STATE output grows with what was read and linearly with divisions,
  never with divisions x pages. A bookmark is smaller than a record, so STATE stays a
  fraction of the output (figures: docs/benchmarks.md).
- With few divisions and full pages (more rows than bookmarks) a STATE still follows every
  page, as before; a page of a few changed rows may wait for the next one.
- The decision depends only on the records and the state, never on time or threads, so
  ``division_workers`` > 1 emits exactly what one worker does.
"""

from __future__ import annotations

import logging

from singer_sdk.helpers._state import StateWriter
from singer_sdk.helpers.types import TapState
from singer_sdk.singerlib.encoding.simple import StateMessage
from typing_extensions import override

from tap_exact_online.output import SingerOutput

logger = logging.getLogger("tap-exact-online")


def bookmark_count(state: TapState) -> int:
    """Bookmarks ``state`` holds: one per stream partition (a stream without any counts one)."""
    bookmarks = state.get("bookmarks") or {}
    return sum(max(1, len(entry.get("partitions") or ())) for entry in bookmarks.values())


class StateCadence(StateWriter):
    """The tap's one STATE writer (the SDK's ``state_writer``): it decides when STATE goes out."""

    def __init__(self, output: SingerOutput) -> None:
        super().__init__(output)
        self.output = output
        self.records = 0
        """Records the pages checkpointed since the last STATE hold (not yet covered)."""
        self.messages = 0
        self.bytes = 0
        self._last: bytes | None = None

    def covered(self, records: int) -> None:
        """A page (or the deletions) with ``records`` records was checkpointed into state."""
        self.records += records

    def offer(self, state: TapState) -> bool:
        """At a page boundary (or after a BATCH message): write ``state`` if it is due."""
        if self.records < bookmark_count(state):
            return False
        return self.write(state)

    @override
    def write_state(self, state: TapState) -> None:
        """The SDK's own STATE points (the input state as a run starts, SIGTERM): always."""
        self.write(state)

    def write(self, state: TapState) -> bool:
        """Write ``state`` now unless it repeats the last STATE with no record since."""
        line = bytes(self.output.format_message(StateMessage(value=state)))
        if line == self._last and not self.records:
            return False
        self.output.write_line(line)
        self._last = line
        self.records = 0
        self.messages += 1
        self.bytes += len(line)
        return True

    def log_totals(self) -> None:
        logger.info("STATE: %d messages, %d bytes in this run", self.messages, self.bytes)


__all__ = ["StateCadence", "bookmark_count"]
