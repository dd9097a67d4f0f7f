"""What the user sees: one JSON line per record in the results file, and a summary per stream.

The file is appended to (a replay after a crash keeps the first run's lines); every line
carries the run's ``run_id``. Records are ``{"type": "record", ...}`` lines, the summary at
the end is one ``{"type": "summary", ...}`` line per stream. Lines are flushed and fsynced
as they are written; each record line names the input ``line`` it came from. An input line
that is not a usable Singer message gets a ``failed`` line too, under the stream it names or
``(input)``. Nothing secret is ever written here: only stream names, input keys
(an external id or a hash), Exact ids, outcomes and error messages (which the core redacts).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["created", "updated", "deleted", "unchanged", "not_found", "failed",
                  "unknown"]
OUTCOMES: tuple[Outcome, ...] = (
    "created", "updated", "deleted", "unchanged", "not_found", "failed", "unknown"
)
INPUT = "(input)"
"""The stream of a result for an input line whose stream is not known (not JSON, say)."""


_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
"""Characters some line readers split on (Python's ``str.splitlines``): written escaped."""


@dataclass
class RecordResult:
    stream: str
    operation: str | None
    input_key: str | None
    outcome: Outcome
    exact_id: str | None = None
    division: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    call: str | None = None  # dry run: the call that would be made
    line: int | None = None  # the input line the record came from


class ResultsFile:
    """Append-only JSON-lines results with per-stream counters."""

    def __init__(self, path: Path | str, *, dry_run: bool = False) -> None:
        self.path = Path(path)
        self.dry_run = dry_run
        self.run_id = uuid.uuid4().hex
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A lone surrogate (from a \\ud800 escape in the input) is written as that same JSON
        # escape, so every line stays valid UTF-8 and reads back to the value it names.
        self._file = open(self.path, "a", encoding="utf-8",  # noqa: SIM115
                          errors="backslashreplace")
        self.counts: dict[str, Counter[str]] = {}
        self.closed = False

    def _write(self, line: dict[str, Any]) -> None:
        text = json.dumps(line, ensure_ascii=False, default=str)
        self._file.write(text.translate(_LINE_BREAKS) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def add(self, result: RecordResult) -> None:
        self.counts.setdefault(result.stream, Counter())[result.outcome] += 1
        line: dict[str, Any] = {
            "type": "record",
            "run_id": self.run_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "stream": result.stream,
            "operation": result.operation,
            "division": result.division,
            "input_key": result.input_key,
            "exact_id": result.exact_id,
            "outcome": result.outcome,
            "error": result.error,
            "line": result.line,
        }
        if result.warnings:
            line["warnings"] = result.warnings
        if self.dry_run:
            line["dry_run"] = True
            line["call"] = result.call
        self._write(line)

    @property
    def failed(self) -> int:
        return sum(c["failed"] for c in self.counts.values())

    @property
    def unknown(self) -> int:
        return sum(c["unknown"] for c in self.counts.values())

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"stream": stream, **{o: counts[o] for o in OUTCOMES},
             "total": sum(counts.values())}
            for stream, counts in sorted(self.counts.items())
        ]

    def write_summary(self) -> list[dict[str, Any]]:
        lines = self.summary()
        for entry in lines:
            line = {"type": "summary", "run_id": self.run_id, **entry}
            if self.dry_run:
                line["dry_run"] = True
            self._write(line)
        return lines

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self.closed = True


def summary_text(entry: dict[str, Any]) -> str:
    counts = ", ".join(f"{o} {entry[o]}" for o in OUTCOMES if entry[o])
    return f"{entry['stream']}: {entry['total']} records ({counts or 'none'})"
