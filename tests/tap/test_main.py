"""The console script's start: what lives as long as the process is out of the collector's way."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from tap_exact_online import tap


def test_the_console_script_freezes_the_objects_imported_before_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen_at_run: list[int] = []

    def run(*args: Any, **kwargs: Any) -> None:
        frozen_at_run.append(gc.get_freeze_count())

    monkeypatch.setattr(tap, "run", run)
    gc.unfreeze()
    try:
        tap.main()
    finally:
        gc.unfreeze()
    assert frozen_at_run and frozen_at_run[0] > 0, "the imported objects are frozen"
