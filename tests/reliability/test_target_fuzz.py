"""Fuzzing the target's Singer input (hypothesis): never a traceback, nothing valid lost.

Each generated input mixes valid company records (unique codes) with hostile lines: broken
JSON, invalid UTF-8, JSON that is no Singer message, wrong types in the envelope, unknown
message types, records before their SCHEMA or of a refused stream, lone surrogates, NaN,
nesting far past any record, BATCH, bad STATE, random records. The target runs in this
process (fast) against the sandbox, and for every input:

- no exception escapes but exit status 0 or 1, and nothing is logged with a traceback;
- every valid record is ``created`` and in Exact; every hostile line gets exactly one
  ``failed`` result naming its line, with a specific message (the reader's catch-all for
  unexpected exceptions is never hit); lines that are no records get no result;
- exit status 1 and no STATE exactly when something failed.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integration.test_target_support import schema_message

from exact_online_sandbox.server import Sandbox

from .conftest import Secrets, connector_settings

FAST_EXAMPLES = 1000
SLOW_EXAMPLES = 2000
CODES = itertools.count()
RUNS = itertools.count()


@dataclass(frozen=True)
class Line:
    """One generated input line and what the target must make of it."""

    text: str | bytes
    kind: str  # "valid": created; "bad": one failed result; "maybe": one result; "none": none


def message(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def record_line(record: Any, stream: Any = "generic_company") -> str:
    return message({"type": "RECORD", "stream": stream, "record": record})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
not_objects = json_values.filter(lambda v: not isinstance(v, dict))
not_strings = json_values.filter(lambda v: not isinstance(v, str))
KNOWN_TYPES = {"RECORD", "SCHEMA", "STATE", "ACTIVATE_VERSION", "BATCH"}


def nested(levels: int, leaf: str = "1") -> str:
    return "[" * levels + leaf + "]" * levels


bad_lines = st.one_of(
    # not JSON: a record cut short, or text that does not parse
    st.builds(lambda text, cut: text[:max(1, min(cut, len(text) - 1))],
              st.just(record_line({"name": "Cut short", "code": "CUT"})),
              st.integers(1, 60)),
    st.sampled_from(["{", "}", "nul", "{'type': 'RECORD'}", '{"type": "RECORD",}', "[1,",
                     '"unterminated', "RECORD", "{}{}", '{"type": "STATE", "value": {}} x']),
    # not UTF-8
    st.builds(lambda junk: b'{"type": "RECORD", "stream": "generic_company", "record": '
              b'{"name": "' + junk + b'"}}',
              st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc", b"\xf8"])),
    # JSON, but no Singer message
    not_objects.map(message),
    st.dictionaries(st.sampled_from(["stream", "record", "value"]), json_values,
                    max_size=3).map(message),
    st.builds(lambda t: message({"type": t, "stream": "generic_company", "record": {}}),
              not_strings),
    st.builds(lambda t, s: message({"type": t, "stream": s}),
              st.text(max_size=10).filter(lambda t: t not in KNOWN_TYPES),
              st.one_of(st.just("generic_company"), json_values)),
    # RECORD envelopes that are wrong
    st.builds(record_line, not_objects),
    st.just(message({"type": "RECORD", "stream": "generic_company"})),
    st.builds(lambda s: record_line({"name": "x"}, s), not_strings),
    st.builds(lambda s: record_line({"name": "No schema"}, s),
              st.text(max_size=15).filter(lambda s: s not in ("generic_company",
                                                              "generic_user"))),
    st.just(record_line({"first_name": "Refused", "last_name": "User"}, "generic_user")),
    # records whose content cannot be written
    st.builds(lambda a, b: record_line({"name": f"{a}\ud800{b}", "code": "SUR"}),
              st.text(max_size=5), st.text(max_size=5)),
    st.builds(lambda a: record_line({"name": "Surrogate key", "code": "SK", a + "\udfff": 1}),
              st.text(max_size=5)),
    st.builds(lambda n: '{"type": "RECORD", "stream": "generic_company", "record": '
              '{"name": "Deep", "notes": ' + nested(n) + "}}", st.integers(65, 3000)),
    st.builds(lambda n: '{"type": "RECORD", "stream": "generic_company", "record": '
              '{"name": "Deeper", "notes": ' + nested(n) + "}}", st.integers(5000, 60000)),
    st.builds(lambda c: '{"type": "RECORD", "stream": "generic_company", "record": '
              '{"name": "Not a number", "code": "NAN", "credit_limit": ' + c + "}}",
              st.sampled_from(["NaN", "Infinity", "-Infinity"])),
    # other messages that are wrong
    st.builds(lambda v: message({"type": "STATE", "value": v}), not_objects),
    st.just(message({"type": "STATE"})),
    st.just(message({"type": "BATCH", "stream": "generic_company", "encoding":
                     {"format": "jsonl", "compression": "gzip"}, "manifest": ["/etc/passwd"]})),
    st.builds(lambda s: message({"type": "ACTIVATE_VERSION", "stream": s, "version": 1}),
              st.text(max_size=8).filter(lambda s: s != "generic_company")),
    st.builds(lambda name, schema: message({"type": "SCHEMA", "stream": f"x_{name}",
                                            "schema": schema}),
              st.text(max_size=6), not_objects),
    st.builds(lambda keys: message({"type": "SCHEMA", "stream": "generic_company",
                                    "schema": {"properties": {}}, "key_properties": keys}),
              not_objects.filter(lambda v: v is not None and not isinstance(v, list))),
).map(lambda text: Line(text, "bad"))

maybe_lines = st.one_of(
    st.dictionaries(st.sampled_from(["name", "code", "email", "country", "division", "id",
                                     "_sdc_deleted_at", "website"]), json_values, max_size=4),
).map(lambda record: Line(record_line(record), "maybe"))

none_lines = st.sampled_from([
    Line("", "none"), Line("   ", "none"),
    Line(message({"type": "STATE", "value": {"fuzz": 1}}), "none"),
    Line(message({"type": "ACTIVATE_VERSION", "stream": "generic_company", "version": 2}),
         "none"),
])


@st.composite
def inputs(draw: st.DrawFn, max_lines: int) -> list[Line]:
    lines = draw(st.lists(st.one_of(bad_lines, bad_lines, bad_lines, maybe_lines,
                                    none_lines, st.just(None)),
                          min_size=1, max_size=max_lines))
    out: list[Line] = []
    for line in lines:
        if line is None:  # a valid company with a code no other input uses
            code = f"FZ{next(CODES):06d}"
            out.append(Line(record_line({"name": f"Fuzz {code}", "code": code}), "valid"))
        else:
            out.append(line)
    return out


@dataclass
class Outcome:
    code: int
    stdout: str
    results: list[dict[str, Any]]
    logged: list[logging.LogRecord]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def run_in_process(config: dict[str, Any], lines: list[bytes]) -> Outcome:
    from target_exact_online.errors import TargetStopped
    from target_exact_online.target import TargetExactOnline

    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    stdout = io.StringIO()
    source = io.TextIOWrapper(io.BytesIO(b"\n".join(lines) + b"\n"), encoding="utf-8")
    try:
        with redirect_stdout(stdout):
            TargetExactOnline(config=config).listen(file_input=source)
        code: Any = 0
    except SystemExit as stop:
        code = stop.code
    except TargetStopped:  # the console script prints it as one error: line and exits 1
        code = 1
    finally:
        root.removeHandler(handler)
    path = Path(config["results_path"])
    results = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    # (splitlines also splits on U+0085 and U+2028: the results file escapes them)
    return Outcome(code, stdout.getvalue(), results, handler.records)


class Shared:
    """The module's sandbox and settings (its repr, printed by hypothesis, shows no secret),
    and where runs write their results and ledger."""

    def __init__(self, sandbox: Sandbox, settings: dict[str, Any], work: Path) -> None:
        self.sandbox, self.settings, self.work = sandbox, settings, work

    def __repr__(self) -> str:
        return "Shared(sandbox, settings, work)"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, secrets: Secrets,
           artifacts: Path) -> Iterator[Shared]:
    # Results and ledger are fsynced line by line; on tmpfs that costs nothing, so a
    # thousand inputs take seconds. They are copied to the artifacts for the secrets check.
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="target-fuzz-", dir=shm if shm.is_dir() else None))
    try:
        with Sandbox(seed=42) as sandbox:
            # fuzzed records draw many refusals per endpoint: not about Exact's error block
            sandbox.set_limits(minutely=10**7, daily=10**8, token_daily=10**5,
                               errors_hourly=10**6)
            settings_ = connector_settings(sandbox, tmp_path_factory.mktemp("fuzz"))
            secrets.values.add(settings_["refresh_token"])
            yield Shared(sandbox, settings_, work)
            secrets.add_store(Path(settings_["token_store"]))
    finally:
        shutil.copytree(work, artifacts / work.name, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def codes_in_exact(sandbox: Sandbox, codes: list[str]) -> set[str]:
    if not codes:
        return set()
    token = sandbox.access_token()
    found: set[str] = set()
    flt = " or ".join(f"trim(Code) eq '{c}'" for c in codes)
    body = sandbox.call(token, f"crm/Accounts?$select=Code&$filter={flt}").json()["d"]
    found |= {row["Code"].strip() for row in body["results"]}
    return found


def check(lines: list[Line], shared: Shared) -> None:
    sandbox, base = shared.sandbox, shared.settings
    run = next(RUNS)
    # one ledger for every input (valid codes never repeat); the shared sandbox's error block
    # is out of reach, and the guard has its own tests, so error_limit 0 keeps runs independent
    config = {**base, "results_path": str(shared.work / f"results-{run}.jsonl"),
              "ledger_path": str(shared.work / "ledger.sqlite"), "error_limit": 0}
    header = [schema_message("generic_company"), schema_message("generic_user")]
    raw = [message(h).encode() for h in header]
    raw += [line.text if isinstance(line.text, bytes)
            else line.text.encode("utf-8", "surrogatepass") for line in lines]
    outcome = run_in_process(config, raw)

    assert outcome.code in (0, 1), outcome.code
    for logged in outcome.logged:
        assert logged.exc_info is None or logged.levelno <= logging.DEBUG, logged.getMessage()
        assert "Traceback" not in logged.getMessage()
    records = [r for r in outcome.results if r["type"] == "record"]
    by_line: dict[int, list[dict[str, Any]]] = {}
    for result in records:
        by_line.setdefault(result["line"], []).append(result)
    assert [r["line"] for r in by_line.get(2, [])] == [2], "the refused users SCHEMA"
    for number, line in enumerate(lines, start=len(header) + 1):
        got = by_line.get(number, [])
        if line.kind == "none":
            assert got == [], (line, got)
            continue
        assert len(got) == 1, (line, got)
        [result] = got
        if line.kind == "valid":
            assert result["outcome"] == "created", (line, result)
        elif line.kind == "bad":
            assert result["outcome"] == "failed", (line, result)
        if result["outcome"] == "failed":
            error = result["error"]
            assert isinstance(error, str) and 10 < len(error) < 3000, result
            assert "could not be processed" not in error, (line, error)
            assert "Traceback" not in error and "object at 0x" not in error, error
    failed = sum(r["outcome"] in ("failed", "unknown") for r in records)
    assert outcome.code == (1 if failed else 0)
    if failed:
        assert outcome.stdout == "", "no STATE when something failed"
    valid = [json.loads(line.text)["record"]["code"] for line in lines
             if line.kind == "valid" and isinstance(line.text, str)]
    assert codes_in_exact(sandbox, valid) == set(valid), "nothing valid lost"


SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
            HealthCheck.data_too_large, HealthCheck.large_base_example,
            HealthCheck.filter_too_much]


@settings(max_examples=FAST_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=SUPPRESS)
@given(lines=inputs(max_lines=6))
def test_fuzzed_singer_input_never_crashes_and_loses_nothing_valid(
    lines: list[Line], shared: Shared
) -> None:
    check(lines, shared)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, deadline=None, database=None, derandomize=False,
          suppress_health_check=SUPPRESS)
@given(lines=inputs(max_lines=25))
def test_longer_fuzzed_singer_input_never_crashes_and_loses_nothing_valid(
    lines: list[Line], shared: Shared
) -> None:
    check(lines, shared)
