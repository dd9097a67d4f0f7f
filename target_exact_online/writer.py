"""One planned record → one write through the core, never twice, with its outcome.

Each record is written under the ledger's cross-process claim, from reading its ledger row to
committing the outcome, so runs sharing a ledger never both create it. The ledger decides
first: a record already written with the same payload is ``unchanged``; a known record with
a new payload becomes an update of the Exact id the ledger holds; a key the ledger knows as
deleted is never written again. A create commits a ``pending`` intent before its POST.

``unknown`` is only for a POST that may have reached Exact without an answer (timeout or
reset after sending, 5xx, an unreadable answer) and for an intent a crash left behind; such a
record is looked up by its natural key (company and item ``code``); found → ``created``,
else ``unknown`` for a person to check, never re-sent. A POST that cannot have created
anything (never connected, a read before it failed, the token endpoint failed, refused) is
a plain failure and is sent again by the next run. A create Exact confirmed keeps its id even
when reading it back failed.

What Exact stored (the core reads it back) is compared with what was sent; a value Exact
silently dropped or changed becomes a warning on the record's result.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from exact_online_core.errors import (
    AuthError,
    ConfigError,
    ExactError,
    MalformedResponseError,
    NotFoundError,
    RateLimitError,
    ReadBackError,
    ServerError,
    TransportError,
)
from exact_online_core.mappings.converters import parse_rfc3339
from target_exact_online.errors import TargetStopped
from target_exact_online.guard import DEFAULT_LIMIT, ErrorGuard
from target_exact_online.ledger import Ledger, LedgerEntry
from target_exact_online.results import RecordResult
from target_exact_online.validation import Plan

if TYPE_CHECKING:
    from exact_online_core.api import ExactOnline

FATAL_ERRORS = (AuthError, ConfigError, RateLimitError)
"""Errors after which no later record can succeed: the run stops (without STATE). A 429 that
outlasted the waits is the daily budget, or Exact's block after too many refused calls
(which answers every call to the endpoint for an hour or more): more calls only prolong it."""
TOKEN_ENDPOINT = "oauth2/token"


class FatalWriteError(TargetStopped):
    """Stop the run: every following call would fail the same way."""

    def __init__(self, message: str, result: RecordResult) -> None:
        super().__init__(message)
        self.result = result


def is_fatal(exc: ExactError) -> bool:
    """No later record can succeed: login, config, a 429 that outlasted the waits (daily
    budget, Exact's error block), or the token endpoint."""
    return isinstance(exc, FATAL_ERRORS) or (exc.endpoint or "").endswith(TOKEN_ENDPOINT)


def outcome_unknown(exc: ExactError) -> bool:
    """True when a create may have been applied by Exact although we got no clear answer.

    Only the POST itself counts: sent and then timed out or reset (the core sets
    ``outcome_unknown``), answered 5xx, or answered with a body that is not the created
    record. A POST that never connected, a read before it and the token endpoint cannot
    have created anything.
    """
    if isinstance(exc, TransportError):
        return exc.outcome_unknown
    if isinstance(exc, ServerError | MalformedResponseError):
        return exc.method in (None, "POST") and not is_fatal(exc)
    return False


class RecordWriter:
    def __init__(self, api: ExactOnline | None, ledger: Ledger, *, dry_run: bool,
                 logger: logging.Logger, error_limit: int = DEFAULT_LIMIT) -> None:
        self.api = api
        self.ledger = ledger
        self.dry_run = dry_run
        self.logger = logger
        self.guard = ErrorGuard(ledger, 0 if dry_run else error_limit)
        self._seen: dict[tuple[str, int, str], int | None] = {}
        """Keys written in this run, with the input line that first had them."""

    # -- entry point -------------------------------------------------------------------------

    def write(self, plan: Plan, line: int | None = None) -> RecordResult:
        with self.ledger.claim():
            return self._write(plan, line)

    def _write(self, plan: Plan, line: int | None) -> RecordResult:
        entry = self.ledger.get(plan.stream.name, plan.division, plan.input_key)
        result = self._result(plan, "unchanged")
        result.line = line
        result.warnings.extend(plan.warnings)
        self._note_duplicate(plan, result)
        spent = self.guard.spent(plan.stream.endpoint, plan.division)
        if spent is not None:
            result.outcome, result.error = "failed", f"not sent: {spent}"
            raise FatalWriteError(spent, result)
        try:
            if entry is not None and entry.state == "deleted" and plan.operation != "delete":
                self._deleted_before(plan, entry, result)
            elif plan.operation == "delete":
                self._delete(plan, entry, result)
            elif plan.operation == "update" or (entry is not None and entry.state == "written"):
                result.operation = "update"
                self._update(plan, entry, result)
            else:
                self._create(plan, entry, result)
        except ExactError as exc:
            result.outcome, result.error = "failed", str(exc)
            self.guard.record(exc)
            if is_fatal(exc):
                raise FatalWriteError(str(exc), result) from exc
            spent = self.guard.spent(plan.stream.endpoint, plan.division)
            if spent is not None:
                raise FatalWriteError(spent, result) from exc
        return result

    def _note_duplicate(self, plan: Plan, result: RecordResult) -> None:
        """Two identical records without an external id in one input are written once."""
        key = (plan.stream.name, plan.division, plan.input_key)
        if key not in self._seen:
            self._seen[key] = result.line
            return
        if plan.input_key.startswith("sha256:"):
            first = self._seen[key]
            where = f" (line {first})" if first is not None else ""
            result.warnings.append(
                f"identical to an earlier record of this input{where}: with no external_id, "
                "identical records are one record and are written once; set the external_id "
                "setting to a property that tells them apart if they are different records"
            )

    def _result(self, plan: Plan, outcome: Any) -> RecordResult:
        return RecordResult(stream=plan.stream.name, operation=plan.operation,
                            input_key=plan.input_key, outcome=outcome,
                            exact_id=plan.record_id, division=plan.division)

    def _would(self, result: RecordResult, method: str, path: str, plan: Plan,
               body: Mapping[str, Any] | None) -> None:
        result.call = f"{method} {path} (division {plan.division})"
        shown = "" if body is None else f" {dict(body)}"
        self.logger.info("dry run: would %s%s", result.call, shown)

    def _api(self) -> ExactOnline:
        assert self.api is not None, "no API client in a dry run"
        return self.api

    def _deleted_before(self, plan: Plan, entry: LedgerEntry, result: RecordResult) -> None:
        """A create or update of a key whose record was deleted: never brought back."""
        result.outcome, result.exact_id = "unchanged", entry.exact_id
        result.warnings.append(
            f"not written: the ledger knows input key {plan.input_key!r} as deleted from "
            f"Exact Online (id {entry.exact_id}), so a replay does not bring it back. To "
            "create it again, give it a new external id or remove the key from the ledger"
        )

    # -- create ------------------------------------------------------------------------------

    def _create(self, plan: Plan, entry: LedgerEntry | None, result: RecordResult) -> None:
        stream, division, key = plan.stream.name, plan.division, plan.input_key
        assert plan.payload_hash is not None
        # An earlier run's POST without a known outcome: that run is over (it would hold the
        # claim otherwise), so a lookup by natural key that finds nothing means the POST never
        # landed: send it again.
        if (entry is not None and entry.state in ("pending", "unknown")
                and self._recover(plan, result, "an earlier run's POST has no known outcome",
                                  resend_if_absent=True)):
            return
        if self.dry_run:
            result.outcome = "created"
            self._would(result, "POST", plan.stream.endpoint, plan, plan.body)
            return
        self.ledger.record_pending(stream, division, key, plan.payload_hash)
        try:
            stored = self._api().create(stream, division, plan.clean)
        except ReadBackError as exc:
            self.ledger.record_written(stream, division, key, exc.exact_id, plan.payload_hash)
            result.outcome, result.exact_id = "created", exc.exact_id
            result.warnings.append(str(exc))
            self.guard.record(exc)
            return
        except ExactError as exc:
            if outcome_unknown(exc):
                self.guard.record(exc)
                self._recover(plan, result, str(exc))
                return
            self.ledger.forget(stream, division, key)  # nothing was created
            raise
        exact_id = self._stored_id(plan, stored)
        if exact_id is None:
            self._recover(plan, result, f"Exact's answer to the create has no "
                                        f"{plan.stream.id_property}")
            return
        self.ledger.record_written(stream, division, key, exact_id, plan.payload_hash)
        result.outcome, result.exact_id = "created", exact_id
        result.warnings.extend(dropped_values(plan, stored))

    def _recover(self, plan: Plan, result: RecordResult, why: str, *,
                 resend_if_absent: bool = False) -> bool:
        """A POST that may have reached Exact: find it by its natural key; True when done.

        Never re-sent blindly: without a natural key the record is ``unknown``. With one,
        the record is ``created`` when found; when not found it is ``unknown`` in the run
        that sent it (the POST may still be in flight), and sent again in a later run
        (``resend_if_absent``: returns False).
        """
        stream, division, key = plan.stream.name, plan.division, plan.input_key
        prop = plan.stream.natural_key
        value = plan.clean.get(prop) if prop else None
        if self.dry_run:
            result.outcome = "unknown"
            result.error = (f"outcome unknown ({why}); a real run looks it up by {prop}"
                            if value is not None else f"outcome unknown ({why})")
            return True
        matches: list[dict[str, Any]] = []
        if prop and value not in (None, ""):
            try:
                matches = self._api().find(stream, division, prop, value)
            except ExactError as exc:
                self.guard.record(exc)
                if is_fatal(exc):
                    self.ledger.record_unknown(stream, division, key, plan.payload_hash)
                    raise
                self.logger.warning("lookup of %s by %s failed: %s", stream, prop, exc)
        if len(matches) == 1:
            exact_id = str(matches[0].get(plan.stream.id_property))
            assert plan.payload_hash is not None
            self.ledger.record_written(stream, division, key, exact_id, plan.payload_hash)
            result.outcome, result.exact_id = "created", exact_id
            result.warnings.append(f"the POST's outcome was unknown ({why}); found the "
                                   f"record Exact created by {prop}={value!r}")
            result.warnings.extend(dropped_values(plan, matches[0]))
            return True
        if resend_if_absent and prop and value not in (None, "") and not matches:
            self.logger.info("%s %s: not in Exact after an interrupted POST; sending it again",
                             stream, key)
            return False
        self.ledger.record_unknown(stream, division, key, plan.payload_hash)
        result.outcome = "unknown"
        if prop and value not in (None, ""):
            found = "several records" if matches else "no record"
            lookup = f"a lookup by {prop}={value!r} found {found}"
        else:
            lookup = f"{stream} has no natural key to look it up by"
        result.error = (
            f"outcome unknown: {why}; {lookup}. It was NOT sent again. Check Exact Online: "
            f"if the record is missing, remove input key {key!r} from the ledger and run "
            "again."
        )
        return True

    # -- update ------------------------------------------------------------------------------

    def _update(self, plan: Plan, entry: LedgerEntry | None, result: RecordResult) -> None:
        stream, division, key = plan.stream.name, plan.division, plan.input_key
        assert plan.payload_hash is not None
        exact_id = plan.record_id or (entry.exact_id if entry else None)
        result.exact_id = exact_id
        if exact_id is None:
            result.outcome = "failed"
            result.error = "cannot update: the record has no id and its key is not in the ledger"
            return
        if (entry is not None and entry.state == "written" and entry.exact_id == exact_id
                and entry.payload_hash == plan.payload_hash):
            result.outcome = "unchanged"
            return
        if not plan.clean:
            result.outcome = "unchanged"
            result.warnings.append("nothing to write: the record has no writable properties")
            return
        if self.dry_run:
            result.outcome = "updated"
            self._would(result, "PUT", f"{plan.stream.endpoint}({exact_id})", plan, plan.body)
            return
        try:
            stored: Mapping[str, Any] | None = self._api().update(stream, division, exact_id,
                                                                   plan.clean)
        except ReadBackError as exc:  # the PUT was applied
            self.guard.record(exc)
            result.warnings.append(str(exc))
            stored = None
        self.ledger.record_written(stream, division, key, exact_id, plan.payload_hash)
        result.outcome = "updated"
        result.warnings.extend(dropped_values(plan, stored))

    # -- delete ------------------------------------------------------------------------------

    def _delete(self, plan: Plan, entry: LedgerEntry | None, result: RecordResult) -> None:
        stream, division, key = plan.stream.name, plan.division, plan.input_key
        exact_id = plan.record_id or (entry.exact_id if entry else None)
        result.exact_id = exact_id
        if entry is not None and entry.state == "deleted" and entry.exact_id == exact_id:
            result.outcome = "unchanged"
            return
        if exact_id is None:
            result.outcome = "failed"
            result.error = "cannot delete: the record has no id and its key is not in the ledger"
            return
        if self.dry_run:
            result.outcome = "deleted"
            self._would(result, "DELETE", f"{plan.stream.endpoint}({exact_id})", plan, None)
            return
        try:
            self._api().delete(stream, division, exact_id)
        except NotFoundError as exc:
            self.guard.record(exc)  # a 404 counts towards Exact's block too
            result.warnings.append(
                f"not found: Exact Online has no {stream} with id {exact_id} in division "
                f"{division} (deleted already, or never there); nothing was deleted")
            self.ledger.record_deleted(stream, division, key, exact_id)
            result.outcome = "not_found"
            return
        self.ledger.record_deleted(stream, division, key, exact_id)
        result.outcome = "deleted"

    @staticmethod
    def _stored_id(plan: Plan, stored: Mapping[str, Any]) -> str | None:
        value = stored.get(plan.stream.id_property)
        return None if value in (None, "") else str(value)


# ---------------------------------------------------------------------------------------------
# read-back comparison
# ---------------------------------------------------------------------------------------------


def dropped_values(plan: Plan, stored: Mapping[str, Any] | None) -> list[str]:
    """Warnings for sent values that Exact did not store as sent (silent drops)."""
    if not stored:
        return []
    warnings = []
    for prop, sent in plan.clean.items():
        if sent is None or isinstance(sent, list | dict) or prop not in stored:
            continue
        if not same_value(sent, stored.get(prop)):
            warnings.append(
                f"Exact did not store {prop} as sent: sent {sent!r}, stored "
                f"{stored.get(prop)!r}"
            )
    return warnings


def same_value(sent: Any, stored: Any) -> bool:
    if stored is None:
        return sent in ("",)
    if isinstance(sent, bool) or isinstance(stored, bool):
        return bool(sent) == bool(stored)
    if isinstance(sent, int | float) and isinstance(stored, int | float):
        return math.isclose(float(sent), float(stored), rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(sent, str) and isinstance(stored, str):
        a, b = sent.strip(), stored.strip()
        if a == b or a.lower() == b.lower():
            return True
        try:
            da, db = parse_rfc3339(a), parse_rfc3339(b)
        except (TypeError, ValueError):
            return False
        return da == db or da.date() == db.date()
    if isinstance(sent, str) and isinstance(stored, int | float):
        try:
            return math.isclose(float(sent), float(stored), abs_tol=1e-6)
        except ValueError:
            return False
    return bool(sent == stored)
