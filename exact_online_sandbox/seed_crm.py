"""Accounts, contacts and items of a seeded division, each a pure function of its number.

Every value of account, contact or item ``n`` comes from a keyed hash of (seed, division, kind,
n), not from a generator shared by the rows before it: an invoice, order or price that refers
to account 123 makes account 123's values again instead of keeping every account in memory,
so the seed's memory does not grow with its size (1M rows a division seed in the same memory
as 10k). Which row is referred to is still drawn from the division's sequential generator.

Contacts ``0 .. H-1`` (H = half the accounts, at least one) are the main contacts of accounts
``1 .. H``, one each; later contacts belong to a random account among those ``H``.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable, Iterator
from hashlib import blake2b
from typing import Any, NamedTuple

from .books import book_id
from .rules import COUNTRY_NAMES, DAY_MS, auto_code, full_name, pad_code

USER_ID = "5d4a3b2c-0000-4000-8000-000000000001"
FULL_NAME = "Sandbox User"
CREATED_MS = 1_672_531_200_000  # 2023-01-01: the sandbox company's creation

SPECIAL_NAMES: tuple[str, ...] = (
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
# item descriptions and units go into JSON as they are: no quotes, backslashes or controls
UNIT_NAMES = {"hr": "Hour", "pc": "Piece", "kg": "Kilogram", "box": "Box"}
COLOURS = ("red", "blue", "green", "orange", None, "")
EXTRA = ("Delivered within 3 days", None, "", "Prijs per stuk")
OTHERS = ("NL", "BE", "DE", "FR", "DK")
STATUSES = ("C", "C", "C", "P", "S", "A")
GENDERS = ("M", "V", "O")
JOBS = ("Owner", "CFO", "Buyer", None)
_SCALE = 2.0 ** -32
_EIGHT = struct.Struct("<8I").unpack_from
_AUDIT_TAIL = (f'"Creator":"{USER_ID}","CreatorFullName":"{FULL_NAME}",'
               f'"Modifier":"{USER_ID}","ModifierFullName":"{FULL_NAME}"')


def _guid(d: bytes) -> str:
    """A version 4 GUID of the first 16 bytes of ``d``."""
    h = d[:16].hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[d[8] & 3]}{h[17:20]}-{h[20:]}"


class Account(NamedTuple):
    """What contacts, invoices, orders and prices read of an account."""

    n: int
    ID: str
    Code: str
    Name: str
    Status: str
    IsSupplier: bool
    Country: str  # padded to 3, as stored
    draws: list[float]


class Contact(NamedTuple):
    c: int
    ID: str
    account: int
    first: str | None
    last: str
    FullName: str
    draws: list[float]
    person: str


StoredText = tuple[str, str, str | None, str]
"""A row as the seed stores it: entity, key, parent, JSON."""
Part = tuple[str, int, int]
"""A run of :meth:`Crm.rows`: accounts, other contacts or items ``first`` to ``end - 1``."""

_ESCAPED: dict[str, str] = {}


def q(value: str | None) -> str:
    """A JSON string literal (memoised: seed strings come from small pools)."""
    if value is None:
        return "null"
    text = _ESCAPED.get(value)
    if text is None:
        text = json.dumps(value, ensure_ascii=False)
        if len(_ESCAPED) < 10_000:
            _ESCAPED[value] = text
    return text


class Crm:
    """The accounts, contacts and items of one division, made from their numbers."""

    def __init__(self, seed: int, division: int, country: str, anchor: int,
                 counts: dict[str, int]) -> None:
        self.division, self.country, self.anchor = division, country, anchor
        self.span = max(anchor - CREATED_MS, DAY_MS)
        self.n_accounts = counts.get("accounts", 0)
        self.n_contacts = counts.get("contacts", 0) if self.n_accounts else 0
        self.n_items = counts.get("items", 0)
        self.mains = max(1, self.n_accounts // 2)
        """Accounts 1..mains get a main contact (while there are contacts)."""
        self._keys = {kind: f"{seed}:{division}:{kind}".encode()
                      for kind in ("account", "contact", "item")}
        self._gl = {code: book_id(division, "gl", code) for code in ("8000", "8100", "7000",
                                                                     "3000")}

    # --- draws ------------------------------------------------------------------------------
    def _draw(self, kind: str, n: int) -> tuple[str, list[float], bytes]:
        """A v4 GUID, eight numbers in [0, 1) and 16 more bytes for row ``n`` of ``kind``."""
        d = blake2b(n.to_bytes(8, "little"), digest_size=64, key=self._keys[kind]).digest()
        return _guid(d), [x * _SCALE for x in _EIGHT(d, 16)], d[48:]

    # --- accounts ---------------------------------------------------------------------------
    def account(self, n: int) -> Account:
        guid, r, _ = self._draw("account", n)
        if n <= len(SPECIAL_NAMES):
            name = SPECIAL_NAMES[n - 1]
        else:
            suffixes = SUFFIXES[self.country]
            name = (f"{ADJECTIVES[int(r[0] * len(ADJECTIVES))]} {NOUNS[int(r[1] * len(NOUNS))]} "
                    f"{suffixes[int(r[2] * len(suffixes))]}")
        country = self.country if r[3] < 0.85 else OTHERS[int(r[3] * 97) % 5]
        return Account(n, guid, pad_code(n), name, STATUSES[int(r[1] * 6)], r[3] < 0.15,
                       country.ljust(3), r)

    def main_contact(self, account: int) -> int | None:
        """The number of account ``account``'s main contact (its first), if it has one."""
        c = account - 1
        return c if c < self.mains and c < self.n_contacts else None

    def account_view(self, n: int) -> dict[str, Any]:
        """Account ``n`` as the invoices and orders read it."""
        a = self.account(n)
        main = self.main_contact(n)
        contact = self.contact(main) if main is not None else None
        return {"ID": a.ID, "Name": a.Name, "Status": a.Status, "IsSupplier": a.IsSupplier,
                "Country": a.Country, "Code": a.Code,
                "MainContact": contact.ID if contact else None,
                "main_name": contact.FullName if contact else None}

    def rows(self) -> Iterator[StoredText]:
        """Every account, contact, item and item price of the division as stored (entity,
        key, parent, JSON), in the order they are made: each account with its main contact,
        the other contacts, each item with its sales price."""
        for part in self.parts(max(1, self.n_accounts + self.n_contacts + self.n_items)):
            yield from self.part_rows(part)

    def parts(self, size: int) -> list[Part]:
        """:meth:`rows` in consecutive parts of at most ``size`` accounts, other contacts or
        items each: (kind, first number, end)."""
        ranges = (("accounts", 1, self.n_accounts + 1), ("contacts", self.mains, self.n_contacts),
                  ("items", 1, self.n_items + 1))
        return [(kind, lo, min(lo + size, end)) for kind, start, end in ranges
                for lo in range(start, end, size)]

    def part_rows(self, part: Part) -> Iterator[StoredText]:
        """The rows of one of :meth:`parts`."""
        kind, lo, end = part
        if kind == "accounts":
            for n in range(lo, end):
                account = self.account(n)
                c = self.main_contact(n)
                contact = self.contact(c) if c is not None else None
                yield "Accounts", account.ID, None, self._account_json(account, contact)
                if contact is not None:
                    yield "Contacts", contact.ID, account.ID, self._contact_json(
                        contact, account, contact.ID)
        elif kind == "contacts":
            for c in range(lo, end):
                contact = self.contact(c)
                account = self.account(contact.account)
                main = self.main_contact(contact.account)
                main_id = self.contact(main).ID if main is not None else None
                yield "Contacts", contact.ID, account.ID, self._contact_json(contact, account,
                                                                             main_id)
        else:
            for n in range(lo, end):
                item = self.item(n)
                yield "Items", item["ID"], None, self._item_json(n, item)
                price_id, text = self._price_json(item)
                yield "logistics/SalesItemPrices", price_id, None, text

    def _account_json(self, a: Account, main: Contact | None) -> str:
        n = a.n
        r1, r2, r3, r4, r5 = a.draws[:5]
        code = a.Country.strip()
        city, postcode = CITIES[self.country][int(r5 * len(CITIES[self.country]))]
        created = CREATED_MS + int(r1 * self.span)
        day = created // DAY_MS * DAY_MS
        prefix = 31 if self.country == "NL" else 32
        opt = []
        if r3 < 0.8:
            opt.append(f'"Email":"info{n}@example{n % 97}.test"')
        elif r3 < 0.9:
            opt.append('"Email":""')
        if r5 < 0.9:
            opt.append(f'"Phone":"+{prefix} {10 + int(r4 * 89)} {1000000 + int(r5 * 8999999)}"')
        if r2 < 0.5:
            opt.append(f'"Website":"https://www.example{n}.test"')
        if r4 < 0.7:
            opt.append(f'"VATNumber":"{self.country}{100000000 + int(r1 * 899999999)}B01"')
        if main is not None:
            opt.append(f'"MainContact":"{main.ID}"')
        tail = "," + ",".join(opt) if opt else ""
        return (
            f'{{"ID":"{a.ID}","Code":"{a.Code}","Name":{q(a.Name)},'
            f'"AddressLine1":"Kerkstraat {1 + int(r2 * 250)}","City":{q(city)},'
            f'"Postcode":"{postcode}","Country":"{a.Country}",'
            f'"CountryName":{q(COUNTRY_NAMES.get(code))},'
            f'"ChamberOfCommerce":"{str(10000000 + int(r5 * 89999999)) if r3 < 0.6 else ""}",'
            f'"Status":"{a.Status}","IsSales":true,'
            f'"IsPurchase":{"true" if r3 < 0.3 else "false"},'
            f'"IsSupplier":{"true" if a.IsSupplier else "false"},'
            f'"Blocked":{"true" if r5 < 0.02 else "false"},"Type":"A","SalesCurrency":"EUR",'
            f'"Language":"{self.country}","StartDate":{day},"SecurityLevel":10,'
            f'"CustomerSince":{day},"Created":{created},'
            f'"Modified":{min(self.anchor, created + int(r2 * 90 * DAY_MS))},{_AUDIT_TAIL},'
            f'"Division":{self.division}{tail}}}')

    # --- contacts ---------------------------------------------------------------------------
    def contact(self, c: int) -> Contact:
        guid, r, more = self._draw("contact", c)
        account = c + 1 if c < self.mains else 1 + int(r[0] * self.mains)
        first, last = FIRST[int(r[1] * len(FIRST))], LAST[int(r[2] * len(LAST))]
        return Contact(c, guid, account, first, last, full_name(first, None, last), r,
                       _guid(more))

    def _contact_json(self, k: Contact, a: Account, main_id: str | None) -> str:
        c, r = k.c, k.draws
        created = CREATED_MS + int(r[3] * self.span)
        modified = min(self.anchor, created + int(r[4] * 90 * DAY_MS))
        opt = []
        if k.first is not None:
            opt.append(f'"FirstName":{q(k.first)}')
        if r[5] < 0.8:
            opt.append(f'"Email":"contact{c}@example.test"')
        if r[6] < 0.6:
            opt.append(f'"Phone":"06{10000000 + int(r[7] * 89999999)}"')
        job = JOBS[int(r[5] * 97) % 4]
        if job is not None:
            opt.append(f'"JobTitleDescription":"{job}"')
        if main_id is not None:
            opt.append(f'"AccountMainContact":"{main_id}"')
        tail = "," + ",".join(opt) if opt else ""
        return (
            f'{{"ID":"{k.ID}","Account":"{a.ID}","AccountName":{q(a.Name)},'
            f'"AccountIsCustomer":{"true" if a.Status == "C" else "false"},'
            f'"AccountIsSupplier":{"true" if a.IsSupplier else "false"},'
            f'"LastName":{q(k.last)},"FullName":{q(k.FullName)},"Country":"{a.Country}",'
            f'"Gender":"{GENDERS[int(r[6] * 97) % 3]}","HID":{1000 + c},"Person":"{k.person}",'
            f'"IsMailingExcluded":false,"IsAnonymised":0,'
            f'"Language":"{self.country.ljust(10)}","Code":"{auto_code(c + 1)}",'
            f'"IsMainContact":{"true" if main_id == k.ID else "false"},'
            f'"Created":{created},"Modified":{modified},{_AUDIT_TAIL},'
            f'"Division":{self.division}{tail}}}')

    # --- items ------------------------------------------------------------------------------
    def item(self, n: int) -> dict[str, Any]:
        """Item ``n``: the values the invoices, prices and orders read, and its own draws."""
        guid, r, more = self._draw("item", n)
        desc, unit, price = ITEMS[(n - 1) % len(ITEMS)]
        created = CREATED_MS + int(r[0] * self.span)
        return {"ID": guid, "Code": f"ITEM-{n:04d}",
                "Description": desc if n <= len(ITEMS) else f"{desc} #{n}",
                "Unit": unit.ljust(8), "UnitDescription": UNIT_NAMES[unit],
                "StandardSalesPrice": round(price * (0.8 + r[2] * 0.4), 2),
                "Created": created,
                "Modified": min(self.anchor, created + int(r[1] * 90 * DAY_MS)),
                "IsSalesItem": n % 10 != 0,
                "GLRevenue": self._gl["8100" if unit == "hr" else "8000"],
                "price": price, "unit": unit, "draws": r, "more": more}

    def _item_json(self, n: int, item: dict[str, Any]) -> str:
        r, unit, created = item["draws"], item["unit"], item["Created"]
        opt = []
        extra = EXTRA[int(r[3] * 4)]
        if extra is not None:
            opt.append(f'"ExtraDescription":"{extra}"')
        colour = COLOURS[int(r[5] * 6)]
        if colour is not None:
            opt.append(f'"FreeTextField_01":"{colour}"')
        if r[7] < 0.7:
            opt.append(f'"FreeNumberField_01":{round(r[7] * 100, 2)!r}')
        if r[4] * 7 % 1 < 0.5:
            opt.append(f'"FreeDateField_01":{created}')
        bits = item["more"][0] | item["more"][1] << 8  # each flag true one time in four
        flags = ",".join(f'"FreeBoolField_{k:02d}":{"false" if bits >> 2 * k & 3 else "true"}'
                         for k in range(1, 6))
        return (
            f'{{"ID":"{item["ID"]}","Code":"{item["Code"]}","Description":"{item["Description"]}",'
            f'"StandardSalesPrice":{item["StandardSalesPrice"]!r},'
            f'"CostPriceStandard":{round(item["price"] * 0.6, 2)!r},"CostPriceCurrency":"EUR",'
            f'"Unit":"{item["Unit"]}","UnitDescription":"{item["UnitDescription"]}",'
            f'"UnitType":"O","IsSalesItem":{"true" if item["IsSalesItem"] else "false"},'
            f'"IsPurchaseItem":{"true" if r[4] < 0.4 else "false"},'
            f'"IsStockItem":{"false" if unit == "hr" else "true"},'
            f'"IsFractionAllowedItem":{"true" if unit in ("hr", "kg") else "false"},'
            f'"GLRevenue":"{item["GLRevenue"]}","GLCosts":"{self._gl["7000"]}",'
            f'"GLStock":"{self._gl["3000"]}","SecurityLevel":10,'
            f'"StartDate":{created // DAY_MS * DAY_MS},'
            f'"FreeTextField_02":"EAN{10**11 + int(r[6] * 9 * 10**11)}",{flags},'
            f'"Created":{created},"Modified":{item["Modified"]},{_AUDIT_TAIL},'
            f'"Division":{self.division}{"," if opt else ""}{",".join(opt)}}}')

    def _price_json(self, item: dict[str, Any]) -> tuple[str, str]:
        """The item's sales price (``logistics/SalesItemPrices``): its key and JSON."""
        price_id = _guid(item["more"])
        unit, units = item["unit"], item["UnitDescription"]
        created = item["Created"]
        return price_id, (
            f'{{"ID":"{price_id}","Item":"{item["ID"]}","ItemCode":"{item["Code"]}",'
            f'"ItemDescription":"{item["Description"]}",'
            f'"Price":{item["StandardSalesPrice"]!r},"Currency":"EUR",'
            f'"DefaultItemUnit":"{unit}","Unit":"{unit}",'
            f'"DefaultItemUnitDescription":"{units}","UnitDescription":"{units}",'
            f'"NumberOfItemsPerUnit":1.0,"Quantity":0.0,'
            f'"StartDate":{created // DAY_MS * DAY_MS},"Created":{created},'
            f'"Modified":{item["Modified"]},{_AUDIT_TAIL},"Division":{self.division}}}')

    # --- references, drawn from the division's generator ------------------------------------
    def any_account(self, rng: random.Random) -> dict[str, Any]:
        return self.account_view(1 + int(rng.random() * self.n_accounts))

    def customer(self, rng: random.Random) -> dict[str, Any]:
        """A random account with Status C (any account when none is found)."""
        return self._where(rng, lambda a: a.Status == "C")

    def supplier(self, rng: random.Random) -> dict[str, Any]:
        """A random supplier (one of the first five accounts when none is found)."""
        return self._where(rng, lambda a: a.IsSupplier, fallback=min(5, self.n_accounts))

    def _where(self, rng: random.Random, test: Callable[[Account], bool], fallback: int = 0
               ) -> dict[str, Any]:
        count = self.n_accounts
        for _ in range(200):
            n = 1 + int(rng.random() * count)
            if test(self.account(n)):
                return self.account_view(n)
        return self.account_view(1 + int(rng.random() * (fallback or count)))

    def sales_item(self, rng: random.Random) -> dict[str, Any]:
        """A random item that is sold (every tenth item is not)."""
        sold = self.n_items - self.n_items // 10
        k = int(rng.random() * sold)
        return self.item(k + k // 9 + 1)

    def any_item(self, rng: random.Random) -> dict[str, Any]:
        return self.item(1 + int(rng.random() * self.n_items))
