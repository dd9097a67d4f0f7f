"""Fuzzing the CLI's inputs (hypothesis): config files, token stores, arguments and --data.

Every run of ``exact-online`` in process, against the sandbox on loopback, must end with
exit 0, or exit 1 and exactly one ``error:`` line, or argparse's usage error (exit 2):
never a traceback, never the "unexpected" line of a bug, never a token on the screen.
stdout and stderr are strict UTF-8 like a real terminal. Over 1000 cases in all.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from exact_online_cli import main
from exact_online_sandbox.server import Sandbox

FUZZ = settings(max_examples=260, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
SETTINGS = ("region", "base_url", "client_id", "client_secret", "redirect_uri",
            "refresh_token", "token_store", "divisions", "timeout", "max_retries",
            "webhook_secret", "field_mappings", "custom_streams", "user_agent")


class World:
    """The sandbox and a logged-in token store every generated case may use."""

    def __init__(self, sandbox: Sandbox, root: Path) -> None:
        self.sandbox, self.root = sandbox, root
        self.store = root / "tokens.json"
        self.cases = 0
        self.settings: dict[str, Any] = {
            "base_url": sandbox.base_url, "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret, "redirect_uri": sandbox.redirect_uri,
            "refresh_token": sandbox.mint_refresh_token(), "token_store": str(self.store),
            "divisions": [100001], "max_retries": 1, "timeout": 30,
            "webhook_secret": "sandbox-webhook-secret",
        }

    def secrets(self) -> set[str]:
        found = {self.sandbox.client_secret}
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stored = json.loads(self.store.read_text())
            found |= {stored.get("access_token") or "", stored.get("refresh_token") or ""}
        return found - {""}

    def write(self, name: str, content: str | bytes) -> Path:
        self.cases += 1
        path = self.root / f"{self.cases}-{name}"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with Sandbox(seed=42) as sandbox:
        # generated bad input draws many refusals per endpoint: not about the error block
        sandbox.set_limits(minutely=10**6, daily=10**7, token_daily=10**6, errors_hourly=10**6)
        yield World(sandbox, tmp_path_factory.mktemp("cli-fuzz"))


def run_cli(world: World, argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """``exact-online ARGV`` in process, with strict UTF-8 stdout/stderr; checks the outcome."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="strict", write_through=True)
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8", errors="strict")
    sys.stdout, sys.stderr = out, err
    # Relative and ~ paths (token stores, logs) land in the fuzz directory, never elsewhere.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(world.root)
        patch.setenv("HOME", str(world.root))
        for name in [name for name in os.environ if name.startswith("EXACT_ONLINE_")]:
            patch.delenv(name)
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
            assert status in (0, 2), f"exit {exit_.code!r} for {argv!r}"
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved
    stdout, stderr = out_bytes.getvalue().decode(), err_bytes.getvalue().decode()
    context = f"argv={argv!r}\nstderr={stderr[-800:]!r}"
    assert "Traceback" not in stderr and "Traceback" not in stdout, context
    assert "error: unexpected" not in stderr, context
    if status == 1:
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, context
    elif status == 2:
        assert "usage:" in stderr, context
    else:
        assert status == 0, context
    event(f"exit {status}")
    for secret in world.secrets():
        assert secret not in stdout and secret not in stderr, "a secret was printed: " + context
    return status, stdout, stderr


# -- strategies ---------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["", " ", "all", "current", "nl", "xx", "100001", "100001, 100002", "-1", "0", "NaN",
     "~/x", "/", "\ud800", "http://", "ftp://x", "http://127.0.0.1:9", "crm/Accounts"])
NUMBER = st.integers(-3, 10**20) | st.floats(allow_nan=True, allow_infinity=True)
SCALAR = st.none() | st.booleans() | NUMBER | TEXT
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)


@st.composite
def configs(draw: st.DrawFn, world_settings: dict[str, Any]) -> dict[str, Any]:
    """Mostly a working config with a few settings replaced, removed or added."""
    config = dict(world_settings)
    for name in draw(st.lists(st.sampled_from(SETTINGS), max_size=4, unique=True)):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            config.pop(name, None)
        else:
            config[name] = draw(JSON)
    if config.get("base_url") not in (world_settings["base_url"], None) or "base_url" not in \
            config:
        # Never Exact itself (nor a closed port: only slow, by the token endpoint's retries).
        config["base_url"] = draw(st.sampled_from(["not a url", 5, "ftp://127.0.0.1",
                                                   "https://start.exactonline.nl/api/v1"]))
    number = config.get("timeout")
    if isinstance(number, int | float) and not isinstance(number, bool) and 0 < number < 5:
        config["timeout"] = 5  # a tiny timeout would only make the case slow (retries)
    retries = config.get("max_retries")
    if isinstance(retries, int | float) and not isinstance(retries, bool) and retries > 2:
        config["max_retries"] = -1
    return config


COMMANDS = st.sampled_from([
    ["check"], ["proxy", "GET", "current/Me"], ["proxy", "GET", "crm/Accounts?$top=1"],
    ["records", "generic_company", "list", "--limit", "1"], ["webhooks", "list"],
])


# -- the fuzz tests -------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_any_config_file_ends_in_a_result_or_one_error_line(world: World,
                                                            data: st.DataObject) -> None:
    config = data.draw(configs(world.settings))
    as_text = data.draw(st.sampled_from(["json", "json", "json", "broken", "bytes", "array"]))
    if as_text == "json":
        content: str | bytes = json.dumps(config)
    elif as_text == "broken":
        content = json.dumps(config)[: data.draw(st.integers(0, 40))]
    elif as_text == "array":
        content = json.dumps([config])
    else:
        content = data.draw(st.binary(max_size=60))
    path = world.write("config.json", content)
    run_cli(world, [*data.draw(COMMANDS), "--config", str(path)])


ARGS = st.sampled_from([
    "check", "proxy", "records", "webhooks", "login", "GET", "POST", "PUT", "DELETE", "get",
    "list", "create", "update", "delete", "subscribe", "unsubscribe", "generic_company",
    "generic_user", "generic_workspace", "accounting_invoice", "nope", "current/Me",
    "crm/Accounts", "/api/v1/../oauth2/token", "crm/%2e%2e/x", "--data", "--division",
    "--limit", "--since", "--filter", "--properties", "--array", "--all", "--model",
    "--callback-url", "--id", "--paste", "--auto-consent", "--force-login", "--timeout",
    "-v", "0", "-1", "100001", "100003", "12345", "2024-01-01T00:00:00Z", "notadate",
    "Name eq 'x'", "Name eq", "{}", "[]", '{"name": "Fuzz BV"}', "null", "@/nonexistent",
    "https://hooks.example/x", "ID,Name", "1e400",
]) | TEXT


SKELETONS = [
    ["check"], ["check", "--division", "100001"], ["proxy", "GET", "current/Me"],
    ["proxy", "GET", "crm/Accounts", "--all"], ["proxy", "DELETE", "crm/Accounts(guid'x')"],
    ["records", "generic_company", "list", "--limit", "2"],
    ["records", "generic_user", "list", "--since", "2024-01-01T00:00:00Z"],
    ["records", "generic_contact", "list", "--since", "12345", "--array"],
    ["records", "generic_company", "get", "5d4a3b2c-0000-4000-8000-000000000001"],
    ["records", "generic_company", "delete", "5d4a3b2c-0000-4000-8000-000000000001"],
    ["webhooks", "list", "--model", "generic_company"],
    ["webhooks", "subscribe", "--model", "generic_company", "--callback-url",
     "https://hooks.example/x"],
    ["webhooks", "unsubscribe", "--id", "5d4a3b2c-0000-4000-8000-000000000001"],
    ["login", "--paste"],
]


@st.composite
def arguments(draw: st.DrawFn) -> list[str]:
    """A real command with a few of its words replaced or inserted (or random words)."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(ARGS, min_size=1, max_size=7))
    argv = list(draw(st.sampled_from(SKELETONS)))
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(argv)))
        if draw(st.booleans()) and position < len(argv):
            argv[position] = draw(ARGS)
        else:
            argv.insert(position, draw(ARGS))
    return argv


@FUZZ
@given(args=arguments(), stdin=st.binary(max_size=40))
def test_any_arguments_end_in_a_result_a_usage_error_or_one_error_line(
    world: World, args: list[str], stdin: bytes
) -> None:
    if args[0] == "login" and "--paste" not in args:
        args = [*args, "--paste"]  # never a listener waiting for a browser
    config = world.write("config.json", json.dumps(world.settings))
    run_cli(world, [*args, "--config", str(config)], stdin)


DATA = (JSON.map(json.dumps)
        | st.text(max_size=40)
        | st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth)
        | st.integers(1, 5000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth)
        | st.sampled_from(['"\\ud800"', '{"name": "\\udc00x"}', '{"name": "a\\u0000b"}',
                           '{"code": ' + "9" * 5000 + "}", "NaN", '{"name": Infinity}']))


@FUZZ
@given(data=DATA, target=st.sampled_from([
    ["proxy", "POST", "crm/Accounts"], ["proxy", "PUT", "crm/Accounts(guid'00000000-0000-0000-"
                                        "0000-000000000000')"],
    ["records", "generic_company", "create"], ["records", "generic_contact", "create"],
    ["records", "accounting_invoice_item", "create"],
    ["records", "generic_company", "update", "00000000-0000-0000-0000-000000000000"],
]), how=st.sampled_from(["inline", "file", "stdin"]))
def test_any_data_ends_in_a_result_or_one_error_line(
    world: World, data: str, target: list[str], how: str
) -> None:
    config = world.write("config.json", json.dumps(world.settings))
    stdin = b""
    if how == "inline":
        argv = [*target, "--data", data]
    elif how == "file":
        argv = [*target, "--data", "@" + str(world.write("data.json", data.encode(
            "utf-8", "surrogatepass")))]
    else:
        argv = [*target, "--data", "-"]
        stdin = data.encode("utf-8", "surrogatepass")
    run_cli(world, [*argv, "--config", str(config)], stdin)


STORE_CONTENT = (JSON.map(json.dumps) | st.binary(max_size=60)
                 | st.fixed_dictionaries({"refresh_token": JSON}, optional={
                     "access_token": JSON, "issued_at": JSON, "expires_in": JSON,
                     "client_id": JSON, "origin": JSON, "used_seeds": JSON}).map(json.dumps))


@FUZZ
@given(content=STORE_CONTENT, command=COMMANDS)
def test_any_token_store_content_ends_in_a_result_or_one_error_line(
    world: World, content: str | bytes, command: list[str]
) -> None:
    store = world.write("store.json", content)
    config = world.write("config.json", json.dumps({**world.settings,
                                                    "token_store": str(store)}))
    run_cli(world, [*command, "--config", str(config)])
