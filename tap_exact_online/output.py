"""The tap's Singer output: msgspec-encoded lines, flushed at each STATE rather than each record.

The SDK's writer flushes stdout after every message, one system call per record. Records are
only committed by a target at the STATE that follows them, so the tap flushes at every
message that is not a RECORD (STATE, SCHEMA, BATCH, ...) and at exit: what a
target sees complete is the same, with one write per buffer instead of per record.

Records also skip the SDK's per-record copy work where it provably does nothing
(:func:`plain_records`): nothing deselected (the core already reads only the selected
properties), no stream map, no type conformance (``TypeConformanceLevel.NONE``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage

if TYPE_CHECKING:
    from singer_sdk import Stream


class SingerOutput(MsgSpecWriter):
    """msgspec lines on stdout; flushed at every message but a RECORD."""

    _line = bytearray(256)

    def write_message(self, message: Message) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()

    def write_line(self, line: bytes) -> None:
        """An already encoded message that is not a RECORD (a STATE), flushed."""
        sys.stdout.buffer.write(line)
        sys.stdout.flush()

    def write_record(self, stream: str, record: dict[str, Any], version: int | None) -> None:
        """A RECORD message, encoded as the SDK would (same keys, same order, same values)."""
        message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = datetime.now(UTC)
        line = self._line
        encoder.encode_into(message, line)
        line.extend(b"\n")
        sys.stdout.buffer.write(line)

    def write_records(
        self, stream: str, records: list[dict[str, Any]], version: int | None,
    ) -> None:
        """RECORD messages for ``records`` (the same lines :meth:`write_record` writes),
        encoded together in one call and written in one piece."""
        messages: list[dict[str, Any]] = []
        append = messages.append
        now = datetime.now
        if version is None:
            for record in records:
                append({"type": "RECORD", "stream": stream, "record": record,
                        "time_extracted": now(UTC)})
        else:
            for record in records:
                append({"type": "RECORD", "stream": stream, "record": record,
                        "version": version, "time_extracted": now(UTC)})
        sys.stdout.buffer.write(encoder.encode_lines(messages))


def plain_records(stream: Stream) -> bool:
    """The SDK's per-record steps would leave this stream's records exactly as they are."""
    maps = stream.stream_maps
    return (
        isinstance(stream._tap.message_writer, SingerOutput)
        and stream.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE
        and len(maps) == 1
        and type(maps[0]) is SameRecordTransform
        and maps[0].stream_alias == stream.name
        and all(stream.mask.values())
    )
