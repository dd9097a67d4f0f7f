"""Deterministic, realistic seed data (divisions, users, CRM, items, invoices, receivables)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .books import gl_code_of, gl_fields
from .entities import ENTITIES, SPECS, EntityDef, row_key
from .rules import (
    COUNTRY_NAMES,
    DAY_MS,
    apply_payment,
    blank,
    describe_invoice,
    invoice_number,
    invoice_totals,
    pad_code,
    price_line,
    receivable_for,
    receivables_list_row,
    sync_row,
)
from .seed_crm import CITIES, CREATED_MS, FULL_NAME, NOUNS, Crm
from .seed_crm import USER_ID as USER_ID
from .seed_finance import FINANCE_SIZES, SEEDED, FinanceSeeder, seed_trade
from .seed_generic import created_audit, generic_rows
from .seed_pool import crm_rows
from .store import Snapshot, Store, dumps

USER_EMAIL = "sandbox.user@example.com"
REACHABLE: tuple[int, ...] = (100001, 100002)
UNREACHABLE: tuple[int, ...] = (100003,)
SMALL: dict[str, int] = {"accounts": 50, "contacts": 80, "items": 30, "invoices": 40,
                         "projects": 5, "deleted": 3, "generic": 1, **FINANCE_SIZES}
DIVISIONS: dict[int, dict[str, Any]] = {
    100001: {"Description": "Sandbox Nederland B.V.", "Country": "NL", "City": "Delft",
             "Hid": 1, "IsMainDivision": True, "Current": True},
    100002: {"Description": "Sandbox België BV", "Country": "BE", "City": "Gent",
             "Hid": 2, "IsMainDivision": False, "Current": False},
    100003: {"Description": "Sandbox Archief B.V.", "Country": "NL", "City": "Delft",
             "Hid": 3, "IsMainDivision": False, "Current": False},
}
"""Every division of the licence; the user can open the REACHABLE ones (system/Divisions),
system/AllDivisions lists them all."""
MAX_DIVISIONS = 20_000
FIRST_EXTRA_DIVISION = 100004
"""Divisions beyond the two reachable named ones are numbered from here (100003 is the
unreachable one)."""


def division_codes(count: int = len(REACHABLE)) -> tuple[int, ...]:
    """The reachable divisions of a sandbox with ``count`` of them (an accounting firm's
    login reaches hundreds or thousands): 100001, 100002, then 100004, 100005, ..."""
    if not 1 <= count <= MAX_DIVISIONS:
        raise ValueError(f"divisions must be between 1 and {MAX_DIVISIONS}, got {count}")
    extra = range(FIRST_EXTRA_DIVISION, FIRST_EXTRA_DIVISION + count - len(REACHABLE))
    return (*REACHABLE[:count], *extra)


def division_info(code: int) -> dict[str, Any]:
    """A division's company: the named ones, or a generated one (alternately NL and BE)."""
    if code in DIVISIONS:
        return DIVISIONS[code]
    n = code - FIRST_EXTRA_DIVISION + 3
    country = "NL" if n % 2 else "BE"
    return {"Description": f"Sandbox Administratie {n:04d}", "Country": country,
            "City": CITIES[country][n % len(CITIES[country])][0], "Hid": n,
            "IsMainDivision": False, "Current": False}


def stored_division_codes(store: Store) -> tuple[int, ...]:
    """The reachable divisions the store was seeded with."""
    count = store.scalar("SELECT value FROM counters WHERE division = 0 AND name = ?",
                         ("divisions",))
    return division_codes(int(count) if count else len(REACHABLE))


_V4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_V4_SET = (0x8000 << 48) | (4 << 76)


def _guid(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, without the UUID object."""
    h = f"{(rng.getrandbits(128) & _V4_CLEAR) | _V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Rows:
    """Rows of one division, written to ``rows`` as they are made (JSON text, a batch at a
    time, never all at once), their Timestamps in the order they were made: the order in
    which Exact's row versions count the writes that made an administration."""

    BATCH = 20_000

    def __init__(self, store: Store, division: int) -> None:
        self.store, self.division = store, division
        self.batch: list[tuple[str, int, Any, int, str | None, str]] = []
        self.first = store.current_timestamp(division) + 1 if division else 1
        self.made = 0

    def add(self, entity: EntityDef, row: dict[str, Any]) -> None:
        key = row_key(entity, row)
        parent = row.get(entity.parent_field) if entity.parent_field else None
        self.add_text(entity.store_name, key, parent, dumps(row))

    def add_text(self, name: str, key: Any, parent: str | None, text: str) -> None:
        """Add a row of the entity stored as ``name``, already serialised."""
        self.batch.append((name, self.division, key, self.first + self.made, parent, text))
        self.made += 1
        if len(self.batch) >= self.BATCH:
            self._write()

    def _write(self) -> None:
        if self.batch:
            self.store.put_many(self.batch)
            self.batch = []

    def flush(self) -> None:
        self._write()
        if self.made and self.division:
            # the division's Timestamp counter moves past the rows' (nothing else wrote)
            first = self.store.next_timestamps(self.division, self.made)
            assert first == self.first, (first, self.first)
        self.made = 0


def seed_all(store: Store, *, seed: int | None = 42, size: str | dict[str, int] = "small",
             anchor_ms: int | None = None, divisions: int = len(REACHABLE)) -> None:
    """Seed ``divisions`` divisions and users, and (unless ``seed`` is None) business data
    of ``size`` in each division.

    ``anchor_ms`` is "today" for the data's dates (defaults to a fixed date, so the same seed
    always gives the same rows)."""
    codes = division_codes(divisions)
    counts = dict(SMALL)
    if isinstance(size, dict):
        counts.update(size)
    elif size != "small":
        raise ValueError(f"unknown seed size {size!r}: use 'small' or a dict of counts")
    anchor = anchor_ms if anchor_ms is not None else 1_780_272_000_000  # 2026-06-01
    cache_key = (seed, tuple(sorted(counts.items())), anchor, len(codes))
    if store.restore(_SNAPSHOTS.get(cache_key)):
        return
    with store.bulk_load():
        _seed_global(store, codes)
        store.set_counter(0, "divisions", len(codes))
        if seed is not None:
            for division in codes:
                rng = random.Random(f"{seed}:{division}")
                _seed_division(store, rng, seed, division, counts, anchor)
    if sum(v for k, v in counts.items() if k != "generic") * len(codes) <= SNAPSHOT_LIMIT:
        _SNAPSHOTS[cache_key] = store.snapshot()
        while len(_SNAPSHOTS) > 8:
            _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))


SNAPSHOT_LIMIT = 5_000
"""Seeds of at most this many business rows are kept in memory after their first build, so a
reset with the same seed and sizes (the tests reset often) only reloads them."""
_SNAPSHOTS: dict[tuple[Any, ...], Snapshot] = {}


def _audit(row: dict[str, Any], division: int, created: int, modified: int) -> dict[str, Any]:
    row.update(Created=created, Modified=modified, Creator=USER_ID, CreatorFullName=FULL_NAME,
               Modifier=USER_ID, ModifierFullName=FULL_NAME, Division=division)
    return row


def _division_row(entity: EntityDef, code: int, info: dict[str, Any]) -> dict[str, Any]:
    row = blank(entity)
    row.update(info)
    row.update(Code=code, Country=str(info["Country"]).ljust(3), Currency="EUR",
               Legislation="1" if info["Country"] == "NL" else "2", Status=1,
               BlockingStatus=0, IsDossierDivision=False, IsPracticeDivision=False,
               IsHRDivision=False, Customer=str(uuid.uuid5(uuid.NAMESPACE_URL, "customer")),
               CustomerCode=pad_code(4711), CustomerName="Sandbox Holding",
               Email=USER_EMAIL, StartDate=CREATED_MS, TemplateCode="NL_Base")
    return _audit(row, code, CREATED_MS, CREATED_MS)


def _seed_global(store: Store, codes: tuple[int, ...]) -> None:
    """The login's divisions (``codes``; system/Divisions, HRM) and the licence's
    (system/AllDivisions: those and the unreachable ones)."""
    rows = _Rows(store, 0)
    reachable = set(codes)
    for code in sorted(reachable | set(UNREACHABLE)):
        info = division_info(code)
        if code in reachable:
            rows.add(ENTITIES["Divisions"], _division_row(ENTITIES["Divisions"], code, info))
        rows.add(ENTITIES["AllDivisions"], _division_row(ENTITIES["AllDivisions"], code, info))
        if code in reachable:
            hrm = ENTITIES["HrmDivisions"]
            row = blank(hrm)
            row.update(Code=code, Description=info["Description"], HID=info["Hid"],
                       Main=info["IsMainDivision"], Country=str(info["Country"]).ljust(3),
                       CountryDescription=COUNTRY_NAMES.get(str(info["Country"])),
                       Currency="EUR", CurrencyDescription="Euro", Status=1, BlockingStatus=0,
                       Customer=str(uuid.uuid5(uuid.NAMESPACE_URL, "customer")),
                       CustomerCode=pad_code(4711), CustomerName="Sandbox Holding",
                       StartDate=CREATED_MS, TemplateCode="NL_Base")
            rows.add(hrm, _audit(row, code, CREATED_MS, CREATED_MS))
    users = ENTITIES["Users"]
    people = ((USER_ID, "Sandbox", "User", USER_EMAIL),
              ("5d4a3b2c-0000-4000-8000-000000000002", "Eva", "de Boer", "eva@example.com"),
              ("5d4a3b2c-0000-4000-8000-000000000003", "Luc", "Peeters", "luc@example.com"),
              ("5d4a3b2c-0000-4000-8000-000000000004", "Ånne", "O'Hara", None))
    for n, (user_id, first, last, email) in enumerate(people):
        row = blank(users)
        row.update(UserID=user_id, FirstName=first, LastName=last, FullName=f"{first} {last}",
                   Email=email, UserName=email or f"{first.lower()}@example.com",
                   Language="EN", Gender="O", IsAnonymised=0, StartDate=CREATED_MS,
                   UserTypesList="A", Customer=str(uuid.uuid5(uuid.NAMESPACE_URL, "customer")),
                   CustomerName="Sandbox Holding", Created=CREATED_MS,
                   Modified=CREATED_MS + n * 90 * DAY_MS,  # each user last changed apart
                   Creator=USER_ID, CreatorFullName=FULL_NAME, Modifier=USER_ID,
                   ModifierFullName=FULL_NAME)
        rows.add(users, row)
    rows.flush()


def _seed_division(store: Store, rng: random.Random, seed: int, division: int,
                   counts: dict[str, int], anchor: int) -> None:
    country = str(division_info(division)["Country"])
    rows = _Rows(store, division)
    span = max(anchor - CREATED_MS, DAY_MS)
    randint, choice, rnd = rng.randint, rng.choice, rng.random

    def when() -> tuple[int, int]:
        created = CREATED_MS + int(rnd() * span)
        return created, min(anchor, created + int(rnd() * 90 * DAY_MS))

    # accounts, contacts, items and their prices: each made from its number (references
    # make it again)
    crm = Crm(seed, division, country, anchor, counts)
    for name, key, parent, text in crm_rows(seed, division, country, anchor, counts):
        rows.add_text(name, key, parent, text)
    # projects
    proj_def = ENTITIES["Projects"]
    for n in range(1, counts.get("projects", 0) + 1):
        created, modified = when()
        owner: Mapping[str, Any] = crm.any_account(rng) if crm.n_accounts else {}
        row = blank(proj_def)
        row.update(ID=_guid(rng), Code=f"P{n:04d}", Description=f"Project {choice(NOUNS)} {n}",
                   Account=owner.get("ID"), AccountCode=owner.get("Code"),
                   AccountName=owner.get("Name"), Type=choice((2, 3)), Manager=USER_ID,
                   ManagerFullname=FULL_NAME, StartDate=created // DAY_MS * DAY_MS,
                   BudgetedAmount=float(randint(10, 200) * 100))
        row["TypeDescription"] = {2: "Fixed price", 3: "Time and Material"}[row["Type"]]
        rows.add(proj_def, _audit(row, division, created, modified))
    finance = FinanceSeeder(lambda name, row: rows.add(ENTITIES[name], row), rng, division,
                            anchor, lambda c, m: _audit({}, division, c, m),
                            (USER_ID, FULL_NAME))
    finance.books(CREATED_MS)
    _seed_invoices(rows, rng, division, counts.get("invoices", 0), crm, anchor, finance)
    seed_trade(finance, counts, crm, lambda row: rows.add(ENTITIES["SyncPurchaseOrders"], row))
    _seed_generic(rows, rng, division, counts.get("generic", 0), anchor)
    deleted = ENTITIES["Deleted"]
    for _ in range(counts.get("deleted", 0)):
        rows.add(deleted, {"ID": _guid(rng), "DeletedBy": USER_ID, "DeletedDate": anchor - DAY_MS,
                           "Division": division, "EntityKey": _guid(rng), "EntityType": 2})
    rows.flush()
    store.set_counter(division, "account-code", crm.n_accounts)
    store.set_counter(division, "contact-hid", 1000 + crm.n_contacts)
    store.set_counter(division, "contact-code", crm.n_contacts)


SPECIAL = frozenset(spec.name for spec in SPECS) | SEEDED
"""Entities seeded by their own rules above; every other entity is a generic store."""


def _seed_generic(rows: _Rows, rng: random.Random, division: int, count: int,
                  anchor: int) -> None:
    if count <= 0:
        return
    readable = [e for e in ENTITIES.values()
                if e.name not in SPECIAL and any("GET" in v.methods for v in e.views.values())]
    readable.sort(key=lambda e: (not e.navigation_targets, e.name))
    audit = created_audit(USER_ID, FULL_NAME, anchor - DAY_MS)
    for entity, row in generic_rows(readable, rng, division, count, anchor, audit, {}):
        rows.add(entity, row)


def _seed_invoices(rows: _Rows, rng: random.Random, division: int, count: int,
                   crm: Crm, anchor: int, finance: FinanceSeeder) -> None:
    if not count or not crm.n_items or not crm.n_accounts:
        return
    inv_def, line_def = ENTITIES["SalesInvoices"], ENTITIES["SalesInvoiceLines"]
    sync_def, rec_def, rl_def = (ENTITIES["SyncSalesInvoices"], ENTITIES["Receivables"],
                                 ENTITIES["ReceivablesList"])
    numbers: dict[tuple[int, str], int] = {}
    hid = 0
    add: Callable[..., None] = rows.add
    for n in range(1, count + 1):
        account = crm.customer(rng)
        invoice_date = (anchor - rng.randint(0, 400) * DAY_MS) // DAY_MS * DAY_MS
        created = invoice_date + rng.randint(0, 8 * 3600) * 1000
        status = rng.choice((10, 20, 20, 50, 50, 50, 50))
        header = blank(inv_def)
        header.update(
            InvoiceID=_guid(rng), OrderedBy=account["ID"], InvoiceTo=account["ID"],
            DeliverTo=account["ID"], OrderedByName=account["Name"],
            InvoiceToName=account["Name"], DeliverToName=account["Name"],
            InvoiceToContactPerson=account.get("MainContact"),
            InvoiceToContactPersonFullName=account["main_name"], Status=status,
            Type=8021 if rng.random() < 0.12 else 8020, Journal="70", Currency="EUR",
            InvoiceDate=invoice_date, OrderDate=invoice_date,
            DueDate=invoice_date + rng.choice((14, 30, 30, 60)) * DAY_MS,
            PaymentCondition="30", PaymentConditionDescription="30 days",
            Description=rng.choice((f"Invoice {n}", "Monthly services", "Order via webshop",
                                    "", None, "Levering \"spoed\" & O'Reilly")),
            Remarks=rng.choice((None, "Thank you for your business!", "Betaling binnen 30 dagen")),
            YourRef=rng.choice((None, f"PO-{rng.randint(1000, 9999)}")), OrderNumber=n,
            Salesperson=USER_ID, SalespersonFullName=FULL_NAME, Discount=0.0, DiscountType=1,
        )
        lines = []
        for k in range(1, rng.randint(1, 5) + 1):
            item = crm.sales_item(rng)
            line = blank(line_def)
            gl = gl_fields(division, gl_code_of(division, item["GLRevenue"]))
            line.update(ID=_guid(rng), InvoiceID=header["InvoiceID"], LineNumber=k,
                        Item=item["ID"], Quantity=float(rng.randint(1, 12)),
                        GLAccount=gl["GLAccount"],
                        GLAccountDescription=gl["GLAccountDescription"],
                        VATPercentage=rng.choice((0.21, 0.21, 0.09, 0.0)))
            price_line(line, item, header["Type"])
            lines.append(_audit(line, division, created, created))
        invoice_totals(header, lines)
        if status == 50:
            year = datetime.fromtimestamp(invoice_date / 1000, UTC).year
            numbers[(year, "70")] = numbers.get((year, "70"), 0) + 1
            header["InvoiceNumber"] = invoice_number(year, "70", numbers[(year, "70")])
        describe_invoice(header)
        _audit(header, division, created, created + rng.randint(0, 5) * DAY_MS)
        add(inv_def, header)
        add(sync_def, sync_row(header, None, 0))
        for line in lines:
            add(line_def, line)
            add(sync_def, sync_row(header, line, 0))
        if status == 50:
            finance.invoice_booked(header, lines, account)
            rec = receivable_for(header, account, created, USER_ID, FULL_NAME, _guid(rng))
            roll = rng.random()
            paid_at = min(anchor, invoice_date + rng.randint(5, 40) * DAY_MS)
            before = float(rec["AmountDC"])
            if not rec["IsFullyPaid"] and roll < 0.4:
                apply_payment(rec, None, paid_at)
            elif not rec["IsFullyPaid"] and roll < 0.6:
                apply_payment(rec, round(abs(rec["AmountDC"]) / 2, 2), paid_at)
            if rec["AmountDC"] != before:
                finance.payment_booked(rec, round(before - float(rec["AmountDC"]), 2), paid_at)
            add(rec_def, rec)
            if not rec["IsFullyPaid"]:
                hid += 1
                add(rl_def, receivables_list_row(rec, hid))
    store = rows.store
    store.set_counter(division, "order-number", count)
    store.set_counter(division, "receivables-hid", hid)
    store.set_counter(division, "bank-entry", finance.bank_number)
    for (year, journal), value in numbers.items():
        store.set_counter(division, f"invoice-number:{year}:{journal}", value)
