"""Singer input read line by line: a line that is not a usable message fails alone, never the run.

The SDK's reader stops the whole run with a traceback at the first line it cannot use (not
JSON, not UTF-8, nested past Python's recursion limit, an unknown type, a RECORD before its
SCHEMA...), and the valid records after it are never written. This reader hands each such
line to ``on_problem`` with its line number and goes on; the target records it as a failed
result, so the run ends with exit status 1 and no STATE, and the next run sees it again.
:class:`TargetStopped` (the run cannot go on) is passed to ``on_stop`` and raised.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

from singer_sdk.singerlib.encoding.simple import SimpleSingerReader

from target_exact_online.errors import TargetStopped

logger = logging.getLogger("target-exact-online")

MAX_DEPTH = 64
"""Deepest nesting a message may have (an invoice record with its lines is 4 levels)."""


class InputProblem(Exception):
    """One input line that cannot be used; ``stream`` when the line names one."""

    def __init__(self, message: str, stream: str | None = None, *, quiet: bool = False) -> None:
        super().__init__(message)
        self.stream = stream
        self.quiet = quiet  # already explained once in the log (records of a refused stream)


class _Constant:
    """``NaN``, ``Infinity`` or ``-Infinity`` in the input: Python reads them, JSON has none."""

    def __init__(self, name: str) -> None:
        self.name = name


def _constants(value: Any, where: str = "") -> list[str]:
    """Where the parsed message holds a :class:`_Constant`, as ``record.price`` paths."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack and len(found) < 5:
        path, item = stack.pop()
        if isinstance(item, _Constant):
            found.append(f"{path or 'the message'}: {item.name} is not a JSON number")
        elif isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
    return found


def depth(value: Any) -> int:
    """How deeply ``value`` nests objects and arrays (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        stack.extend((child, level) for child in children)
    return deepest


def parse_line(raw: str | bytes) -> dict[str, Any] | None:
    """The Singer message on one line (None for a blank line), or :class:`InputProblem`."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputProblem(f"not valid UTF-8 (byte {exc.start + 1} of the line)") from None
    text = raw.strip()
    if not text:
        return None
    constants: list[_Constant] = []

    def constant(name: str) -> _Constant:
        constants.append(_Constant(name))
        return constants[-1]

    try:
        message = json.loads(text, parse_float=Decimal, parse_constant=constant)
    except RecursionError:
        raise InputProblem("nested too deeply to read (hundreds of levels of arrays or "
                           "objects)") from None
    except ValueError as exc:
        raise InputProblem(f"not valid JSON ({exc})") from None
    if not isinstance(message, dict):
        raise InputProblem(f"not a Singer message: a JSON {_kind(message)}, not an object")
    stream = _stream_of(message)
    kind = message.get("type")
    if not isinstance(kind, str):
        raise InputProblem('not a Singer message: it has no "type"', stream)
    levels = depth(message)
    if levels > MAX_DEPTH:
        raise InputProblem(f"{kind} message nested more than {MAX_DEPTH} levels deep; "
                           "Exact Online's records nest a few levels at most", stream)
    if constants:
        raise InputProblem("; ".join(sorted(_constants(message))), stream)
    return message


def _stream_of(message: dict[str, Any] | None) -> str | None:
    stream = message.get("stream") if isinstance(message, dict) else None
    return stream if isinstance(stream, str) else None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    return "null" if value is None else type(value).__name__


def _lines(source: IO[str] | IO[bytes]) -> Iterator[str | bytes]:
    """Raw lines: bytes where the stream has a binary buffer, so bad UTF-8 fails one line."""
    buffer = getattr(source, "buffer", None)
    yield from (buffer if buffer is not None else source)


class LineReader(SimpleSingerReader):
    """The SDK's reader, one line at a time, with every unusable line reported, not raised."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.on_problem: Callable[[int, InputProblem], None] | None = None
        self.on_stop: Callable[[TargetStopped], None] | None = None

    def process_lines(
        self, file_input: IO[str] | None, callbacks: dict[str, Callable[[dict[str, Any]], None]]
    ) -> Counter[str]:
        stats: Counter[str] = Counter()
        for number, raw in enumerate(_lines(file_input or self.default_input), 1):
            self.line_number = number
            message: dict[str, Any] | None = None
            try:
                message = parse_line(raw)
                if message is None:
                    continue
                callback = callbacks.get(message["type"])
                if callback is None:
                    raise InputProblem(f"unknown message type {message['type'][:40]!r}",
                                       _stream_of(message))
                callback(message)
                stats[message["type"]] += 1
            except TargetStopped as stop:
                if self.on_stop is not None:
                    self.on_stop(stop)
                raise
            except InputProblem as problem:
                self._report(problem)
            except Exception as exc:  # a record the SDK's machinery could not handle
                logger.debug("line %d could not be processed", self.line_number, exc_info=True)
                self._report(InputProblem(
                    f"could not be processed ({type(exc).__name__}: {str(exc)[:300]})",
                    _stream_of(message)))
        return stats

    def _report(self, problem: InputProblem) -> None:
        if self.on_problem is None:
            raise problem
        self.on_problem(self.line_number, problem)
