"""target-exact-online: settings, the shared write context, the input's messages, STATE, the end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.target_base import Target
from typing_extensions import override

from exact_online_core.config import ExactConfig
from exact_online_core.console import run
from exact_online_core.errors import ConfigError
from exact_online_core.mappings import parse_custom_streams, parse_field_mappings
from exact_online_core.version import DISTRIBUTION
from target_exact_online.context import WriteContext
from target_exact_online.errors import TargetStopped
from target_exact_online.guard import DEFAULT_LIMIT, EXACT_LIMIT
from target_exact_online.reader import InputProblem, LineReader
from target_exact_online.results import INPUT, RecordResult, summary_text
from target_exact_online.sinks import ExactOnlineSink
from target_exact_online.streams import StreamRefusedError
from target_exact_online.validation import schema_problem
from target_exact_online.writer import FatalWriteError

DEFAULT_RESULTS = "target-exact-online.results.jsonl"
LEDGER_NAME = "target-exact-online.ledger.sqlite"


class RecordsFailedError(Exception):
    """Raised at the end of a run when records failed and allow_failures is off."""


class TargetExactOnline(Target):
    """Writes create, update and delete records of the unified models back to Exact Online."""

    name = "target-exact-online"
    package_name = DISTRIBUTION
    """All executables ship in one distribution: --version and --about read its metadata."""
    default_sink_class = ExactOnlineSink
    message_reader_class = LineReader

    config_jsonschema = th.PropertiesList(
        # connection (the same settings as the tap and the core)
        th.Property("region", th.StringType, allowed_values=["nl", "be", "de", "uk", "us",
                                                              "fr", "es"],
                    description="Exact Online region (nl, be, de, uk, us, fr, es); "
                    "ignored when base_url is set."),
        th.Property("base_url", th.StringType,
                    description="Exact Online host, e.g. https://start.exactonline.nl "
                    "(or the sandbox's URL); overrides region."),
        th.Property("client_id", th.StringType, required=True,
                    description="OAuth client id of your Exact App Center app."),
        th.Property("client_secret", th.StringType, required=True, secret=True,
                    description="OAuth client secret of the app."),
        th.Property("redirect_uri", th.StringType,
                    description="Redirect URI registered for the app."),
        th.Property("refresh_token", th.StringType, secret=True,
                    description="Initial refresh token (from `exact-online login`); the "
                    "rotated tokens are kept in token_store."),
        th.Property("token_store", th.StringType,
                    description="File that keeps the rotating tokens, shared with the tap, "
                    "or a postgresql://user@host:port/db URL (workers on many machines)."),
        th.Property("divisions", th.CustomType({"type": ["array", "string", "integer", "null"],
                                                "items": {"type": ["integer", "string"]}}),
                    description="Division codes the target may write to; the first is the "
                    "default for records without a division ('all' or empty: the user's "
                    "current division is the default)."),
        th.Property("timeout", th.NumberType, description="HTTP timeout in seconds (60)."),
        th.Property("max_retries", th.IntegerType,
                    description="Retries of idempotent calls on 5xx/timeouts (5). A POST is "
                    "never retried once it may have reached Exact."),
        # what to write
        th.Property("field_mappings", th.ObjectType(additional_properties=True),
                    description="Custom fields per model: {model: {property: ExactField}}; "
                    "written back like any other property."),
        th.Property("custom_streams", th.ArrayType(th.ObjectType(additional_properties=True)),
                    description="Custom Exact endpoints as streams; records are written to "
                    "their write_endpoint."),
        # safety and reporting
        th.Property("external_id", th.StringType,
                    description="Record property that identifies an input record across runs "
                    "(the ledger key); default: a hash of the record."),
        th.Property("ledger_path", th.StringType,
                    description="SQLite ledger of written records (never writes twice); "
                    f"default: {LEDGER_NAME} next to the results file."),
        th.Property("results_path", th.StringType,
                    description=f"JSON-lines results file (default: ./{DEFAULT_RESULTS})."),
        th.Property("allow_failures", th.BooleanType, default=False,
                    description="Exit 0 (and emit STATE) even when records failed."),
        th.Property("dry_run", th.BooleanType, default=False,
                    description="Validate and map everything and log the calls that would "
                    "be made; write nothing (no call to Exact at all) and pass no STATE on."),
        th.Property("error_limit", th.IntegerType, default=DEFAULT_LIMIT,
                    description="Stop the run once this many calls to one endpoint in one "
                    "division were refused (400/401/403/404) within an hour, earlier runs "
                    f"included: Exact blocks an app for an hour after {EXACT_LIMIT}. 0 turns "
                    f"this guard off ({DEFAULT_LIMIT})."),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_parallelism = 1  # records are written in input order
        self._context: WriteContext | None = None
        self._state_withheld = False
        self._refused: dict[str, str] = {}
        """Streams refused at their SCHEMA, with the reason: their records fail one by one."""
        reader = self.message_reader
        if isinstance(reader, LineReader):
            reader.on_problem = self._input_problem
            reader.on_stop = self._stopped
        if kwargs.get("validate_config", True):
            self._check_settings()

    def _check_settings(self) -> None:
        try:
            ExactConfig.from_mapping(self.config)
            parse_field_mappings(self.config.get("field_mappings"))
            parse_custom_streams(self.config.get("custom_streams"))
        except ConfigError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from None

    # -- the shared write context (built at the first SCHEMA) ---------------------------------

    @property
    def write_context(self) -> WriteContext:
        if self._context is None:
            results = Path(self.config.get("results_path") or DEFAULT_RESULTS).expanduser()
            ledger = self.config.get("ledger_path")
            ledger_path = Path(ledger).expanduser() if ledger else results.parent / LEDGER_NAME
            self._context = WriteContext(dict(self.config), results_path=results,
                                         ledger_path=ledger_path, logger=self.logger,
                                         line=self._line)
        return self._context

    def _line(self) -> int | None:
        reader = self.message_reader
        return reader.line_number if isinstance(reader, LineReader) else None

    # -- the input's messages: anything unusable fails alone ---------------------------------

    def _input_problem(self, line: int, problem: InputProblem) -> None:
        """An input line that cannot be used: a failed result, and the run goes on."""
        stream = problem.stream if problem.stream is not None else INPUT
        error = f"line {line}: {problem}"
        self.write_context.results.add(RecordResult(
            stream=stream, operation=None, input_key=None, outcome="failed", error=error,
            line=line))
        if problem.quiet:
            self.logger.debug("%s: %s", stream, error)
        else:
            self.logger.error("%s: %s", stream, error)

    def _stopped(self, stop: TargetStopped) -> None:
        """The run stops: the record that stopped it and the summary are in the results."""
        context = self._context
        if context is None or context.results.closed:
            return
        if isinstance(stop, FatalWriteError):
            context.results.add(stop.result)
        self.logger.error("Stopping: %s", stop)
        for entry in context.results.write_summary():
            self.logger.info("Summary %s", summary_text(entry))
        context.close()

    @override
    def _process_schema_message(self, message_dict: dict[str, Any]) -> None:
        stream = message_dict.get("stream")
        if not isinstance(stream, str) or not stream:
            raise InputProblem('SCHEMA message without a "stream" name')
        schema = message_dict.get("schema")
        keys = message_dict.get("key_properties")
        problem: str | None = None
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            problem = 'its "schema" is not a JSON Schema object with "properties"'
        elif keys is not None and (not isinstance(keys, list)
                                   or not all(isinstance(k, str) for k in keys)):
            problem = '"key_properties" must be a list of property names'
        else:
            problem = schema_problem(schema)
        if problem is not None:
            if stream in self.mapper.stream_maps and stream not in self._refused:
                # a broken SCHEMA for a stream already being written: only this line fails
                raise InputProblem(f"{problem}; the stream's earlier SCHEMA stays in effect",
                                   stream)
            self._refuse(stream, problem)
        try:
            super()._process_schema_message(message_dict)
        except TargetStopped:
            raise
        except StreamRefusedError as exc:
            self._refuse(stream, str(exc))
        except Exception as exc:
            self._refuse(stream, f"its SCHEMA cannot be used ({type(exc).__name__}: "
                                 f"{str(exc)[:300]})")
        self._refused.pop(stream, None)

    def _refuse(self, stream: str, reason: str) -> NoReturn:
        """A stream refused at its SCHEMA: one failed result now, one per record later."""
        line = self._line()
        self._refused[stream] = f"stream {stream} was refused at its SCHEMA (line {line}): " \
                                f"{reason}"
        self.mapper.stream_maps.pop(stream, None)
        self._sinks_active.pop(stream, None)
        raise InputProblem(reason, stream)

    @override
    def _process_record_message(self, message_dict: dict[str, Any]) -> None:
        stream = message_dict.get("stream")
        if not isinstance(stream, str):
            raise InputProblem('RECORD message without a "stream" name')
        if stream in self._refused:
            raise InputProblem(self._refused[stream], stream, quiet=True)
        if "record" not in message_dict:
            raise InputProblem('RECORD message without a "record"', stream)
        record = message_dict["record"]
        if not isinstance(record, dict):
            kind = "array" if isinstance(record, list) else type(record).__name__
            raise InputProblem(f"the record is a JSON {kind}, not an object", stream)
        if stream not in self.mapper.stream_maps:
            raise InputProblem(f"RECORD for stream {stream!r} before its SCHEMA message",
                               stream)
        super()._process_record_message(message_dict)

    @override
    def _process_state_message(self, message_dict: dict[str, Any]) -> None:
        if not isinstance(message_dict.get("value"), dict):
            raise InputProblem('STATE message whose "value" is not an object')
        super()._process_state_message(message_dict)

    @override
    def _process_batch_message(self, message_dict: dict[str, Any]) -> None:
        stream = message_dict.get("stream")
        raise InputProblem("BATCH messages are not supported: send RECORD messages",
                           stream if isinstance(stream, str) else None)

    @override
    def _process_activate_version_message(self, message_dict: dict[str, Any]) -> None:
        stream = message_dict.get("stream")
        if not isinstance(stream, str) or stream not in self.mapper.stream_maps:
            raise InputProblem("ACTIVATE_VERSION for a stream without a SCHEMA",
                               stream if isinstance(stream, str) else None)
        self.logger.info("%s: ACTIVATE_VERSION ignored (Exact Online rows are written one by "
                         "one; deletions come as records with _sdc_deleted_at)", stream)

    @override
    def get_sink(self, stream_name: str, *, record: dict[str, Any] | None = None,
                 schema: dict[str, Any] | None = None,
                 key_properties: Any = None) -> Any:
        # A create has no id yet: the stream's key properties are not required on records.
        return super().get_sink(stream_name, record=record, schema=schema, key_properties=None)

    # -- STATE: only when every record before it was written -----------------------------------

    @override
    def _write_state_message(self, state: dict[str, Any]) -> None:
        if self.config.get("dry_run"):
            if not self._state_withheld:
                self.logger.info("dry run: STATE is not passed on, so the next real run "
                                 "writes these records")
            self._state_withheld = True
            return
        context = self._context
        if (context is not None and not self.config.get("allow_failures")
                and (context.results.failed or context.results.unknown)):
            if not self._state_withheld:
                self.logger.warning(
                    "STATE is withheld: records failed or have an unknown outcome, so a "
                    "re-run must see them again (the ledger keeps the written ones from "
                    "being written twice)."
                )
            self._state_withheld = True
            return
        super()._write_state_message(state)

    # -- end of input: summary and exit status ------------------------------------------------

    @override
    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        context = self._context
        if context is None:
            return
        try:
            for entry in context.results.write_summary():
                self.logger.info("Summary %s", summary_text(entry))
            failed, unknown = context.results.failed, context.results.unknown
            where = context.results.path
        finally:
            context.close()
        if (failed or unknown) and not self.config.get("allow_failures"):
            message = (f"{failed} record(s) failed and {unknown} have an unknown outcome; "
                       f"see {where}. Set allow_failures to exit 0 anyway.")
            self.logger.error(message)
            sys.exit(1)


def main() -> None:
    """The console script: bad input files, Exact's errors and a stopped run end with one
    clear ``error:`` line and exit status 1."""
    run(_cli)


def _cli() -> None:
    try:
        TargetExactOnline.cli()
    except TargetStopped as stop:
        print(f"error: {stop}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
