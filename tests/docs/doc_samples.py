"""Shell samples in the docs, run against the sandbox and compared with what they print.

A fenced block right after the line ``<!-- checked against the sandbox -->`` is a terminal
session: ``$ command`` lines (a trailing ``\\`` continues a command) and the output they
print (stdout and stderr as a terminal shows them). In the expected output

* blank lines before the next command are layout;
* a line ``...`` stands for any number of lines, and ``...`` inside a line for any text;
* an RFC 3339 date-time stands for any date-time (the sandbox's clock differs per run);
* a GUID must be the same GUID wherever it appears again; a GUID the sandbox makes up (a
  created record's id) is replaced by the real one in the commands that follow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "<!-- checked against the sandbox -->"
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
DATETIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"
_TOKENS = re.compile(rf"(\.\.\.|{GUID}|{DATETIME})")


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Sample:
    doc: Path
    line: int
    steps: list[Step]

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.line}"


def samples(doc: Path) -> Iterator[Sample]:
    """Every checked block of ``doc``."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        assert lines[index + 1].startswith("```"), f"{doc}:{index + 1}: no block after marker"
        end = lines.index("```", index + 2)
        yield Sample(doc, index + 1, parse(lines[index + 2:end]))


def parse(block: list[str]) -> list[Step]:
    steps: list[Step] = []
    continued = False
    for line in block:
        if continued:
            steps[-1].command += "\n" + line
        elif line.startswith("$ "):
            steps.append(Step(line[2:]))
        else:
            assert steps, f"output before the first command: {line!r}"
            steps[-1].expected.append(line)
        continued = line.endswith("\\") and (continued or line.startswith("$ "))
    for step in steps:  # a blank line between two commands is layout, not output
        while step.expected and not step.expected[-1].strip():
            step.expected.pop()
    return steps


def _line_regex(expected: str) -> tuple[re.Pattern[str], list[str]]:
    """A regex for one expected line, and the GUIDs it captures, in order."""
    pattern, guids = "", []
    for part in _TOKENS.split(expected.rstrip()):
        if part == "...":
            pattern += ".*?"
        elif re.fullmatch(GUID, part):
            pattern += f"({GUID})"
            guids.append(part)
        elif re.fullmatch(DATETIME, part):
            pattern += DATETIME
        else:
            pattern += re.escape(part)
    return re.compile(pattern), guids


def match(expected: list[str], actual: list[str], guids: dict[str, str]) -> dict[str, str] | None:
    """The GUID mapping (documented → real) under which ``actual`` fits ``expected``."""
    if not expected:
        return guids if not actual else None
    if expected[0].strip() == "...":
        for skip in range(len(actual) + 1):
            found = match(expected[1:], actual[skip:], guids)
            if found is not None:
                return found
        return None
    if not actual:
        return None
    regex, documented = _line_regex(expected[0])
    hit = regex.fullmatch(actual[0].rstrip())
    if hit is None:
        return None
    mapping = dict(guids)
    for doc_guid, real in zip(documented, hit.groups(), strict=True):
        if mapping.setdefault(doc_guid, real) != real:
            return None
    return match(expected[1:], actual[1:], mapping)
