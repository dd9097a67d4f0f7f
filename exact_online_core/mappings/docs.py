"""The models reference (docs/models.md), rendered from the mapping tables themselves.

Fields are declared once, in the tables; this renders them for people, and a test keeps
the committed file equal to what the tables say. Run ``python -m
exact_online_core.mappings.docs > docs/models.md`` after changing a table.
"""

from __future__ import annotations

from exact_online_core.mappings.base import MODELS, TIMESTAMP_PROPERTY, FieldMap, Model

INTRO = """\
# Unified models and their Exact Online mapping

Generated from `exact_online_core/mappings/` by `python -m exact_online_core.mappings.docs`;
do not edit by hand. The tap emits one stream per model, the target accepts records of the
same shape, the CLI lists, gets, creates, updates and deletes them.

Every record has `id` (string), `division` (integer), `created_at`, `updated_at` (RFC 3339
UTC); the primary key is `["division", "id"]`. Models whose deletions Exact logs (those with
a `deletions:` line below) also have `_sdc_deleted_at`, set when Exact deleted the row;
users and workspaces never carry a deletion (Exact logs none), so they do not have it. Models
read from a `sync/` endpoint also carry `exact_timestamp`, Exact's row version (an Int64 per
division), which is their replication key.

Where this differs from the original contract (shared/docs/models.md), Exact's real
behaviour decided:

- Exact keeps Dutch local time (CET/CEST) in its datetimes; `created_at`/`updated_at` are
  converted to real UTC instants, calendar dates (invoice and due dates) keep their date.
- `exact_timestamp` is a property (the SDK needs the replication key in the record).
- `generic_workspace.status` is a string: `inactive`, `active`, `archived`.
- Invoice amounts come from the invoice header (`salesinvoice/SalesInvoices`); `balance` and
  `paid_at` from `cashflow/Receivables`; credit notes keep their negative amounts.
- `sync/Deleted` EntityType 13 names each row `sync/SalesInvoice/SalesInvoices` loses: a
  deleted invoice gives its `InvoiceID` and the `ID` of every line, a line removed from an
  invoice gives that line's `ID`. Which of the two a key is the feed does not say, so the tap
  sends it to `accounting_invoice` and `accounting_invoice_line_item` alike; in the stream
  that never had the key, its tombstone matches no row (with a soft-deleting loader it
  becomes a row already marked deleted). Assumed where Exact's documentation is silent
  (whether `EntityKey` is the invoice's or the line's id); the sandbox behaves so.
- The connector asks Exact only for what its API reference (`exact_online_reference`) says
  an endpoint serves. An item's `price` is `StandardSalesPrice`: read-only on
  `logistics/Items`, so it is written as the item's sales price (`logistics/SalesItemPrices`),
  and not served by `sync/Logistics/Items`, so incremental reads take it from
  `bulk/Logistics/Items` (by ID for a few changed items, every item's once on a first sync).
  An invoice's `issued_at`
  (`InvoiceDate`) is taken on create only.
"""


def _source(f: FieldMap) -> str:
    if f.read == "computed":
        return "computed" + (f" from {', '.join(f.select)}" if f.select else "")
    if f.read == "context":
        return "the division's setting"
    source = f"`{f.exact}`" if f.exact else "-"
    if f.create_exact:
        source += f" (`{f.create_exact}` on create)"
    if f.read not in ("identity", "computed", "context"):
        source += f" ({f.read})"
    return source


def _model(model: Model) -> str:
    ops = ", ".join(sorted(model.operations))
    lines = [
        f"## {model.name}",
        "",
        model.description,
        "",
        f"- model id `{model.model_id}`; Exact entity `{model.entity}` (key `{model.key}`)",
        f"- read from `{model.read_path}` ({model.read_kind}); App Center scope `{model.scope}`",
        f"- operations: {ops}"
        + (f"; natural key `{model.natural_key}`" if model.natural_key else ""),
    ]
    if model.deleted_type is not None:
        lines.append(f"- deletions: `sync/Deleted` EntityType {model.deleted_type}")
    if model.write_refusal:
        lines.append(f"- writes: {model.write_refusal}")
    if model.sync_unserved:
        names = ", ".join(f"`{n}`" for n in model.sync_unserved)
        lines.append(f"- `{model.read_path}` does not serve {names}: null on records read "
                     "from it")
    lines += ["", "| property | type | Exact | writable |", "|---|---|---|---|"]
    if model.has_timestamp:
        lines.append(f"| `{TIMESTAMP_PROPERTY}` | integer | `Timestamp` | no |")
    for f in model.fields:
        required = " (required on create)" if f.required_on_create else ""
        writable = ("on create" if f.is_writable and f.create_only else
                    "yes" if f.is_writable else "no") + required
        lines.append(f"| `{f.unified}` | {f.type} | {_source(f)} | {writable} |")
    return "\n".join(lines)


def render() -> str:
    from exact_online_core.pack import render_pack

    models = "\n\n".join(_model(m) for m in MODELS.values())
    return INTRO + "\n" + models + "\n\n" + render_pack()


if __name__ == "__main__":
    print(render(), end="")
