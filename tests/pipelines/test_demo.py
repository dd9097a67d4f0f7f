"""README's first command, `./scripts/demo.sh`, run as a user runs it: CI proves it still works.

One run of the demo for the module (it takes a minute), on a free port and with every file
under a temporary directory (`--port 0 --work-dir DIR`), so it runs beside the other tests and
never touches the project's own ./output, token store or Meltano state.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import ROOT

UNIFIED_STREAMS = {
    "generic_company", "generic_contact", "generic_user", "generic_workspace",
    "accounting_invoice", "accounting_invoice_item", "accounting_invoice_line_item",
}
DEMO_TIMEOUT = 600


@dataclass(frozen=True)
class DemoRun:
    done: subprocess.CompletedProcess[str]
    output: Path

    def section(self, title: str) -> str:
        """The printed lines from the ``== title`` heading to the next heading."""
        match = re.search(rf"^== {re.escape(title)}.*?==\n(.*?)(?=^== |\Z)", self.done.stdout,
                          re.MULTILINE | re.DOTALL)
        assert match, f"the demo printed no {title!r} section:\n{self.failure()}"
        return match.group(1)

    def failure(self) -> str:
        return (f"exit {self.done.returncode}\n--- stdout\n{self.done.stdout[-4000:]}\n"
                f"--- stderr\n{self.done.stderr[-4000:]}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    work = tmp_path_factory.mktemp("demo")
    # A user's clean shell: no plugin settings or Meltano overrides from the developer's own.
    env = {key: value for key, value in os.environ.items() if not key.startswith(
        ("TAP_EXACT_ONLINE_", "TARGET_EXACT_ONLINE_", "TARGET_JSONL_", "TAP_JSONL", "MELTANO_"))}
    done = subprocess.run(
        ["./scripts/demo.sh", "--port", "0", "--work-dir", str(work)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT, check=False,
    )
    return DemoRun(done=done, output=work / "output")


@pytest.mark.slow
def test_demo_sh_exits_0_and_stops_the_sandbox(demo: DemoRun) -> None:
    assert demo.done.returncode == 0, demo.failure()
    assert f"Sandbox stopped. Output files are in {demo.output}" in demo.done.stdout


@pytest.mark.slow
def test_demo_first_run_writes_every_unified_stream_with_target_jsonl(demo: DemoRun) -> None:
    counts = {stream: int(count) for stream, count in re.findall(
        r"^ +(\w+) +(\d+) rows$", demo.section("First run"), re.MULTILINE)}
    assert set(counts) == UNIFIED_STREAMS, demo.failure()
    for stream, count in counts.items():
        assert count > 0, f"the full sync brought no {stream}"
        written = (demo.output / f"{stream}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(written) >= count, f"{stream}.jsonl holds fewer lines than the demo showed"


@pytest.mark.slow
def test_demo_second_run_brings_only_the_changes_made_between(demo: DemoRun) -> None:
    second = demo.section("Second run")
    arrived = {stream: (int(rows), int(deleted)) for stream, rows, deleted in re.findall(
        r"^ +(\w+) +(\d+) new rows \((\d+) deletions\)$", second, re.MULTILINE)}
    assert arrived == {
        "generic_company": (2, 0),      # the two renamed companies
        "generic_contact": (1, 1),      # the deleted contact, flagged
        "accounting_invoice": (1, 0),   # the invoice paid by the booked payment
        "generic_workspace": (2, 0),    # full table: both divisions on every run
    }, second
    assert second.count("(renamed)") == 2, second
    assert re.search(r"status=paid balance=0\.0$", second, re.MULTILINE), second


@pytest.mark.slow
def test_demo_write_back_creates_the_corrections_and_the_tap_then_reads_them(
    demo: DemoRun,
) -> None:
    write_back = demo.section("Write-back")
    created = re.findall(r"^ +(ext:\S+): created (\S+)$", write_back, re.MULTILINE)
    assert [key for key, _ in created] == ["ext:NEW-1", "ext:NEW-2"], write_back
    seen = re.findall(r"^ +the tap now sees company .* \((\S+)\)$", write_back, re.MULTILINE)
    assert seen == [exact_id for _, exact_id in created], write_back
