"""One short class per unified model; custom streams are built from config."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from exact_online_core.mappings import TIMESTAMP_PROPERTY, CustomStream
from exact_online_core.readers import custom_deleted_type
from tap_exact_online.client import ExactStream

if TYPE_CHECKING:
    from tap_exact_online.tap import TapExactOnline

UPDATED_AT = "updated_at"


class SyncModelStream(ExactStream):
    """A model read from an Exact ``sync/`` endpoint: bookmark = Exact's row Timestamp.

    With a user ``filters`` entry the core reads the plain endpoint instead (sync endpoints
    filter only on Timestamp), and the bookmark becomes ``updated_at``.
    """

    deletes = True

    def __init__(self, tap: TapExactOnline) -> None:
        key = UPDATED_AT if tap.filter_for(self.stream_name) else TIMESTAMP_PROPERTY
        super().__init__(tap, self.stream_name, replication_key=key)

    stream_name: ClassVar[str]


class ContactsStream(SyncModelStream):
    """``generic_contact`` from ``sync/CRM/Contacts``."""

    stream_name = "generic_contact"


class CompaniesStream(SyncModelStream):
    """``generic_company`` from ``sync/CRM/Accounts``."""

    stream_name = "generic_company"


class InvoiceItemsStream(SyncModelStream):
    """``accounting_invoice_item`` (catalog products) from ``sync/Logistics/Items``."""

    stream_name = "accounting_invoice_item"


class InvoicesStream(SyncModelStream):
    """``accounting_invoice``: per-line sync rows grouped into invoices with receivables."""

    stream_name = "accounting_invoice"


class InvoiceLineItemsStream(SyncModelStream):
    """``accounting_invoice_line_item``: the same sync rows, one record per line; sync/Deleted
    names removed lines and the lines of deleted invoices (EntityType 13)."""

    stream_name = "accounting_invoice_line_item"


class UsersStream(ExactStream):
    """``generic_user`` from ``users/Users``: no sync endpoint, so bookmark by ``updated_at``."""

    def __init__(self, tap: TapExactOnline) -> None:
        super().__init__(tap, "generic_user", replication_key=UPDATED_AT)


class WorkspacesStream(ExactStream):
    """``generic_workspace``: the division's own ``system/Divisions`` row, in full each run."""

    def __init__(self, tap: TapExactOnline) -> None:
        super().__init__(tap, "generic_workspace", replication_key=None)


MODEL_STREAMS: tuple[type[ExactStream], ...] = (
    ContactsStream,
    CompaniesStream,
    UsersStream,
    WorkspacesStream,
    InvoicesStream,
    InvoiceItemsStream,
    InvoiceLineItemsStream,
)


class CustomExactStream(ExactStream):
    """A ``custom_streams`` entry (Exact's property names) or a pack stream (snake_case),
    typed by Exact's API reference."""

    def __init__(self, tap: TapExactOnline, spec: CustomStream) -> None:
        self.spec = spec
        super().__init__(tap, spec.name, replication_key=spec.replication_property)
        self.primary_keys = list(spec.key_properties)
        self.deletes = custom_deleted_type(spec) is not None


class PackStream(CustomExactStream):
    """A stream of the built-in financial pack: in the catalog, selected only when asked
    for, so existing pipelines' output does not change."""

    selected_by_default = False


def build_streams(tap: TapExactOnline) -> list[ExactStream]:
    streams: list[ExactStream] = [stream_type(tap) for stream_type in MODEL_STREAMS]  # type: ignore[call-arg]
    streams.extend(CustomExactStream(tap, spec) for spec in tap.api.custom_streams)
    streams.extend(PackStream(tap, spec) for spec in tap.api.pack_streams)
    return streams


__all__ = ["MODEL_STREAMS", "CustomExactStream", "PackStream", "build_streams"]
