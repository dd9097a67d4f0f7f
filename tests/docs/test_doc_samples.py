"""The terminal samples of README.md and docs/cli.md are what the commands really print."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_samples import Sample, match, samples

from exact_online_sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[2]
DOCS = {"README.md": 3, "docs/cli.md": 3}
"""Each doc and how many checked samples it has at least (a lost marker fails)."""
SAMPLES = [sample for doc in DOCS for sample in samples(ROOT / doc)]
DOC_PORT = "127.0.0.1:8765"
DOC_HOME = "/home/me"


def documented_config(doc: Path) -> dict[str, object]:
    """The ``exact.json`` a doc shows before its samples."""
    text = doc.read_text(encoding="utf-8")
    found = re.search(r"this `exact\.json`:\s*```json\n(.*?)```", text, re.DOTALL)
    assert found, f"{doc}: no exact.json block"
    config: dict[str, object] = json.loads(found.group(1))
    return config


class Terminal:
    """A shell in a fresh directory and HOME, logged in to a fresh sandbox."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path, doc: Path) -> None:
        self.sandbox = sandbox
        self.home = tmp_path / "home"
        self.cwd = tmp_path / "work"
        self.home.mkdir()
        self.cwd.mkdir()
        self.port = sandbox.base_url.removeprefix("http://")
        config = documented_config(doc)
        assert config["base_url"] == f"http://{DOC_PORT}"
        config["base_url"] = sandbox.base_url
        reader = {**config, "client_id": "sandbox-crm-reader", "divisions": [100001],
                  "token_store": "~/.exact-online/reader-tokens.json"}
        for name, content in (("exact.json", config), ("reader.json", reader)):
            (self.cwd / name).write_text(json.dumps(content))
            status, output = self.run(f"exact-online login --config {name} --auto-consent")
            assert status == 0, output

    @property
    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("EXACT_ONLINE_")}
        return {**keep, "HOME": str(self.home), "PYTHONUNBUFFERED": "1",
                "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def run(self, command: str) -> tuple[int, list[str]]:
        done = subprocess.run(["bash", "-c", command], cwd=self.cwd, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=120, check=False)
        text = done.stdout.replace(self.port, DOC_PORT).replace(str(self.home), DOC_HOME)
        return done.returncode, [line.rstrip() for line in text.splitlines()]


@pytest.fixture
def terminal(sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[
        Terminal]:
    yield Terminal(sandbox, tmp_path, request.node.callspec.params["sample"].doc)


@pytest.mark.parametrize("doc", list(DOCS))
def test_doc_has_its_checked_samples(doc: str) -> None:
    assert len([s for s in SAMPLES if s.doc == ROOT / doc]) >= DOCS[doc]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.id for s in SAMPLES])
def test_sample_prints_what_the_doc_shows(sample: Sample, terminal: Terminal) -> None:
    guids: dict[str, str] = {}
    status = 0
    for step in sample.steps:
        command = step.command.replace("$?", str(status))
        for documented, real in guids.items():
            command = command.replace(documented, real)
        status, actual = terminal.run(command)
        found = match(step.expected, actual, guids)
        assert found is not None, (
            f"{sample.id}: `$ {step.command}` printed\n" + "\n".join(actual)
            + "\n\nwhere the doc shows\n" + "\n".join(step.expected))
        guids = found
