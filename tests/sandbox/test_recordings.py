"""Every recorded real Exact response, replayed against the sandbox: same shape, same types.

The recordings (real requests and answers of Exact Online, start.exactonline.fr, June 2026)
live outside the project, in ``../shared/fixtures/exact-recordings`` relative to the
repository root; they are read here, never copied. Each recorded request is sent to the sandbox
(the recorded division, keys and references swapped for the sandbox's own) and the answer must
have the recorded envelope, the recorded property set and, property by property, the recorded
JSON kind of value (values differ). Where the recordings and Exact's API reference disagree,
the recordings win: the sandbox serves what :mod:`exact_online_reference.recorded` lists, and
:data:`KNOWN` below names what is still different, and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
import requests
from shapes import FLAGS, envelope, kind, rows_of

from exact_online_reference.recorded import DIFFERENCES, null_on_get, served
from exact_online_sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = ROOT.parent / "shared" / "fixtures" / "exact-recordings"
RECORDED_DIVISION = "124132"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

KNOWN: dict[str, str] = {
    "status POST 200": "the recorded POSTs answered 200 through the recording proxy (whose "
                       "headers the recordings carry); the sandbox answers 201 Created, the "
                       "OData status Exact's documentation gives for a create",
}
"""Differences between a recorded answer and the sandbox's that are known, with the reason."""

REFERENCES: dict[str, str] = {
    # recorded body property → sandbox endpoint whose first row replaces the recorded GUID
    "OrderedBy": "crm/Accounts", "Account": "crm/Accounts", "Supplier": "crm/Accounts",
    "Item": "logistics/Items", "ItemGroup": "logistics/ItemGroups",
    "GLAccount": "financial/GLAccounts", "Document": "documents/Documents",
}


@dataclass(frozen=True)
class Exchange:
    file: str
    method: str
    path: str
    params: dict[str, str]
    body: Any
    status: int
    answer: Any

    @property
    def name(self) -> str:
        query = f"?{urlencode(self.params)}" if self.params else ""
        return f"{self.file}: {self.method} {self.path}{query}"


def exchanges() -> list[Exchange]:
    """Every recorded request/answer (``current/Me`` included), in file order."""
    found: list[Exchange] = []
    for file in sorted(RECORDINGS.glob("*.json")):
        data = json.loads(file.read_text(encoding="utf-8"))
        for method, paths in data["api"].items():
            for path, recorded in paths.items():
                for one in recorded if isinstance(recorded, list) else [recorded]:
                    request = one.get("request") or {}
                    found.append(Exchange(file.name, method.upper(), path,
                                          dict(request.get("params") or {}),
                                          request.get("data"), int(one["status"]),
                                          one["response"]))
    return found


EXCHANGES = exchanges()


def test_the_recordings_are_there() -> None:
    assert len(EXCHANGES) > 90, f"no recordings found in {RECORDINGS}"


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Sandbox, str]]:
    with Sandbox(seed=42) as sb:
        sb.control.post("/limits", json={"minutely": 100_000, "daily": 1_000_000})
        yield sb, sb.access_token()


def service_path(path: str) -> str:
    return path.split(f"/api/v1/{RECORDED_DIVISION}/", 1)[-1].split("(", 1)[0]


def first(sb: Sandbox, token: str, endpoint: str, key: str = "ID") -> str:
    body = sb.call(token, f"{endpoint}?$top=1&$select={key}").json()
    return str(rows_of(body)[0][key])


def localise(sb: Sandbox, token: str, value: Any, prop: str = "") -> Any:
    """A recorded body or filter with the recorded GUIDs swapped for sandbox rows'."""
    if isinstance(value, dict):
        return {k: localise(sb, token, v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [localise(sb, token, v, prop) for v in value]
    if isinstance(value, str) and GUID.fullmatch(value) and prop in REFERENCES:
        return first(sb, token, REFERENCES[prop])
    return value


def sandbox_answer(sb: Sandbox, token: str, ex: Exchange) -> requests.Response:
    """Send the recorded request to the sandbox (for a second page: the sandbox's own)."""
    entity = service_path(ex.path)
    rest = ex.path.split(f"/api/v1/{RECORDED_DIVISION}/", 1)[-1]
    if "current/Me" in ex.path:
        return sb.call(token, "current/Me", division=None, params=ex.params)
    params = dict(ex.params)
    if "$skiptoken" in params:  # the sandbox's own next page of the same first request
        first_page = {k: v for k, v in params.items() if k != "$skiptoken"}
        first_page["$top"] = str(int(first_page["$top"]) + 60)
        body = sb.call(token, f"{entity}?{urlencode(first_page)}").json()
        return requests.get(body["d"]["__next"], timeout=30, headers={
            "Accept": "application/json", "Authorization": f"Bearer {token}"})
    if "$filter" in params:
        params["$filter"] = GUID.sub(lambda m: first(sb, token, "salesorder/SalesOrders",
                                                     "OrderID"), params["$filter"])
    if "(" in rest:
        key = "InvoiceID" if "SalesInvoices" in entity else "OrderID" \
            if "SalesOrders" in entity else "ID"
        if ex.method in ("PUT", "DELETE"):
            made = sb.call(token, entity, "POST", json=localise(sb, token, creatable(entity)),
                           headers={"Prefer": "return=representation"}).json()["d"]
            target = made[key]
        else:
            target = first(sb, token, entity, key)
        return sb.call(token, f"{entity}(guid'{target}')", ex.method, params=params,
                       json=localise(sb, token, ex.body) if ex.body is not None else None)
    return sb.call(token, entity, ex.method, params=params,
                   json=localise(sb, token, ex.body) if ex.body is not None else None)


def creatable(entity: str) -> dict[str, Any]:
    """A body the sandbox creates a fresh row from (what a recorded PUT/DELETE then changes)."""
    return {
        "crm/Accounts": {"Name": "Replay BV"},
        "crm/Contacts": {"Account": "00000000-0000-4000-8000-000000000000",
                         "LastName": "Replay"},
        "logistics/Items": {"Code": "REPLAY-1", "Description": "Replay"},
        "salesinvoice/SalesInvoices": {
            "OrderedBy": "00000000-0000-4000-8000-000000000000", "Journal": "70",
            "SalesInvoiceLines": [{"Item": "00000000-0000-4000-8000-000000000000"}]},
    }[entity]


def differences(ex: Exchange, got: requests.Response) -> list[str]:
    """What differs between the recorded answer and the sandbox's (values aside)."""
    out: list[str] = []
    expected_status = 201 if ex.method == "POST" and ex.status == 200 else ex.status
    if got.status_code != expected_status:
        return [f"status {got.status_code}, recorded {ex.status}: {got.text[:300]}"]
    if ex.answer == "" or ex.status == 204:
        return [] if got.content == b"" else ["recorded an empty body"]
    mine = got.json()
    recorded_envelope, my_envelope = envelope(ex.answer), envelope(mine)
    if recorded_envelope.split("+")[0] != my_envelope.split("+")[0]:
        out.append(f"envelope {my_envelope}, recorded {recorded_envelope}")
    recorded_rows, my_rows = rows_of(ex.answer), rows_of(mine)
    if recorded_rows and not my_rows:
        return [*out, "the sandbox answered no rows"]
    if not recorded_rows or not my_rows:
        return out
    reference = served(service_path(ex.path))
    nullable = null_on_get(service_path(ex.path))
    for recorded in recorded_rows[:5]:
        row = my_rows[0]
        missing, extra = set(recorded) - set(row), set(row) - set(recorded)
        if missing or extra:
            out.append(f"properties: missing {sorted(missing)}, extra {sorted(extra)}")
        for name in set(recorded) & set(row) - {"__metadata"}:
            want, have = kind(recorded[name]), kind(row[name])
            edm = reference.property(name).type if reference and name in reference else None
            if "null" not in (want, have) and want != have:
                out.append(f"{name}: {have}, recorded {want}")
            elif have == "null" and want != "null" and edm in FLAGS and name not in nullable:
                out.append(f"{name}: null, recorded a {edm} value")
        if recorded["__metadata"]["type"] != row["__metadata"]["type"]:
            out.append(f"type {row['__metadata']['type']}, recorded "
                       f"{recorded['__metadata']['type']}")
    if recorded_envelope.endswith("next") and my_envelope.endswith("next"):
        recorded_next = dict(parse_qsl(urlparse(ex.answer["d"]["__next"]).query))
        my_next = dict(parse_qsl(urlparse(mine["d"]["__next"]).query))
        if set(recorded_next) != set(my_next):
            out.append(f"__next parameters {sorted(my_next)}, recorded {sorted(recorded_next)}")
        token_kinds = [re.sub(r"'.*", "", p) for p in my_next["$skiptoken"].split(",")]
        recorded_kinds = [re.sub(r"'.*", "", p) for p in recorded_next["$skiptoken"].split(",")]
        if token_kinds != recorded_kinds:
            out.append(f"$skiptoken {my_next['$skiptoken']}, recorded "
                       f"{recorded_next['$skiptoken']}")
    return sorted(set(out))


@pytest.mark.parametrize("ex", EXCHANGES, ids=[e.name[:120] for e in EXCHANGES])
def test_the_sandbox_answers_a_recorded_request_like_exact(live: tuple[Sandbox, str],
                                                           ex: Exchange) -> None:
    sb, token = live
    assert differences(ex, sandbox_answer(sb, token, ex)) == []


def test_every_recorded_difference_from_the_reference_is_served() -> None:
    """The table of recorded facts the reference lacks (extra properties, endpoints)."""
    for diff in DIFFERENCES:
        endpoint = served(diff.endpoint)
        assert endpoint is not None, diff
        if diff.kind == "extra_property":
            assert diff.property in endpoint, diff
        if diff.kind == "accepted":
            prop = endpoint.property(diff.property or "")
            assert prop is not None and diff.method in prop.methods, diff
        if diff.kind == "optional":
            prop = endpoint.property(diff.property or "")
            assert prop is not None and not prop.required, diff


def test_known_differences_have_a_reason() -> None:
    assert all(reason.strip() for reason in KNOWN.values())
