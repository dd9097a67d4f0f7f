"""The general ledger behind the documents: what processing, paying and purchasing book.

A financial entry is one ``financialtransaction/Transactions`` row and its
``financialtransaction/TransactionLines``: line 0 is the entry's header line (the customer's
receivable, the supplier's payable, the bank), lines 1..n its revenue or cost lines, 9999 its
VAT. Amounts are signed the way Exact books them: a sale is a debit (positive) on receivables
and credits (negative) on revenue and VAT, so the lines of an entry add up to zero.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .books import (
    AP,
    AR,
    BANK,
    CHART,
    CLASSIFICATIONS,
    COSTS,
    JOURNAL_BY_CODE,
    JOURNALS,
    REVENUE,
    TRANSACTION_TYPES,
    VAT_CODES,
    book_id,
    gl_by_code,
    gl_code_of,
    gl_fields,
    midnight,
    month_bounds,
    period_of,
    vat_for,
)

VAT_LINE = 9999
Row = dict[str, Any]


def money(value: float) -> float:
    return round(value + 0.0, 2)


# --- the set-up ------------------------------------------------------------------------------

def setup_rows(division: int, currency: str, audit: Mapping[str, Any],
               years: Sequence[int]) -> list[tuple[str, Row]]:
    """Classifications, GL accounts, journals, VAT codes and financial periods of a division."""
    out: list[tuple[str, Row]] = []
    base = {**audit, "Division": division}
    for code, description, parent, side in CLASSIFICATIONS:
        out.append(("financial/GLClassifications", {
            **base, "ID": book_id(division, "class", code), "Code": code,
            "Description": description, "Name": description, "Balance": side,
            "Parent": book_id(division, "class", parent) if parent else None,
            "Abstract": parent is None, "IsTupleSubElement": False, "Nillable": True,
            "PeriodType": "duration" if code.startswith("W") else "instant"}))
    vat_by_gl = {v.to_pay: v for v in VAT_CODES if v.to_pay}
    for gl in CHART:
        vat = vat_by_gl.get(gl.code)
        out.append(("financial/GLAccounts", {
            **base, "ID": book_id(division, "gl", gl.code), "Code": gl.code,
            "Description": gl.description, "SearchCode": gl.code,
            "BalanceSide": gl.balance_side, "BalanceType": gl.balance_type,
            "Type": gl.type, "TypeDescription": gl.type_description,
            "Matching": gl.type in (20, 22), "IsBlocked": False, "Compress": False,
            "RevalueCurrency": False, "AllowCostsInSales": 0, "UseCostcenter": 0,
            "UseCostunit": 0, "ExcludeVATListing": 0,
            "VATCode": vat.code if vat else None, "VATDescription": vat.description if vat
            else None, "ReportingCode": gl.classification}))
    for journal in JOURNALS:
        gl_part = gl_fields(division, journal.gl)
        bank = journal.type == 12
        out.append(("financial/Journals", {
            **base, "ID": book_id(division, "journal", journal.code), "Code": journal.code,
            "Description": journal.description, "Type": journal.type,
            **gl_part, "GLAccountType": gl_by_code(journal.gl).type if journal.gl else None,
            "Currency": currency, "CurrencyDescription": "Euro",
            "AllowVAT": journal.type in (20, 22, 90), "AllowVariableCurrency": False,
            "AllowVariableExchangeRate": False, "AutoSave": False, "IsBlocked": False,
            "BankAccountIBAN": f"NL{division % 97:02d}SNDB0{division:09d}" if bank else None,
            "BankAccountDescription": "Zakelijke rekening" if bank else None,
            "BankName": "Sandbox Bank" if bank else None,
            "BankAccountUseSEPA": True if bank else None,
            "BankAccountUseSepaDirectDebit": False if bank else None}))
    for vat in VAT_CODES:
        pay, claim = gl_fields(division, vat.to_pay), gl_fields(division, vat.to_claim)
        vat_id = book_id(division, "vat", vat.code)
        out.append(("vat/VATCodes", {
            **base, "ID": vat_id, "Code": vat.code, "Description": vat.description,
            "Percentage": vat.percentage, "Type": "E", "CalculationBasis": 1,
            "Charged": vat.code.strip() == "5", "IsBlocked": False, "IntraStat": False,
            "ExcludeVATListing": 0, "VatMargin": 0, "Country": "NL",
            "GLToPay": pay["GLAccount"], "GLToPayCode": pay["GLAccountCode"],
            "GLToPayDescription": pay["GLAccountDescription"],
            "GLToClaim": claim["GLAccount"], "GLToClaimCode": claim["GLAccountCode"],
            "GLToClaimDescription": claim["GLAccountDescription"]}))
        out.append(("vat/VatPercentages", {
            **base, "ID": book_id(division, "vat-percentage", vat.code), "VATCodeID": vat_id,
            "LineNumber": 1, "Percentage": vat.percentage, "Type": 0,
            "StartDate": 1_262_304_000_000}))  # 2010-01-01
    for year in years:
        for month in range(1, 13):
            start, end = month_bounds(year, month)
            out.append(("financial/FinancialPeriods", {
                **base, "ID": book_id(division, "period", f"{year}-{month:02d}"),
                "FinYear": year, "FinPeriod": month, "StartDate": start, "EndDate": end}))
    return out


# --- entries -------------------------------------------------------------------------------

def entry_row(entry_id: str, date: int, number: int | None, journal: str, type_: int,
              modified: int) -> Row:
    """The ``financialtransaction/Transactions`` row of an entry."""
    return {"EntryID": entry_id, "Date": midnight(date), "EntryNumber": number,
            "JournalCode": journal, "JournalDescription": JOURNAL_BY_CODE[journal].description,
            "Modified": modified, "Status": 20, "Type": type_,
            "TypeDescription": TRANSACTION_TYPES[type_]}


def _line(division: int, entry: Row, n: int, gl: str, amount: float, audit: Mapping[str, Any],
          line_id: str, **extra: Any) -> Row:
    year, period = period_of(entry["Date"])
    return {
        **audit, "ID": line_id, "Division": division, "EntryID": entry["EntryID"],
        "EntryNumber": entry["EntryNumber"], "Date": entry["Date"], "LineNumber": n,
        "JournalCode": entry["JournalCode"], "JournalDescription": entry["JournalDescription"],
        "Type": entry["Type"], "Status": 20, "FinancialYear": year, "FinancialPeriod": period,
        **gl_fields(division, gl), "AmountDC": money(amount), "AmountFC": money(amount),
        "Currency": "EUR", "ExchangeRate": 1.0, "LineType": 0, **extra}


def _ids(entry_id: str, count: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{entry_id}:line:{n}")) for n in range(count)]


def sales_entry(division: int, invoice: Mapping[str, Any], lines: Sequence[Mapping[str, Any]],
                account: Mapping[str, Any] | None, audit: Mapping[str, Any]
                ) -> tuple[Row, list[Row]]:
    """A processed sales invoice's entry: receivable (0), revenue per line, VAT (9999).

    The entry's ID is the invoice's ``InvoiceID`` (the receivable's TransactionEntryID)."""
    type_ = 21 if invoice.get("Type") in (8021, 8024) else 20
    entry = entry_row(str(invoice["InvoiceID"]), int(invoice["InvoiceDate"]),
                      invoice.get("InvoiceNumber"), str(invoice.get("Journal") or "70"), type_,
                      int(audit["Modified"]))
    ids = _ids(entry["EntryID"], len(lines) + 2)
    who = {"Account": invoice.get("InvoiceTo"), "AccountCode": (account or {}).get("Code"),
           "AccountName": (account or {}).get("Name"),
           "InvoiceNumber": invoice.get("InvoiceNumber"), "YourRef": invoice.get("YourRef"),
           "OrderNumber": invoice.get("OrderNumber"),
           "PaymentReference": invoice.get("PaymentReference")}
    total = float(invoice.get("AmountDC") or 0.0)
    out = [_line(division, entry, 0, AR, total, audit, ids[0], **who,
                 Description=invoice.get("Description"), DueDate=invoice.get("DueDate"))]
    vat_total = 0.0
    for n, line in enumerate(lines, start=1):
        amount = float(line.get("AmountDC") or 0.0)
        vat_amount = float(line.get("VATAmountDC") or 0.0)
        vat_total += vat_amount
        vat = vat_for(line.get("VATPercentage"))
        gl = line.get("GLAccountCode") or gl_code_of(division, line.get("GLAccount")) or REVENUE
        out.append(_line(division, entry, n, gl, -amount, audit, ids[n], **who,
                         Description=line.get("Description"), Item=line.get("Item"),
                         ItemCode=line.get("ItemCode"), ItemDescription=line.get("ItemDescription"),
                         Quantity=line.get("Quantity"), VATCode=vat.code,
                         VATCodeDescription=vat.description, VATPercentage=vat.percentage,
                         AmountVATBaseFC=money(-amount), AmountVATFC=money(-vat_amount),
                         Project=line.get("Project")))
    if lines:
        vat = vat_for(lines[0].get("VATPercentage"))
        out.append(_line(division, entry, VAT_LINE, vat.to_pay or "1500", -vat_total, audit,
                         ids[-1], **who, Description=invoice.get("Description"),
                         VATCode=vat.code, VATCodeDescription=vat.description,
                         VATPercentage=vat.percentage, AmountVATFC=money(-vat_total)))
    return entry, out


def bank_entry(division: int, receivable: Mapping[str, Any], paid: float, date: int,
               number: int, entry_id: str, audit: Mapping[str, Any]) -> tuple[Row, list[Row]]:
    """A received payment: the bank (0) and the settled receivable (1), in journal 20."""
    entry = entry_row(entry_id, date, number, "20", 40, int(audit["Modified"]))
    ids = _ids(entry_id, 2)
    who = {"Account": receivable.get("Account"), "AccountCode": receivable.get("AccountCode"),
           "AccountName": receivable.get("AccountName"),
           "InvoiceNumber": receivable.get("InvoiceNumber"),
           "Description": f"Betaling {receivable.get('InvoiceNumber') or ''}".strip()}
    return entry, [
        _line(division, entry, 0, BANK, paid, audit, ids[0], **who),
        _line(division, entry, 1, AR, -paid, audit, ids[1], **who,
              OffsetID=receivable.get("TransactionEntryID")),
    ]


def purchase_entry(division: int, header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]],
                   supplier: Mapping[str, Any] | None, audit: Mapping[str, Any]
                   ) -> tuple[Row, list[Row]]:
    """A purchase entry's booking: payable (0, credit), costs per line, VAT to claim (9999)."""
    entry = entry_row(str(header["EntryID"]), int(header["EntryDate"]), header.get("EntryNumber"),
                      str(header.get("Journal") or "60"), 30, int(audit["Modified"]))
    ids = _ids(entry["EntryID"], len(lines) + 2)
    who = {"Account": header.get("Supplier"), "AccountCode": (supplier or {}).get("Code"),
           "AccountName": (supplier or {}).get("Name"),
           "InvoiceNumber": header.get("InvoiceNumber"), "YourRef": header.get("YourRef")}
    excl = sum(float(ln.get("AmountDC") or 0.0) for ln in lines)
    vat_total = sum(float(ln.get("VATAmountDC") or 0.0) for ln in lines)
    out = [_line(division, entry, 0, AP, -(excl + vat_total), audit, ids[0], **who,
                 Description=header.get("Description"), DueDate=header.get("DueDate"))]
    for n, line in enumerate(lines, start=1):
        vat = vat_for(line.get("VATPercentage"))
        out.append(_line(division, entry, n, line.get("GLAccountCode") or COSTS,
                         float(line.get("AmountDC") or 0.0), audit, ids[n], **who,
                         Description=line.get("Description"), VATCode=vat.code,
                         VATCodeDescription=vat.description, VATPercentage=vat.percentage,
                         AmountVATBaseFC=line.get("AmountDC"),
                         AmountVATFC=line.get("VATAmountDC")))
    if lines:
        out.append(_line(division, entry, VAT_LINE, "1520", vat_total, audit, ids[-1], **who,
                         Description=header.get("Description"), AmountVATFC=money(vat_total)))
    return entry, out
