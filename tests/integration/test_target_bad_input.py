"""Malformed Singer input to the real executable: the bad line fails alone, the rest is written.

Each case puts one bad line between two valid companies. The bad line gets one failed result
naming its line and what is wrong; both companies land in Exact; the run exits 1 without
STATE and without a traceback. A few problems stop the run instead, with one ``error:`` line.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox

from .test_target_support import run_target, schema_message, target_config

DEEP = 100_000


def record(name: str, code: str, stream: str = "generic_company") -> str:
    return json.dumps({"type": "RECORD", "stream": stream,
                       "record": {"name": name, "code": code}})


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


BAD_LINES: dict[str, tuple[str, str]] = {
    # case: (the line, what the failed result's error must say)
    "invalid-json": ('{"type": "RECORD", "stream": "generic_company", "record": {"name": ',
                     "not valid JSON"),
    "json-not-an-object": ("[1, 2, 3]", "not a Singer message"),
    "no-type": ('{"stream": "generic_company", "record": {}}', 'no "type"'),
    "unknown-type": ('{"type": "FOO", "stream": "generic_company"}', "unknown message type"),
    "record-before-schema": (record("Early", "EARLY1", "generic_contact"), "before its SCHEMA"),
    "record-not-an-object": ('{"type": "RECORD", "stream": "generic_company", "record": [1]}',
                             "not an object"),
    "record-missing": ('{"type": "RECORD", "stream": "generic_company"}', 'without a "record"'),
    "lone-surrogate": ('{"type": "RECORD", "stream": "generic_company", '
                       '"record": {"name": "Bad \\ud800 name", "code": "SURR1"}}',
                       'name: "Bad \\ud800 name" contains a lone surrogate'),
    "nesting-past-the-parser": ('{"type": "RECORD", "stream": "generic_company", "record": '
                                '{"name": "Deep", "notes": ' + nested(DEEP) + "}}",
                                "nested too deeply"),
    "nesting-past-the-limit": ('{"type": "RECORD", "stream": "generic_company", "record": '
                               '{"name": "Deep", "notes": ' + nested(200) + "}}",
                               "levels deep"),
    "nan": ('{"type": "RECORD", "stream": "generic_company", "record": {"name": "N", '
            '"code": "NAN1", "credit_limit": NaN}}',
            "record.credit_limit: NaN is not a JSON number"),
    "state-without-value": ('{"type": "STATE"}', '"value"'),
    "broken-schema-of-a-stream-being-written": (
        '{"type": "SCHEMA", "stream": "generic_company", "schema": {"properties": {}}, '
        '"key_properties": false}', "the stream's earlier SCHEMA stays in effect"),
    "batch": ('{"type": "BATCH", "stream": "generic_company", "encoding": {}, "manifest": []}',
              "BATCH"),
}


def around(bad: str, tag: str) -> str:
    lines = [json.dumps(schema_message("generic_company")), record(f"{tag} before", f"{tag}B"),
             bad, record(f"{tag} after", f"{tag}A"),
             json.dumps({"type": "STATE", "value": {"done": tag}})]
    return "\n".join(lines) + "\n"


def codes(sandbox: Sandbox, *wanted: str) -> set[str]:
    token = sandbox.access_token()
    found = set()
    for code in wanted:
        rows = sandbox.call(token, f"crm/Accounts?$select=Code&$filter=trim(Code) eq '{code}'")
        found |= {row["Code"].strip() for row in rows.json()["d"]["results"]}
    return found


@pytest.mark.parametrize("case", list(BAD_LINES), ids=list(BAD_LINES))
def test_a_malformed_line_fails_alone_and_the_records_around_it_are_written(
    case: str, sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    bad, says = BAD_LINES[case]
    tag = "".join(c for c in case.upper() if c.isalpha())[:10]
    run = run_target(target_config(settings, tmp_path), tmp_path, around(bad, tag))
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 1
    assert run.states == [], "no STATE: the next run must see the bad line again"
    failed = [r for r in run.records if r["outcome"] == "failed"]
    assert len(failed) == 1, run.records
    assert failed[0]["line"] == 3
    assert says in failed[0]["error"], failed[0]
    assert "line 3" in run.stderr
    assert [r["outcome"] for r in run.records if r["outcome"] != "failed"] == ["created"] * 2
    assert codes(sandbox, f"{tag}B", f"{tag}A") == {f"{tag}B", f"{tag}A"}


def test_records_of_a_stream_refused_at_its_schema_fail_and_other_streams_are_written(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    users = schema_message("generic_user")
    lines = [json.dumps(users), json.dumps(schema_message("generic_company")),
             json.dumps({"type": "RECORD", "stream": "generic_user",
                         "record": {"first_name": "No", "last_name": "Way"}}),
             record("Refused neighbour", "REFN1"),
             json.dumps({"type": "RECORD", "stream": "generic_user",
                         "record": {"first_name": "Nor", "last_name": "This"}})]
    run = run_target(target_config(settings, tmp_path), tmp_path, "\n".join(lines) + "\n")
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 1
    assert [(r["stream"], r["outcome"], r["line"]) for r in run.records] == [
        ("generic_user", "failed", 1), ("generic_user", "failed", 3),
        ("generic_company", "created", 4), ("generic_user", "failed", 5)]
    for result in run.records[:1] + run.records[-1:]:
        assert "no write API" in result["error"]
    assert codes(sandbox, "REFN1") == {"REFN1"}


def test_a_schema_that_is_not_a_json_schema_refuses_its_stream(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    lines = [json.dumps({"type": "SCHEMA", "stream": "generic_company",
                         "schema": {"properties": {"name": {"type": 12}}},
                         "key_properties": ["id"]}),
             record("Broken schema", "BROKEN1")]
    run = run_target(target_config(settings, tmp_path), tmp_path, "\n".join(lines) + "\n")
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 1
    assert [r["outcome"] for r in run.records] == ["failed", "failed"]
    assert "not a valid JSON Schema" in run.records[1]["error"]
    assert codes(sandbox, "BROKEN1") == set()


def test_invalid_utf8_on_a_line_fails_that_line_only(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    import subprocess

    from .test_target_support import TARGET, write_config

    config = target_config(settings, tmp_path)
    text = around("PLACEHOLDER", "UTF").encode().replace(
        b"PLACEHOLDER", b'{"type": "RECORD", "stream": "generic_company", "record": '
                        b'{"name": "\xff\xfe", "code": "UTF8X"}}')
    done = subprocess.run([str(TARGET), "--config", str(write_config(config, tmp_path))],
                          input=text, capture_output=True, timeout=120, check=False)
    stderr = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    assert done.returncode == 1
    results = [json.loads(line) for line in Path(config["results_path"]).read_text().splitlines()]
    records = [r for r in results if r["type"] == "record"]
    assert [r["outcome"] for r in records] == ["created", "failed", "created"]
    assert "UTF-8" in records[1]["error"]


# -- problems that stop the run: one error: line ----------------------------------------------


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_corrupt_ledger_stops_the_run_with_one_error_line_naming_it(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    ledger.write_bytes(b"not a database at all " * 500)
    config = target_config(settings, tmp_path, ledger_path=str(ledger))
    before = sandbox.row_count("crm/Accounts")
    run = run_target(config, tmp_path, around(record("x", "CORRUPT1"), "CORRUPT"))
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert str(ledger) in line and "not a SQLite ledger" in line
    assert sandbox.row_count("crm/Accounts") == before
    assert run.stdout == ""


def test_a_revoked_login_stops_the_run_with_one_error_line(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    sandbox.revoke()
    run = run_target(target_config(settings, tmp_path), tmp_path,
                     around(record("x", "REVOKED1"), "REVOKED"))
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert "exact-online login" in line
    assert run.stdout == ""
    assert [r["outcome"] for r in run.records] == ["failed"]
    assert run.summary["generic_company"]["failed"] == 1


def test_the_ledger_lock_of_an_older_ledger_file_is_taken_without_losing_its_rows(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    config = target_config(settings, tmp_path, ledger_path=str(ledger))
    text = around(record("Old ledger", "OLDL1"), "OLDL")
    first = run_target(config, tmp_path, text)
    assert first.returncode == 0, first.stderr[-3000:]
    with sqlite3.connect(ledger) as conn:  # as an older version wrote it: no owner column
        conn.execute("CREATE TABLE old AS SELECT stream, division, input_key, exact_id, "
                     "payload_hash, state, updated_at FROM ledger")
        conn.execute("DROP TABLE ledger")
        conn.execute("ALTER TABLE old RENAME TO ledger")
    again = run_target(config, tmp_path, text)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.outcomes() == ["unchanged"] * 3
