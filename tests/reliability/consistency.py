"""The randomized consistency suite's parts: the warehouse image, Exact changed at random
through its own API, the tap run (and stopped) in this process, and the sandbox's truth.

A *warehouse image* is what any loader ends with: records applied by key in the order they
came (from RECORD messages, or from the files of BATCH messages), a record with
``_sdc_deleted_at`` removing its key. The *truth* is every stream read in full from the
sandbox at that moment. After a complete run, the two must be equal, row for row.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import random
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from exact_online_core.api import ExactOnline
from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.http import ExactClient
from exact_online_sandbox.server import Sandbox

from .conftest import TapOutput, _Stdout
from .scaled_clock import SandboxClock, patched_core_clock

Key = tuple[int, str]
IGNORED = ("exact_timestamp",)
"""Bookkeeping columns left out of the comparison: an invoice re-read for a payment has no
sync row in hand, so its ``exact_timestamp`` (the sync bookmark) may lag the latest."""

CUSTOM_STREAMS: list[dict[str, Any]] = [
    {"name": "projects", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
     "replication_key": "Timestamp", "select": ["ID", "Code", "Description", "Timestamp"]},
    {"name": "items_by_modified", "endpoint": "logistics/Items", "primary_keys": ["ID"],
     "replication_key": "Modified", "select": ["ID", "Code", "Description", "Modified"]},
]
FILTERS = {
    "generic_company": "IsSales eq true",
    "generic_contact": "Account ne null",
    "accounting_invoice": "Journal eq '70'",
    "accounting_invoice_line_item": "Quantity ne 0",
}
"""Filters on properties the random changes never touch, so no row leaves or joins them."""


# -- the warehouse ---------------------------------------------------------------------------


def key_of(stream: str, record: dict[str, Any]) -> Key:
    value = record.get("id") if stream not in ("projects", "items_by_modified") else record.get(
        "ID", record.get("id"))
    return int(record["division"]), str(value)


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_sdc_") and k not in IGNORED}


@dataclass
class Warehouse:
    rows: dict[str, dict[Key, dict[str, Any]]] = field(default_factory=dict)
    latest: list[tuple[str, Key]] = field(default_factory=list)
    """The rows delivered last (changes to them are the ones a stopped run risks losing)."""

    def apply(self, stream: str, record: dict[str, Any]) -> None:
        table = self.rows.setdefault(stream, {})
        key = key_of(stream, record)
        if record.get("_sdc_deleted_at"):
            table.pop(key, None)
        else:
            table[key] = comparable(record)
            self.latest = [*self.latest[-49:], (stream, key)]

    def apply_message(self, message: dict[str, Any]) -> None:
        if message["type"] == "RECORD":
            self.apply(message["stream"], message["record"])
        elif message["type"] == "BATCH":
            for url in message["manifest"]:
                with gzip.open(url.removeprefix("file://"), "rt") as lines:
                    for line in lines:
                        self.apply(message["stream"], json.loads(line))


def delivered(messages: list[dict[str, Any]], in_flight: bool) -> tuple[list[dict[str, Any]],
                                                                          dict[str, Any] | None]:
    """What a target applied from a run that may have been stopped: everything up to its last
    STATE, plus (``in_flight``) what came after it; and that last STATE."""
    last = max((i for i, m in enumerate(messages) if m["type"] == "STATE"), default=-1)
    state = messages[last]["value"] if last >= 0 else None
    return (messages if in_flight else messages[: last + 1]), state


# -- the truth -------------------------------------------------------------------------------


def truth(config: dict[str, Any], clock: SandboxClock, streams: list[str],
          schemas: dict[str, set[str]]) -> dict[str, dict[Key, dict[str, Any]]]:
    """Every stream read in full now, through the core (the tap's own mapping)."""
    exact = ExactConfig.from_mapping(config)
    client = ExactClient(exact, broker_from_config(exact, clock=clock.now), sleep=clock.sleep,
                         clock=clock.now)
    api = ExactOnline(exact, client=client, clock=clock.now,
                      custom_streams=config.get("custom_streams"))
    filters = config.get("filters") or {}
    found: dict[str, dict[Key, dict[str, Any]]] = {}
    try:
        for stream in streams:
            table = found.setdefault(stream, {})
            for division in config["divisions"]:
                for page in api.read_pages(stream, division, filter=filters.get(stream)):
                    for record in page.records:
                        kept = {k: v for k, v in record.items() if k in schemas[stream]}
                        table[key_of(stream, record)] = comparable(kept)
    finally:
        client.close()
    return found


def diff(image: Warehouse, expected: dict[str, dict[Key, dict[str, Any]]]) -> list[str]:
    """Missing, stale and ghost rows per stream (empty: equal)."""
    problems: list[str] = []
    for stream, rows in expected.items():
        held = image.rows.get(stream, {})
        for key in sorted(set(rows) - set(held)):
            problems.append(f"{stream} missing {key}: {rows[key]}")
        for key in sorted(set(held) - set(rows)):
            problems.append(f"{stream} ghost {key}: {held[key]}")
        for key in sorted(set(rows) & set(held)):
            if rows[key] != held[key]:
                changed = {k: (held[key].get(k), rows[key].get(k))
                           for k in set(rows[key]) | set(held[key])
                           if rows[key].get(k) != held[key].get(k)}
                problems.append(f"{stream} stale {key}: (warehouse, exact) {changed}")
    return problems


# -- changes in Exact ------------------------------------------------------------------------


class Exact:
    """Random creates, updates, deletes, payments and invoice-line edits through Exact's API.

    A change Exact refuses (an invoice processed meanwhile, an item still in use, a fault
    injected for the tap) is simply not made: the sandbox's rows stay the truth.
    """

    def __init__(self, sandbox: Sandbox, rng: random.Random, divisions: list[int]) -> None:
        self.sandbox, self.rng, self.divisions = sandbox, rng, divisions
        self.session = requests.Session()
        self.token = ""
        self.made = 0
        self.listed: dict[tuple[str, int, str, str], list[str]] = {}
        """Keys listed during one batch of changes (a stale one just fails: Exact says 404)."""

    def call(self, method: str, path: str, division: int, **kwargs: Any) -> Any:
        for _ in range(2):
            if not self.token:
                self.token = self.sandbox.access_token()
            try:
                response = self.session.request(
                    method, f"{self.sandbox.api_url}/{division}/{path}", timeout=30,
                    headers={"Authorization": f"Bearer {self.token}",
                             "Accept": "application/json"}, **kwargs)
            except requests.RequestException:
                return None  # a reset injected for the tap
            if response.status_code == 401:
                self.token = ""
                continue
            if response.status_code >= 400 or not response.content:
                return None
            return response.json().get("d")
        return None

    def ids(self, path: str, division: int, key: str = "ID", **filters: str) -> list[str]:
        cached = (path, division, key, filters.get("where", ""))
        if cached not in self.listed:
            self.listed[cached] = self._list(path, division, key, **filters)
        return self.listed[cached]

    def _list(self, path: str, division: int, key: str, **filters: str) -> list[str]:
        params = {"$select": key, **({"$filter": filters["where"]} if filters else {})}
        found: list[str] = []
        body = self.call("GET", path, division, params=params)
        while isinstance(body, dict):
            found += [str(r[key]) for r in body.get("results", [])]
            following = body.get("__next")
            if not following:
                break
            body = self.call("GET", following.split(f"/{division}/", 1)[1], division)
        return found

    def pick(self, path: str, division: int, key: str = "ID", **filters: str) -> str | None:
        found = self.ids(path, division, key, **filters)
        return self.rng.choice(found) if found else None

    def change(self, count: int) -> None:
        self.listed = {}
        for _ in range(count):
            division = self.rng.choice(self.divisions)
            operation = self.rng.choices(list(OPERATIONS), weights=list(OPERATIONS.values()))[0]
            operation(self, division)
            self.made += 1

    def change_delivered(self, warehouse: Warehouse, count: int) -> None:
        """Update or delete rows the warehouse already holds: the changes a stopped or racing
        run is most likely to lose."""
        self.listed = {}
        if self.rng.random() < 0.5:
            held = [(s, k) for s, k in warehouse.latest if k in warehouse.rows.get(s, {})]
        else:
            held = [(stream, key) for stream, rows in sorted(warehouse.rows.items())
                    for key in rows]
        held = [(stream, key) for stream, key in dict.fromkeys(held) if stream in DELIVERED]
        for stream, (division, key) in self.rng.sample(held, min(count, len(held))):
            path, update = DELIVERED[stream]
            if self.rng.random() < 0.5:
                self.call("DELETE", f"{path}(guid'{key}')", division)
            else:
                self.call("PUT", f"{path}(guid'{key}')", division, json=update(self.rng))
            self.made += 1

    # every operation: (self, division) -> None

    def create_company(self, d: int) -> None:
        self.call("POST", "crm/Accounts", d, json={"Name": f"Random {self.rng.random():.6f}"})

    def update_company(self, d: int) -> None:
        if key := self.pick("bulk/CRM/Accounts", d):
            self.call("PUT", f"crm/Accounts(guid'{key}')", d,
                      json={"Name": f"Renamed {self.rng.random():.6f}",
                            "Email": self.rng.choice([None, "x@example.com"])})

    def delete_company(self, d: int) -> None:
        if key := self.pick("bulk/CRM/Accounts", d, where="startswith(Name, 'Random')"):
            self.call("DELETE", f"crm/Accounts(guid'{key}')", d)  # its contacts go too

    def create_contact(self, d: int) -> None:
        if account := self.pick("bulk/CRM/Accounts", d):
            self.call("POST", "crm/Contacts", d, json={
                "Account": account, "LastName": f"Random {self.rng.random():.6f}"})

    def update_contact(self, d: int) -> None:
        if key := self.pick("bulk/CRM/Contacts", d):
            self.call("PUT", f"crm/Contacts(guid'{key}')", d,
                      json={"FirstName": self.rng.choice(["Ann", "Bo", None]),
                            "Email": f"c{self.rng.randint(1, 999)}@example.com"})

    def delete_contact(self, d: int) -> None:
        if key := self.pick("bulk/CRM/Contacts", d):
            self.call("DELETE", f"crm/Contacts(guid'{key}')", d)

    def create_item(self, d: int) -> None:
        self.call("POST", "logistics/Items", d, json={
            "Code": f"R{self.rng.randint(0, 10**9)}", "Description": "Random item",
            "StandardSalesPrice": self.rng.choice([1.5, 10.0, 99.99])})

    def update_item(self, d: int) -> None:
        if key := self.pick("bulk/Logistics/Items", d):
            self.call("PUT", f"logistics/Items(guid'{key}')", d, json={
                "Description": f"Item {self.rng.random():.6f}",
                "StandardSalesPrice": self.rng.choice([2.0, 20.0])})

    def delete_item(self, d: int) -> None:
        if key := self.pick("bulk/Logistics/Items", d, where="Description eq 'Random item'"):
            self.call("DELETE", f"logistics/Items(guid'{key}')", d)  # refused while in use

    def create_project(self, d: int) -> None:
        self.call("POST", "project/Projects", d, json={
            "Code": f"P{self.rng.randint(0, 10**9)}", "Description": "Random project",
            "Type": self.rng.choice([2, 3])})

    def update_project(self, d: int) -> None:
        if key := self.pick("project/Projects", d):
            self.call("PUT", f"project/Projects(guid'{key}')", d,
                      json={"Description": f"Project {self.rng.random():.6f}"})

    def delete_project(self, d: int) -> None:
        if key := self.pick("project/Projects", d):
            self.call("DELETE", f"project/Projects(guid'{key}')", d)

    def create_invoice(self, d: int) -> None:
        account = self.pick("bulk/CRM/Accounts", d)
        items = self.ids("bulk/Logistics/Items", d)
        if account and items:
            lines = [{"Item": self.rng.choice(items), "Quantity": self.rng.randint(1, 5)}
                     for _ in range(self.rng.randint(1, 3))]
            self.call("POST", "salesinvoice/SalesInvoices", d,
                      json={"OrderedBy": account, "SalesInvoiceLines": lines})

    def open_invoice(self, d: int) -> str | None:
        return self.pick("bulk/SalesInvoice/SalesInvoices", d, "InvoiceID",
                         where="Status lt 50")

    def update_invoice(self, d: int) -> None:
        if key := self.open_invoice(d):
            self.call("PUT", f"salesinvoice/SalesInvoices(guid'{key}')", d,
                      json={"Description": f"Invoice {self.rng.random():.6f}"})

    def delete_invoice(self, d: int) -> None:
        if key := self.open_invoice(d):
            self.call("DELETE", f"salesinvoice/SalesInvoices(guid'{key}')", d)

    def add_line(self, d: int) -> None:
        key, items = self.open_invoice(d), self.ids("bulk/Logistics/Items", d)
        if key and items:
            self.call("POST", "salesinvoice/SalesInvoiceLines", d, json={
                "InvoiceID": key, "Item": self.rng.choice(items), "Quantity": 2})

    def open_line(self, d: int) -> str | None:
        if key := self.open_invoice(d):
            return self.pick("bulk/SalesInvoice/SalesInvoiceLines", d,
                             where=f"InvoiceID eq guid'{key}'")
        return None

    def update_line(self, d: int) -> None:
        if key := self.open_line(d):
            self.call("PUT", f"salesinvoice/SalesInvoiceLines(guid'{key}')", d,
                      json={"Quantity": self.rng.randint(1, 9)})

    def delete_line(self, d: int) -> None:
        if key := self.open_line(d):  # the last one too: the invoice keeps its header row
            self.call("DELETE", f"salesinvoice/SalesInvoiceLines(guid'{key}')", d)

    def process_invoice(self, d: int) -> None:
        if key := self.open_invoice(d):
            self.call("POST", "salesinvoice/PrintedSalesInvoices", d, json={"InvoiceID": key})

    def pay_invoice(self, d: int) -> None:
        key = self.pick("bulk/SalesInvoice/SalesInvoices", d, "InvoiceID",
                        where="Status eq 50")
        if key:
            amount = self.rng.choice([None, 1.0, 5.0])
            with contextlib.suppress(RuntimeError):  # paid already, or less left than that
                self.sandbox.book_payment(d, key, amount)


DELIVERED: dict[str, tuple[str, Callable[[random.Random], dict[str, Any]]]] = {
    "generic_contact": ("crm/Contacts", lambda r: {"LastName": f"Changed {r.random():.6f}"}),
    "generic_company": ("crm/Accounts", lambda r: {"Name": f"Changed {r.random():.6f}"}),
    "accounting_invoice_item": ("logistics/Items",
                                lambda r: {"Description": f"Changed {r.random():.6f}"}),
    "items_by_modified": ("logistics/Items", lambda r: {"StandardSalesPrice": r.random()}),
    "projects": ("project/Projects", lambda r: {"Description": f"Changed {r.random():.6f}"}),
    "accounting_invoice": ("salesinvoice/SalesInvoices",
                           lambda r: {"Description": f"Changed {r.random():.6f}"}),
    "accounting_invoice_line_item": ("salesinvoice/SalesInvoiceLines",
                                     lambda r: {"Quantity": r.randint(1, 9)}),
}
"""Per stream: where its rows are changed in Exact, and a random update."""

OPERATIONS: dict[Callable[[Exact, int], None], int] = {
    Exact.create_company: 2, Exact.update_company: 3, Exact.delete_company: 1,
    Exact.create_contact: 2, Exact.update_contact: 3, Exact.delete_contact: 2,
    Exact.create_item: 1, Exact.update_item: 2, Exact.delete_item: 1,
    Exact.create_project: 1, Exact.update_project: 1, Exact.delete_project: 1,
    Exact.create_invoice: 2, Exact.update_invoice: 2, Exact.delete_invoice: 2,
    Exact.add_line: 2, Exact.update_line: 2, Exact.delete_line: 2,
    Exact.process_invoice: 2, Exact.pay_invoice: 3,
}


# -- the tap ---------------------------------------------------------------------------------


class Stopped(Exception):
    """The run is stopped here, as a SIGKILL would stop it."""


@contextmanager
def quiet() -> Iterator[None]:
    """INFO logging of the tap, the SDK's metrics and the sandbox off (hundreds of runs)."""
    loggers = [logging.getLogger(n) for n in ("tap-exact-online", "singer_sdk",
                                              "singer_sdk.metrics", "exact_online_sandbox")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        return None


def run_tap(config: dict[str, Any], catalog: dict[str, Any], state: dict[str, Any] | None,
            clock: SandboxClock, *, stop_at: int | None = None,
            during: Mapping[int, Callable[[], None]] | None = None) -> TapOutput:
    """One tap run in this process; stopped after ``stop_at`` messages, ``during[i]`` called
    after message ``i`` (changes made while the tap runs)."""
    from tap_exact_online.tap import TapExactOnline

    output = TapOutput()
    during = during or {}

    def on_message(message: dict[str, Any]) -> None:
        index = len(output.messages)
        if index in during:
            during[index]()
        if stop_at is not None and index >= stop_at:
            raise Stopped

    old_stdout = sys.stdout
    with patched_core_clock(clock), quiet():
        sys.stdout = _Stdout(output, on_message, _Discard())
        try:
            TapExactOnline(config=config, state=state, catalog=catalog).sync_all()
        except (Exception, SystemExit) as exc:
            output.error = exc
        finally:
            sys.stdout = old_stdout
    return output


FAULTS: list[dict[str, Any]] = [
    {"kind": "status", "status": 500, "count": 1},
    {"kind": "status", "status": 503, "count": 2},
    {"kind": "reset", "count": 1},
    {"kind": "rate_limit", "count": 1},
]
FAULT_PATHS = ["*/sync/CRM/*", "*/sync/SalesInvoice/*", "*/sync/Deleted*", "*/bulk/*",
               "*/salesinvoice/SalesInvoices*", "*/sync/Logistics/*", "*/logistics/Items*",
               "*/users/Users*"]


def inject_faults(sandbox: Sandbox, rng: random.Random) -> None:
    """Up to two faults (429, 5xx, connection reset) on the tap's reads; each alone is
    absorbed by the client's retries."""
    for _ in range(rng.choice([0, 0, 1, 2])):
        sandbox.inject_fault(rng.choice(FAULT_PATHS), method="GET", **rng.choice(FAULTS))


def quiet_hours(sandbox: Sandbox) -> None:
    """Move the sandbox clock to 01:00 UTC of the next day: an invoice's overdue status flips
    at midnight, which no sync can see, so no round may cross one."""
    now = datetime.fromtimestamp(sandbox.now(), UTC)
    target = (now + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    sandbox.advance_clock((target - now).total_seconds())
