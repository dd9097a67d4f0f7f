"""Deterministic, realistic seed data (divisions, users, CRM, items, invoices, receivables)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from .books import gl_code_of, gl_fields
from .entities import ENTITIES, SPECS, EntityDef, row_key
from .rules import (
    COUNTRY_NAMES,
    DAY_MS,
    apply_payment,
    auto_code,
    blank,
    describe_invoice,
    full_name,
    invoice_number,
    invoice_totals,
    pad_code,
    price_line,
    receivable_for,
    receivables_list_row,
    sync_row,
)
from .seed_finance import FINANCE_SIZES, SEEDED, FinanceSeeder, gl_for_item, seed_trade
from .seed_generic import created_audit, generic_rows
from .store import Snapshot, Store, dumps

USER_ID = "5d4a3b2c-0000-4000-8000-000000000001"
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


CREATED_MS = 1_672_531_200_000  # 2023-01-01: the sandbox company's creation
FULL_NAME = "Sandbox User"

SPECIAL_NAMES: tuple[str | None, ...] = (
    "Müller Maschinenbau GmbH", "Ørsted Energi A/S", "東京商事株式会社",
    "O'Brien & \"Sons\" Ltd", "Café Zoë", "Société Générale d'Électricité",
    "  Leading Spaces BV", "Bäckerei Groß & Söhne", "Šťastný Obchod s.r.o.", "Kowalski Sp. z o.o.",
)
ADJECTIVES = ("Blue", "Dutch", "Green", "Royal", "North Sea", "Golden", "Swift", "Polder",
              "Delta", "Prime", "Urban", "Tulip")
NOUNS = ("Logistics", "Bakery", "Consulting", "Bikes", "Software", "Dairy", "Textiles",
         "Solar", "Marine", "Foods", "Design", "Builders")
SUFFIXES = {"NL": ("B.V.", "V.O.F.", "N.V.", "Holding B.V."), "BE": ("BV", "NV", "CommV", "SRL")}
CITIES = {"NL": (("Amsterdam", "1012 AB"), ("Rotterdam", "3011 AA"), ("Utrecht", "3511 AX"),
                 ("Delft", "2611 HL"), ("Groningen", "9711 LM")),
          "BE": (("Antwerpen", "2000"), ("Gent", "9000"), ("Brussel", "1000"),
                 ("Leuven", "3000"), ("Liège", "4000"))}
FIRST = ("Jan", "Anna", "Pieter", "Sophie", "Lars", "Zoë", "José", "Émile", "Fatima", "Sven",
         "Noor", "Daan", None)
LAST = ("de Vries", "Jansen", "O'Neil", "Peeters", "Müller", "Bakker", "Dubois", "Janssens",
        "Visser", "Smit", "van den Berg", "Ørsted")
ITEMS = (("Consultancy hour", "hr", 95.0), ("Bicycle bell", "pc", 7.5), ("Cheese wheel", "kg",
         18.25), ("Solar panel", "pc", 249.0), ("Support plan", "pc", 120.0),
         ("Tulip bulbs (box)", "box", 12.95), ("Design sprint", "hr", 110.0),
         ("Stroopwafels", "box", 4.99))
COLOURS = ("red", "blue", "green", "orange", None, "")


_V4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_V4_SET = (0x8000 << 48) | (4 << 76)


def _guid(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, without the UUID object."""
    h = f"{(rng.getrandbits(128) & _V4_CLEAR) | _V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Rows:
    """Rows of one division, staged in SQLite as they are made (JSON text, never held all at
    once) and moved into ``rows`` at the end in key order with Timestamps in that order, as
    the in-memory sort did before: SQLite sorts them on disk."""

    BATCH = 20_000

    def __init__(self, store: Store, division: int) -> None:
        self.store, self.division = store, division
        self.batch: list[tuple[int, str, str, Any, str | None, str]] = []
        self.staged = 0
        store.stage_open()

    def add(self, entity: EntityDef, row: dict[str, Any]) -> None:
        key = row_key(entity, row)
        parent = row.get(entity.parent_field) if entity.parent_field else None
        self._append(entity.store_name, str(key), key, parent, dumps(row))

    def add_json(self, entity: EntityDef, key: str, text: str) -> int:
        """Stage a row already serialised; returns its place, for :meth:`replace_json`."""
        return self._append(entity.store_name, key, key, None, text)

    def replace_json(self, changes: list[tuple[str, int]]) -> None:
        """New JSON text for rows staged by :meth:`add_json` (text, place)."""
        self._stage()
        self.store.stage_replace(changes)

    def _append(self, name: str, sort: str, key: Any, parent: str | None, text: str) -> int:
        self.staged += 1
        self.batch.append((self.staged, name, sort, key, parent, text))
        if len(self.batch) >= self.BATCH:
            self._stage()
        return self.staged

    def _stage(self) -> None:
        if self.batch:
            self.store.stage(self.batch)
            self.batch = []

    def flush(self) -> None:
        self._stage()
        if self.staged:
            first = self.store.next_timestamps(self.division, self.staged) \
                if self.division else 1
            self.store.stage_commit(self.division, first)
        self.staged = 0


class _Account(Mapping[str, Any]):
    """What the rest of the seed reads of an account (its row is staged as JSON already)."""

    __slots__ = ("Code", "Country", "ID", "IsSupplier", "MainContact", "Name", "Status",
                 "main_name", "place")
    READ = ("ID", "Name", "Status", "IsSupplier", "Country", "Code", "MainContact")

    def __init__(self, row: dict[str, Any], place: int) -> None:
        self.ID, self.Name, self.Status = row["ID"], row["Name"], row["Status"]
        self.IsSupplier, self.Country, self.Code = row["IsSupplier"], row["Country"], row["Code"]
        self.MainContact: str | None = None
        self.main_name: str | None = None
        self.place = place

    def __getitem__(self, name: str) -> Any:
        if name not in self.READ:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.READ)

    def __len__(self) -> int:
        return len(self.READ)


class _Item(Mapping[str, Any]):
    """What the invoices, prices and orders of the seed read of an item (its row is staged)."""

    __slots__ = ("Code", "Created", "Description", "GLRevenue", "ID", "IsSalesItem",
                 "Modified", "StandardSalesPrice", "Unit", "UnitDescription")
    READ = ("ID", "Code", "Description", "Unit", "UnitDescription", "StandardSalesPrice",
            "Created", "Modified", "IsSalesItem", "GLRevenue")

    def __init__(self, row: Mapping[str, Any]) -> None:
        for name in self.READ:
            setattr(self, name, row[name])

    def __getitem__(self, name: str) -> Any:
        if name not in self.READ:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.READ)

    def __len__(self) -> int:
        return len(self.READ)


_ESCAPED: dict[str, str] = {}


def _q(value: str | None) -> str:
    """A JSON string literal (memoised: seed strings come from small pools)."""
    if value is None:
        return "null"
    text = _ESCAPED.get(value)
    if text is None:
        text = json.dumps(value, ensure_ascii=False)
        if len(_ESCAPED) < 10_000:
            _ESCAPED[value] = text
    return text


def _account_json(a: dict[str, Any]) -> str:
    """One account row as compact JSON, built directly (json.dumps is the seed's bottleneck)."""
    # these optional values are generated ASCII without quotes or backslashes
    opt = "".join(
        f',"{k}":"{a[k]}"' for k in ("Email", "Phone", "Website", "VATNumber", "MainContact")
        if a.get(k) is not None)
    return (
        f'{{"ID":"{a["ID"]}","Code":"{a["Code"]}","Name":{_q(a["Name"])},'
        f'"AddressLine1":"{a["AddressLine1"]}","City":{_q(a["City"])},'
        f'"Postcode":"{a["Postcode"]}","Country":"{a["Country"]}",'
        f'"CountryName":{_q(a["CountryName"])},"ChamberOfCommerce":"{a["ChamberOfCommerce"]}",'
        f'"Status":"{a["Status"]}","IsSales":true,'
        f'"IsPurchase":{"true" if a["IsPurchase"] else "false"},'
        f'"IsSupplier":{"true" if a["IsSupplier"] else "false"},'
        f'"Blocked":{"true" if a["Blocked"] else "false"},"Type":"A","SalesCurrency":"EUR",'
        f'"Language":"{a["Language"]}","StartDate":{a["StartDate"]},"SecurityLevel":10,'
        f'"CustomerSince":{a["CustomerSince"]},"Created":{a["Created"]},'
        f'"Modified":{a["Modified"]},"Creator":"{USER_ID}","CreatorFullName":"{FULL_NAME}",'
        f'"Modifier":"{USER_ID}","ModifierFullName":"{FULL_NAME}",'
        f'"Division":{a["Division"]}{opt}}}'
    )


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
                _seed_division(store, rng, division, counts, anchor)
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


def _seed_division(store: Store, rng: random.Random, division: int, counts: dict[str, int],
                   anchor: int) -> None:
    country = str(division_info(division)["Country"])
    rows = _Rows(store, division)
    span = max(anchor - CREATED_MS, DAY_MS)
    randint, choice, rnd = rng.randint, rng.choice, rng.random

    def when() -> tuple[int, int]:
        created = CREATED_MS + int(rnd() * span)
        return created, min(anchor, created + int(rnd() * 90 * DAY_MS))

    # accounts
    acc_def = ENTITIES["Accounts"]
    accounts: list[_Account] = []
    suffixes, cities = SUFFIXES[country], CITIES[country]
    n_acc = counts.get("accounts", 0)
    prefix = 31 if country == "NL" else 32
    others = ("NL", "BE", "DE", "FR", "DK")
    statuses = ("C", "C", "C", "P", "S", "A")
    n_cities, n_adj, n_noun, n_suf = len(cities), len(ADJECTIVES), len(NOUNS), len(suffixes)
    for n in range(1, n_acc + 1):
        # cheap draws (one random() each): this loop seeds 100k accounts in seconds
        r1, r2, r3, r4, r5 = rnd(), rnd(), rnd(), rnd(), rnd()
        name = SPECIAL_NAMES[n - 1] if n <= len(SPECIAL_NAMES) else (
            f"{ADJECTIVES[int(r1 * n_adj)]} {NOUNS[int(r2 * n_noun)]} "
            f"{suffixes[int(r3 * n_suf)]}")
        acc_country = country if r4 < 0.85 else others[int(r4 * 97) % 5]
        city, postcode = cities[int(r5 * n_cities)]
        created = CREATED_MS + int(r1 * span)
        row: dict[str, Any] = {
            "ID": _guid(rng), "Code": pad_code(n), "Name": name,
            "AddressLine1": f"Kerkstraat {1 + int(r2 * 250)}", "City": city,
            "Postcode": postcode, "Country": acc_country.ljust(3),
            "CountryName": COUNTRY_NAMES.get(acc_country),
            "Email": f"info{n}@example{n % 97}.test" if r3 < 0.8 else ("" if r3 < 0.9 else None),
            "Phone": f"+{prefix} {10 + int(r4 * 89)} {1000000 + int(r5 * 8999999)}"
            if r5 < 0.9 else None,
            "Website": f"https://www.example{n}.test" if r2 < 0.5 else None,
            "VATNumber": f"{country}{100000000 + int(r1 * 899999999)}B01" if r4 < 0.7 else None,
            "ChamberOfCommerce": str(10000000 + int(r5 * 89999999)) if r3 < 0.6 else "",
            "Status": statuses[int(r2 * 6)], "IsSales": True, "IsPurchase": r3 < 0.3,
            "IsSupplier": r4 < 0.15, "Blocked": r5 < 0.02, "Type": "A", "SalesCurrency": "EUR",
            "Language": country, "StartDate": created // DAY_MS * DAY_MS, "SecurityLevel": 10,
            "CustomerSince": created // DAY_MS * DAY_MS,
            "Created": created, "Modified": min(anchor, created + int(r2 * 90 * DAY_MS)),
            "Creator": USER_ID, "CreatorFullName": FULL_NAME, "Modifier": USER_ID,
            "ModifierFullName": FULL_NAME, "Division": division,
        }
        accounts.append(_Account(row, rows.add_json(acc_def, row["ID"], _account_json(row))))
    # contacts (first contact of an account becomes its main contact)
    con_def = ENTITIES["Contacts"]
    n_contacts = counts.get("contacts", 0) if accounts else 0
    for n in range(n_contacts):
        account = accounts[n] if n < len(accounts) // 2 else choice(accounts)
        first, last = choice(FIRST), choice(LAST)
        created, modified = when()
        row = {
            "ID": _guid(rng), "Account": account["ID"], "AccountName": account["Name"],
            "AccountIsCustomer": account["Status"] == "C",
            "AccountIsSupplier": account["IsSupplier"], "FirstName": first, "LastName": last,
            "FullName": full_name(first, None, last), "Country": account["Country"],
            "Email": f"contact{n}@example.test" if rnd() < 0.8 else None,
            "Phone": f"06{randint(10000000, 99999999)}" if rnd() < 0.6 else None,
            "Gender": choice(("M", "V", "O")), "HID": 1000 + n, "Person": _guid(rng),
            "IsMailingExcluded": False, "IsAnonymised": 0, "Language": country.ljust(10),
            "JobTitleDescription": choice(("Owner", "CFO", "Buyer", None)),
            "Code": auto_code(n + 1),
        }
        if account.MainContact is None:
            account.MainContact = row["ID"]
            account.main_name = row["FullName"]
            row["IsMainContact"] = True
        else:
            row["IsMainContact"] = False
        row["AccountMainContact"] = account.MainContact
        rows.add(con_def, _audit(row, division, created, modified))
    # an account's JSON ends with its MainContact (the last of its optional values)
    rows.replace_json([(f',"MainContact":"{a.MainContact}"}}', a.place) for a in accounts
                       if a.MainContact is not None])
    # items
    item_def = ENTITIES["Items"]
    items: list[_Item] = []
    for n in range(1, counts.get("items", 0) + 1):
        desc, unit, price = ITEMS[(n - 1) % len(ITEMS)]
        created, modified = when()
        row = blank(item_def)
        values: dict[str, Any] = {
            "ID": _guid(rng), "Code": f"ITEM-{n:04d}",
            "Description": desc if n <= len(ITEMS) else f"{desc} #{n}",
            "ExtraDescription": choice(("Delivered within 3 days", None, "", "Prijs per stuk")),
            "StandardSalesPrice": round(price * (0.8 + rnd() * 0.4), 2),
            "CostPriceStandard": round(price * 0.6, 2), "CostPriceCurrency": "EUR",
            "Unit": unit.ljust(8), "UnitDescription": {"hr": "Hour", "pc": "Piece", "kg":
                                                       "Kilogram", "box": "Box"}[unit],
            "UnitType": "O", "IsSalesItem": n % 10 != 0, "IsPurchaseItem": rnd() < 0.4,
            "IsStockItem": unit != "hr", "IsFractionAllowedItem": unit in ("hr", "kg"),
            **gl_for_item(division, unit), "SecurityLevel": 10,
            "StartDate": created // DAY_MS * DAY_MS,
            "FreeTextField_01": choice(COLOURS),
            "FreeTextField_02": f"EAN{randint(10**11, 10**12)}",
            "FreeNumberField_01": round(rnd() * 100, 2) if rnd() < 0.7 else None,
            "FreeDateField_01": created if rnd() < 0.5 else None,
        }
        row.update(values)
        for k in range(1, 6):
            row[f"FreeBoolField_{k:02d}"] = rnd() < 0.3
        rows.add(item_def, _audit(row, division, created, modified))
        items.append(_Item(row))
    # projects
    proj_def = ENTITIES["Projects"]
    for n in range(1, counts.get("projects", 0) + 1):
        created, modified = when()
        owner: Mapping[str, Any] = choice(accounts) if accounts else {}
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
    _seed_invoices(rows, rng, division, counts.get("invoices", 0), accounts, items, anchor,
                   finance)
    seed_trade(finance, counts, accounts, items,
               lambda row: rows.add(ENTITIES["SyncPurchaseOrders"], row))
    _seed_generic(rows, rng, division, counts.get("generic", 0), anchor)
    deleted = ENTITIES["Deleted"]
    for _ in range(counts.get("deleted", 0)):
        rows.add(deleted, {"ID": _guid(rng), "DeletedBy": USER_ID, "DeletedDate": anchor - DAY_MS,
                           "Division": division, "EntityKey": _guid(rng), "EntityType": 2})
    rows.flush()
    store.set_counter(division, "account-code", n_acc)
    store.set_counter(division, "contact-hid", 1000 + n_contacts)
    store.set_counter(division, "contact-code", n_contacts)


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
                   accounts: list[_Account], items: list[_Item],
                   anchor: int, finance: FinanceSeeder) -> None:
    sales_items = [i for i in items if i["IsSalesItem"]] or items
    customers = [a for a in accounts if a["Status"] == "C"] or accounts
    if not count or not sales_items or not customers:
        return
    inv_def, line_def = ENTITIES["SalesInvoices"], ENTITIES["SalesInvoiceLines"]
    sync_def, rec_def, rl_def = (ENTITIES["SyncSalesInvoices"], ENTITIES["Receivables"],
                                 ENTITIES["ReceivablesList"])
    numbers: dict[tuple[int, str], int] = {}
    hid = 0
    add: Callable[..., None] = rows.add
    for n in range(1, count + 1):
        account = rng.choice(customers)
        invoice_date = (anchor - rng.randint(0, 400) * DAY_MS) // DAY_MS * DAY_MS
        created = invoice_date + rng.randint(0, 8 * 3600) * 1000
        status = rng.choice((10, 20, 20, 50, 50, 50, 50))
        header = blank(inv_def)
        header.update(
            InvoiceID=_guid(rng), OrderedBy=account["ID"], InvoiceTo=account["ID"],
            DeliverTo=account["ID"], OrderedByName=account["Name"],
            InvoiceToName=account["Name"], DeliverToName=account["Name"],
            InvoiceToContactPerson=account.get("MainContact"),
            InvoiceToContactPersonFullName=account.main_name, Status=status,
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
            item = rng.choice(sales_items)
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
