"""Where the CLI's settings come from: the config file, EXACT_ONLINE_* variables, --config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exact_online_cli import build_parser, main
from exact_online_cli._common import load_settings
from exact_online_core.errors import ConfigError


def test_environment_variables_override_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "exact.json"
    path.write_text(json.dumps({"region": "nl", "client_id": "file-id", "client_secret": "x"}))
    settings = load_settings(path, {"EXACT_ONLINE_CLIENT_SECRET": "from-env"})
    assert (settings["client_id"], settings["client_secret"]) == ("file-id", "from-env")


def test_exact_online_config_variable_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "exact.json"
    path.write_text(json.dumps({"region": "be"}))
    assert load_settings(None, {"EXACT_ONLINE_CONFIG": str(path)})["region"] == "be"


def test_no_settings_at_all_is_a_config_error_naming_config() -> None:
    with pytest.raises(ConfigError, match="--config"):
        load_settings(None, {})


def test_config_is_accepted_before_and_after_the_command() -> None:
    before = build_parser().parse_args(["--config", "a.json", "check"])
    after = build_parser().parse_args(["check", "--config", "b.json"])
    assert (str(before.config), str(after.config)) == ("a.json", "b.json")


def test_a_missing_config_file_is_an_error_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["check", "--config", str(tmp_path / "nope.json")])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("error: Invalid setting '--config'")


@pytest.mark.parametrize(
    "argv",
    [[], ["login"], ["check"], ["records"], ["proxy"], ["webhooks"], ["webhooks", "serve"],
     ["records", "generic_company", "list"]],
)
def test_every_help_has_a_description_and_examples(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "example" in out and "exact-online" in out and len(out.splitlines()) > 15
