"""The console script's start: the collector's settings for a process that makes millions of
short-lived objects, and what lives as long as the process out of the collector's way."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import tap_exact_online
from tap_exact_online import GC_THRESHOLDS, tap


@pytest.fixture
def at_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The collector's state when the console script starts the SDK's command."""
    seen: dict[str, Any] = {}

    def run(*args: Any, **kwargs: Any) -> None:
        seen.update(frozen=gc.get_freeze_count(), thresholds=gc.get_threshold())

    monkeypatch.setattr(tap, "run", run)
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield seen
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_console_script_freezes_the_objects_imported_before_the_run(
    at_run: dict[str, Any],
) -> None:
    tap_exact_online.main()
    assert at_run["frozen"] > 0, "the imported objects are frozen"
    assert at_run["thresholds"] == GC_THRESHOLDS


def test_the_console_script_sets_the_thresholds_before_the_sdk_is_imported() -> None:
    # a fresh interpreter: the first thresholds set, and whether the SDK was imported then
    probe = ("import sys, tap_exact_online as t\n"
             "def first(*a):\n"
             "    print(int('singer_sdk' in sys.modules), *a); sys.exit(0)\n"
             "t.gc.set_threshold = first\n"
             "t.main()")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["0", *map(str, GC_THRESHOLDS)], done.stdout
