"""What every sink of one run shares: the core API, the ledger, the results file, divisions.

Built at the first SCHEMA message. In a dry run no :class:`ExactOnline` is built at all, so
nothing talks HTTP (not even the token endpoint), and the ledger is opened read-only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exact_online_core.config import ExactConfig
from exact_online_core.mappings import (
    CustomStream,
    FieldMapping,
    parse_custom_streams,
    parse_field_mappings,
)
from target_exact_online.errors import TargetStopped
from target_exact_online.guard import DEFAULT_LIMIT
from target_exact_online.ledger import Ledger
from target_exact_online.results import ResultsFile
from target_exact_online.streams import StreamSpec, resolve_stream
from target_exact_online.writer import RecordWriter

if TYPE_CHECKING:
    from exact_online_core.api import ExactOnline


class WriteContext:
    def __init__(self, config: Mapping[str, Any], *, results_path: Path, ledger_path: Path,
                 logger: logging.Logger, line: Callable[[], int | None] = lambda: None) -> None:
        self.config = config
        self.logger = logger
        self.line = line
        """The input line being processed (for results and messages)."""
        self.dry_run = bool(config.get("dry_run"))
        self.exact_config = ExactConfig.from_mapping(config)
        self.field_mappings: dict[str, tuple[FieldMapping, ...]] = parse_field_mappings(
            config.get("field_mappings"))
        self.custom_streams: tuple[CustomStream, ...] = parse_custom_streams(
            config.get("custom_streams"))
        self.external_id: str | None = config.get("external_id") or None
        try:
            self.results = ResultsFile(results_path, dry_run=self.dry_run)
        except OSError as exc:
            raise TargetStopped(f"results file {results_path} cannot be written: "
                                f"{exc.strerror or exc}") from None
        try:
            self.ledger = Ledger(ledger_path, read_only=self.dry_run, owner=self.results.run_id)
        except TargetStopped:
            self.results.close()
            raise
        self.api: ExactOnline | None = None
        if not self.dry_run:
            from exact_online_core.api import ExactOnline

            self.api = ExactOnline(self.exact_config,
                                   field_mappings=config.get("field_mappings"),
                                   custom_streams=config.get("custom_streams"))
        limit = config.get("error_limit")
        self.writer = RecordWriter(self.api, self.ledger, dry_run=self.dry_run, logger=logger,
                                   error_limit=DEFAULT_LIMIT if limit is None else int(limit))
        self._default_division: int | None = None
        self._division_known = False
        mode = "DRY RUN: nothing is written, " if self.dry_run else ""
        logger.info("%sresults: %s, ledger: %s", mode, results_path, ledger_path)

    def spec(self, stream_name: str) -> StreamSpec:
        return resolve_stream(stream_name, self.field_mappings, self.custom_streams)

    @property
    def allowed_divisions(self) -> Collection[int] | None:
        divisions = self.exact_config.divisions
        return divisions if isinstance(divisions, list) else None

    @property
    def default_division(self) -> int | None:
        """The first configured division, else the user's current division (one call)."""
        if not self._division_known:
            divisions = self.exact_config.divisions
            if isinstance(divisions, list) and divisions:
                self._default_division = divisions[0]
            elif self.api is not None:
                self._default_division = self.api.client.current_division()
            self._division_known = True
        return self._default_division

    def close(self) -> None:
        self.results.close()
        self.ledger.close()
        if self.api is not None:
            self.api.close()
            self.api = None
