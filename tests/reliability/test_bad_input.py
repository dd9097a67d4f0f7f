"""Bad input: generated records (hypothesis) and malformed config and catalog files.

Every generated record gets exactly one result line: written correctly, or failed with a clear
per-record error; the target never crashes, and nothing it reports as done is partial.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integration.test_target_support import schema_message

from exact_online_sandbox.server import Sandbox

from .conftest import TAP, TARGET, run_executable, write_json

EXAMPLES = 20
MIN_BATCH = 50  # 20 batches of at least 50: at least 1000 generated records

ODATA = ["' eq ''", "') or 1 eq 1 or ('", "Name eq 'x'", "$filter=1", "%27", "\\'", "''",
         "&$top=1", "guid'00000000-0000-0000-0000-000000000000'", "/Date(0)/"]
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20),
    st.sampled_from(ODATA),
    st.builds(lambda n: "é" * n, st.integers(1000, 20000)),
    st.just(""), st.just(" "), st.just("O'Brien & \"Sons\""),
)
wrong = st.one_of(st.none(), st.integers(-2**63, 2**63), st.floats(allow_nan=True),
                  st.booleans(), st.lists(st.integers(), max_size=3),
                  st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
value = st.one_of(texts, wrong)
guids = st.one_of(st.uuids().map(str), st.sampled_from(["not-a-guid", "", "{}", "1 eq 1"]))
divisions = st.one_of(st.sampled_from([100001, 100002, 100003, 999999, -1, 0]),
                      st.sampled_from(["100001", "abc", None]))

company = st.fixed_dictionaries({}, optional={
    "name": value, "code": value, "email": value, "phone": value, "website": value,
    "country": st.one_of(st.sampled_from(["NL", "BE", "XX", "nl", ""]), value),
    "vat_number": value, "id": guids, "division": divisions,
    "_sdc_deleted_at": st.one_of(st.just("2024-05-01T00:00:00Z"), st.just("yesterday"), wrong),
    "unknown_property": value,
})
contact = st.fixed_dictionaries({}, optional={
    "first_name": value, "last_name": value, "email": value, "company_id": guids,
    "id": guids, "division": divisions,
})
plausible_company = st.fixed_dictionaries(
    {"name": texts.map(lambda t: t if t.strip() else f"x{t}")},
    optional={"code": texts, "email": texts, "website": texts, "country": st.just("NL"),
              "division": st.sampled_from([100001, 100002, 100003])})
"""Mostly valid companies whose hostile strings (quotes, OData operators, unicode, 20k
characters) do reach Exact."""
records = st.one_of(company.map(lambda r: ("generic_company", r)),
                    contact.map(lambda r: ("generic_contact", r)),
                    plausible_company.map(lambda r: ("generic_company", r)),
                    plausible_company.map(lambda r: ("generic_company", r)))
ENTITIES = {"generic_company": "crm/Accounts", "generic_contact": "crm/Contacts"}
VALID_OUTCOMES = {"created", "updated", "deleted", "unchanged", "not_found", "failed"}


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=42) as sb:
        # hostile records draw many refusals per endpoint: this test is not about Exact's
        # error block (tests/sandbox/test_errorblock.py has that)
        sb.set_limits(minutely=10**6, daily=10**7, token_daily=10**5, errors_hourly=10**6)
        yield sb


@pytest.fixture(scope="module")
def fed() -> Iterator[list[int]]:
    counter = [0]
    yield counter
    assert counter[0] >= EXAMPLES * MIN_BATCH, f"only {counter[0]} generated records were fed"


def row_counts(sandbox: Sandbox) -> dict[str, int]:
    return {s: sum(sandbox.row_count(e, d) for d in (100001, 100002))
            for s, e in ENTITIES.items()}


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(batch=st.lists(records, min_size=MIN_BATCH, max_size=MIN_BATCH + 10))
def test_generated_records_each_get_one_clear_result_and_nothing_partial(
    batch: list[tuple[str, dict[str, Any]]], shared_sandbox: Sandbox,
    make_settings: Callable[..., dict[str, Any]], out_dir: Path, fed: list[int],
) -> None:
    from target_exact_online.target import TargetExactOnline

    sandbox = shared_sandbox
    fed[0] += len(batch)
    run = len(list(out_dir.glob("results-*.jsonl")))
    results = out_dir / f"results-{run}.jsonl"
    config = make_settings(sandbox, results_path=str(results),
                           ledger_path=str(out_dir / f"ledger-{run}.sqlite"),
                           divisions=[100001, 100002],
                           # hostile codes draw many 400s from Exact; the guard would stop the
                           # run (tests/integration/test_target_outcomes.py) before every
                           # record got its result, which is what this test looks at
                           error_limit=0)
    lines = [schema_message(s) for s in ENTITIES]
    lines += [{"type": "RECORD", "stream": s, "record": r} for s, r in batch]
    before = row_counts(sandbox)
    stdout = io.StringIO()
    try:
        with redirect_stdout(stdout):
            TargetExactOnline(config=config).listen(
                file_input=io.StringIO("".join(json.dumps(line) + "\n" for line in lines)))
        code: Any = 0
    except SystemExit as stop:
        code = stop.code
    (out_dir / f"stdout-{run}.txt").write_text(stdout.getvalue())
    outcome_lines = [json.loads(line) for line in results.read_text().splitlines()]
    recs = [r for r in outcome_lines if r["type"] == "record"]

    assert len(recs) == len(batch), "one result per record"
    for (stream, _record), result in zip(batch, recs, strict=True):
        assert result["stream"] == stream
        assert result["outcome"] in VALID_OUTCOMES, result
        if result["outcome"] == "failed":
            error = result["error"]
            assert isinstance(error, str) and 10 < len(error) < 2000, result
            assert "Traceback" not in error and "object at 0x" not in error, error
    failed = sum(r["outcome"] == "failed" for r in recs)
    assert code == (1 if failed else 0)
    after = row_counts(sandbox)
    for stream in ENTITIES:
        created = [r for r in recs if r["stream"] == stream and r["outcome"] == "created"]
        deleted = [r for r in recs if r["stream"] == stream and r["outcome"] == "deleted"]
        assert after[stream] - before[stream] == len(created) - len(deleted), stream
    token = sandbox.access_token()
    for (stream, record), result in zip(batch, recs, strict=True):
        if stream == "generic_company" and result["outcome"] == "created":
            row = sandbox.call(token, f"crm/Accounts(guid'{result['exact_id']}')",
                               division=result["division"]).json()["d"]
            assert row["Name"] == record["name"], "stored as sent, not cut"


# -- malformed files ---------------------------------------------------------------------------


def _config(sandbox: Sandbox, tmp_path: Path) -> dict[str, Any]:
    return {"base_url": sandbox.base_url, "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret, "token_store": str(tmp_path / "t.json"),
            "refresh_token": sandbox.mint_refresh_token(), "divisions": [100001]}


BAD_CONFIGS: dict[str, tuple[Callable[[dict[str, Any]], str], tuple[str, ...]]] = {
    # the file's text, and what the error must name ("{path}": the config file)
    "not-json": (lambda c: json.dumps(c)[:-5], ("{path}", "not valid JSON")),
    "a-list": (lambda c: json.dumps([c]), ("{path}", "JSON object")),
    "invalid-region": (lambda c: json.dumps({**c, "region": "xx", "base_url": None}),
                       ("region", "'xx'")),
    "missing-client-id": (lambda c: json.dumps({k: v for k, v in c.items() if k != "client_id"}),
                          ("client_id", "required")),
    "division-not-a-number": (lambda c: json.dumps({**c, "divisions": ["abc"]}),
                              ("divisions", "'abc'")),
    "division-zero": (lambda c: json.dumps({**c, "divisions": [0]}), ("divisions", "0 is not")),
    "timeout-nan": (lambda c: json.dumps({**c, "timeout": float("nan")}),
                    ("{path}", "timeout is NaN")),
}


def one_clear_error(stderr: str, names: tuple[str, ...], *, prefixed: bool) -> str:
    """The error line that names every one of ``names`` (what is wrong and where).

    ``prefixed``: the tap's own form, exactly one ``error: ...`` line; otherwise a logged
    error line (the SDK's config validation in the target) is accepted.
    """
    assert "Traceback" not in stderr, stderr[-3000:]
    if prefixed:
        lines = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, stderr[-3000:]
    else:
        lines = [line for line in stderr.splitlines() if "error" in line.lower()]
    naming = [line for line in lines if all(name in line for name in names)]
    assert naming, f"no error line names {names}: {stderr[-3000:]}"
    return naming[0]


@pytest.mark.parametrize("executable", [TAP, TARGET], ids=["tap", "target"])
@pytest.mark.parametrize("problem", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_malformed_config_file_gets_one_clear_error(
    executable: str, problem: str, sandbox: Sandbox, tmp_path: Path, out_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    path = tmp_path / "config.json"
    text, names = BAD_CONFIGS[problem]
    path.write_text(text(_config(sandbox, tmp_path)))
    stdin = "" if executable == TARGET else None
    done = run_executable([executable, "--config", str(path)], out_dir, Path(executable).name,
                          stdin=stdin, timeout=60)
    assert done.returncode != 0
    assert done.stdout == ""
    one_clear_error(done.stderr, tuple(n.replace("{path}", str(path)) for n in names),
                    prefixed=executable == TAP)


BAD_CATALOGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "not-json": ('{"streams": [', ("not valid JSON",)),
    "not-an-object": ("[1, 2, 3]", ("JSON object",)),
    "streams-not-a-list": ('{"streams": {"generic_company": true}}', ('"streams" list',)),
    "stream-without-schema": ('{"streams": [{"tap_stream_id": "generic_company"}]}',
                              ("stream generic_company", "schema")),
}


@pytest.mark.parametrize("problem", list(BAD_CATALOGS), ids=list(BAD_CATALOGS))
def test_malformed_catalog_file_gets_one_clear_error(
    problem: str, sandbox: Sandbox, tmp_path: Path, out_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    config = write_json(tmp_path / "config.json", _config(sandbox, tmp_path))
    catalog = tmp_path / "catalog.json"
    text, names = BAD_CATALOGS[problem]
    catalog.write_text(text)
    done = run_executable([TAP, "--config", str(config), "--catalog", str(catalog)], out_dir,
                          "tap", timeout=60)
    assert done.returncode != 0
    assert '"RECORD"' not in done.stdout
    one_clear_error(done.stderr, (f"--catalog {catalog}", *names), prefixed=True)
