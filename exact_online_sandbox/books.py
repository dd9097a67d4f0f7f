"""A division's financial set-up as data: chart of accounts, classifications, journals, VAT.

Every division gets the same small Dutch chart (the codes Exact's NL templates use). The IDs
are derived from the division and the code, so the write rules (processing an invoice, a
payment) find the accounts without reading them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True)
class GL:
    code: str
    description: str
    balance_type: str   # B balance sheet, W profit and loss
    balance_side: str   # D debit, C credit
    type: int           # Exact's GLAccount Type
    type_description: str
    classification: str


CHART: tuple[GL, ...] = (
    GL("0100", "Inventaris", "B", "D", 30, "Fixed assets", "BACT"),
    GL("0500", "Eigen vermogen", "B", "C", 50, "Capital stock", "BPAS"),
    GL("1000", "Kas", "B", "D", 10, "Cash", "BACT"),
    GL("1100", "Bank", "B", "D", 12, "Bank", "BACT"),
    GL("1300", "Debiteuren", "B", "D", 20, "Accounts receivable", "BACT"),
    GL("1500", "Te betalen btw hoog", "B", "C", 24, "VAT", "BPAS"),
    GL("1510", "Te betalen btw laag", "B", "C", 24, "VAT", "BPAS"),
    GL("1520", "Voorbelasting", "B", "D", 24, "VAT", "BACT"),
    GL("1600", "Crediteuren", "B", "C", 22, "Accounts payable", "BPAS"),
    GL("3000", "Voorraad", "B", "D", 40, "Inventory", "BACT"),
    GL("4000", "Personeelskosten", "W", "D", 125, "Employee costs", "WKOS"),
    GL("4500", "Kantoorkosten", "W", "D", 121, "Sales, general administrative expenses",
       "WKOS"),
    GL("4600", "Autokosten", "W", "D", 120, "Other costs", "WKOS"),
    GL("7000", "Kostprijs omzet", "W", "D", 111, "Cost of goods", "WKOS"),
    GL("8000", "Omzet goederen", "W", "C", 110, "Revenue", "WOMZ"),
    GL("8100", "Omzet diensten", "W", "C", 110, "Revenue", "WOMZ"),
)
CHART += tuple(  # a real chart runs to a hundred accounts and more (the recorded FR one pages)
    GL(f"4{n:03d}", f"{kind} {n:03d}", "W", "D", 121,
       "Sales, general administrative expenses", "WKOS")
    for n, kind in ((n, ("Huisvestingskosten", "Verkoopkosten", "Algemene kosten")[n % 3])
                    for n in range(101, 191)))
AR, AP, BANK, CASH = "1300", "1600", "1100", "1000"
REVENUE, SERVICES, COSTS, STOCK, COGS = "8000", "8100", "4500", "3000", "7000"
COST_ACCOUNTS = ("4000", "4500", "4600", "7000")

CLASSIFICATIONS: tuple[tuple[str, str, str | None, str], ...] = (
    # code, description, parent code, balance side
    ("B", "Balans", None, "D"), ("W", "Winst- en verliesrekening", None, "C"),
    ("BACT", "Activa", "B", "D"), ("BPAS", "Passiva", "B", "C"),
    ("WOMZ", "Omzet", "W", "C"), ("WKOS", "Kosten", "W", "D"),
)


@dataclass(frozen=True)
class Journal:
    code: str
    description: str
    type: int              # 10 cash, 12 bank, 20 sales, 22 purchase, 90 general
    gl: str | None


JOURNALS: tuple[Journal, ...] = (
    Journal("10", "Kas", 10, CASH), Journal("20", "Bank", 12, BANK),
    Journal("60", "Inkoopboek", 22, AP), Journal("70", "Verkoopboek", 20, AR),
    Journal("71", "Verkoopboek 2", 20, AR), Journal("90", "Memoriaal", 90, None),
)
JOURNAL_BY_CODE = {j.code: j for j in JOURNALS}


@dataclass(frozen=True)
class VAT:
    code: str            # padded to 3, as Exact sends it: "2  "
    description: str
    percentage: float
    to_pay: str | None
    to_claim: str | None


VAT_CODES: tuple[VAT, ...] = (
    VAT("0  ", "0% btw", 0.0, None, None),
    VAT("1  ", "Btw laag 9%", 0.09, "1510", "1520"),
    VAT("2  ", "Btw hoog 21%", 0.21, "1500", "1520"),
    VAT("5  ", "Btw verlegd", 0.0, None, None),
)
VAT_BY_PERCENTAGE = {0.0: VAT_CODES[0], 0.09: VAT_CODES[1], 0.21: VAT_CODES[2]}
VAT_BY_CODE = {v.code.strip(): v for v in VAT_CODES}

TRANSACTION_TYPES = {20: "Sales entry", 21: "Sales credit note", 30: "Purchase entry",
                     31: "Purchase credit note", 40: "Cash flow", 90: "Other"}


def vat_for(percentage: float | None) -> VAT:
    """The VAT code of a percentage (fraction): 0.21 → ``"2  "``."""
    return VAT_BY_PERCENTAGE.get(round(float(percentage or 0.0), 4), VAT_CODES[2])


@cache
def book_id(division: int, kind: str, code: str) -> str:
    """The stable ID of a set-up row (``gl``, ``journal``, ``vat``, ``class``) of a division."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"exact-sandbox:{division}:{kind}:{code}"))


def gl_by_code(code: str) -> GL:
    return next(g for g in CHART if g.code == code)


def gl_fields(division: int, code: str | None) -> dict[str, Any]:
    """``GLAccount``/``GLAccountCode``/``GLAccountDescription`` of a chart account."""
    if code is None:
        return {"GLAccount": None, "GLAccountCode": None, "GLAccountDescription": None}
    gl = gl_by_code(code)
    return {"GLAccount": book_id(division, "gl", code), "GLAccountCode": gl.code,
            "GLAccountDescription": gl.description}


def period_of(ms: int) -> tuple[int, int]:
    """(financial year, period) of a date: calendar years, one period per month."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.year, moment.month


def midnight(ms: int) -> int:
    return ms // DAY_MS * DAY_MS


def month_bounds(year: int, month: int) -> tuple[int, int]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000) - DAY_MS


def gl_code_of(division: int, gl_id: Any) -> str | None:
    """The chart code of a GL account ID of ``division`` (None: not in the chart)."""
    if not gl_id:
        return None
    return next((g.code for g in CHART if book_id(division, "gl", g.code) == str(gl_id)), None)
