"""The record lifecycle: check the stream at SCHEMA, then per record validate, plan, write, report.

One :class:`ExactOnlineSink` per stream; records are written one at a time in
``process_record`` (a ``RecordSink``), so the SDK's STATE, emitted after a drain, always
follows records that are already in Exact and in the ledger.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from singer_sdk.sinks import RecordSink
from typing_extensions import override

from exact_online_core.errors import ExactError
from target_exact_online.results import RecordResult
from target_exact_online.validation import RecordInvalid, RecordPlanner
from target_exact_online.writer import FatalWriteError, is_fatal

if TYPE_CHECKING:
    from singer_sdk.target_base import Target

    from target_exact_online.context import WriteContext

KEEP_SDC = "_sdc_deleted_at"
"""The one ``_sdc_*`` field this target needs: the delete signal."""


class ExactOnlineSink(RecordSink):
    """Writes one stream's records to Exact Online through the core API."""

    def __init__(self, target: Target, stream_name: str, schema: dict[str, Any],
                 key_properties: Any) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        # Parse nothing into datetime objects: values go to the core as RFC 3339 strings.
        self.schema = _without_formats(self.schema)
        self.context: WriteContext = target.write_context  # type: ignore[attr-defined]
        # StreamRefusedError (users, workspaces, unknown streams, a broken schema) reaches
        # the target, which fails this stream's records one by one.
        self.spec = self.context.spec(stream_name)
        self.planner = RecordPlanner(
            self.spec, self.original_schema,
            external_id=self.context.external_id,
            default_division=lambda: self.context.default_division,
            allowed_divisions=self.context.allowed_divisions,
        )

    # -- keep _sdc_deleted_at, drop the other metadata ----------------------------------------

    @property
    @override
    def include_sdc_metadata_properties(self) -> bool:
        # With False the SDK strips _sdc_deleted_at before we see it; with True it keeps the
        # record's own value (and adds other _sdc_* fields, dropped in preprocess_record).
        return True

    @override
    def preprocess_record(self, record: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_sdc_") or k == KEEP_SDC}

    @override
    def get_validator(self) -> None:
        # Validation is per record and never fatal: see RecordPlanner.plan.
        return None

    # -- one record ---------------------------------------------------------------------------

    @override
    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        line = self.context.line()
        try:
            plan = self.planner.plan(record)
        except RecordInvalid as exc:
            result = RecordResult(stream=self.spec.name, operation=exc.operation,
                                  input_key=exc.input_key, outcome="failed",
                                  division=exc.division, error=f"invalid record: {exc}",
                                  line=line)
        except ExactError as exc:  # finding the default division failed
            result = RecordResult(stream=self.spec.name, operation=None, input_key=None,
                                  outcome="failed", error=str(exc), line=line)
            if is_fatal(exc):
                raise FatalWriteError(str(exc), result) from exc
        else:
            result = self.context.writer.write(plan, line)
        self.context.results.add(result)
        self._log(result)

    def _log(self, result: RecordResult) -> None:
        where = f" (line {result.line})" if result.line is not None else ""
        what = (f"{result.stream} {result.operation} {result.input_key}{where} -> "
                f"{result.outcome}{f' {result.exact_id}' if result.exact_id else ''}")
        if result.outcome in ("failed", "unknown"):
            self.logger.error("%s: %s", what, result.error)
        else:
            self.logger.info("%s", what)
        for warning in result.warnings:
            self.logger.warning("%s: %s", what, warning)


def _without_formats(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    for prop in (out.get("properties") or {}).values():
        if isinstance(prop, dict):
            prop.pop("format", None)
            for sub in prop.get("anyOf", []) or []:
                if isinstance(sub, dict):
                    sub.pop("format", None)
    return out
