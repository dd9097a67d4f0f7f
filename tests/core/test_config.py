"""ExactConfig: valid settings load; each invalid one gives one error naming the setting."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exact_online_core.config import REGIONS, ExactConfig
from exact_online_core.errors import ConfigError

BASE: dict[str, Any] = {"client_id": "app", "client_secret": "s3cr3t-value", "region": "nl"}


def settings(**overrides: Any) -> dict[str, Any]:
    merged = {**BASE, **overrides}
    return {key: value for key, value in merged.items() if value is not None}


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("nl", "https://start.exactonline.nl"),
        ("be", "https://start.exactonline.be"),
        ("de", "https://start.exactonline.de"),
        ("uk", "https://start.exactonline.co.uk"),
        ("us", "https://start.exactonline.com"),
        ("fr", "https://start.exactonline.fr"),
        ("es", "https://start.exactonline.es"),
    ],
)
def test_region_selects_the_regional_host(region: str, host: str) -> None:
    assert ExactConfig.from_mapping(settings(region=region)).base_url == host


def test_every_documented_region_is_known() -> None:
    assert set(REGIONS) == {"nl", "be", "de", "uk", "us", "fr", "es"}


def test_explicit_base_url_wins_over_region() -> None:
    config = ExactConfig.from_mapping(settings(base_url="http://127.0.0.1:8765/"))
    assert config.base_url == "http://127.0.0.1:8765"
    assert config.api_root == "http://127.0.0.1:8765/api/v1"
    assert config.token_url == "http://127.0.0.1:8765/api/oauth2/token"


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        pytest.param({"client_id": None}, "client_id", id="missing-client-id"),
        pytest.param({"client_secret": ""}, "client_secret", id="empty-secret"),
        pytest.param({"client_id": 12}, "client_id", id="client-id-not-string"),
        pytest.param({"region": "xx"}, "region", id="unknown-region"),
        pytest.param({"region": None}, "region", id="neither-region-nor-base-url"),
        pytest.param({"base_url": "start.exactonline.nl"}, "base_url", id="base-url-no-scheme"),
        pytest.param({"base_url": "https://x.nl/api/v1"}, "base_url", id="base-url-with-path"),
        pytest.param({"divisions": ["abc"]}, "divisions", id="division-not-a-number"),
        pytest.param({"divisions": [1, 1]}, "divisions", id="division-twice"),
        pytest.param({"divisions": {"a": 1}}, "divisions", id="divisions-not-a-list"),
        pytest.param({"redirect_uri": "not a url"}, "redirect_uri", id="bad-redirect"),
        pytest.param({"timeout": -1}, "timeout", id="negative-timeout"),
        pytest.param({"timeout": float("nan")}, "timeout", id="nan-timeout"),
        pytest.param({"timeout": float("inf")}, "timeout", id="infinite-timeout"),
        pytest.param({"max_retries": float("-inf")}, "max_retries", id="infinite-retries"),
        pytest.param({"divisions": [0]}, "divisions", id="division-zero"),
        pytest.param({"divisions": "[0]"}, "divisions", id="division-zero-in-a-string"),
        pytest.param({"divisions": "[100001"}, "divisions", id="divisions-broken-json"),
        pytest.param({"max_retries": "many"}, "max_retries", id="retries-not-a-number"),
    ],
)
def test_invalid_setting_is_named_in_the_error(overrides: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ExactConfig.from_mapping(settings(**overrides))
    assert caught.value.setting == setting
    assert f"'{setting}'" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("all", "all"),
        ("current", None),
        ([100001, "100002"], [100001, 100002]),
        ("100001, 100002", [100001, 100002]),
        ("[100001, 100002]", [100001, 100002]),
        (" ALL ", "all"),
        (100001, [100001]),
    ],
)
def test_divisions_accept_a_list_all_or_current(value: Any, expected: Any) -> None:
    assert ExactConfig.from_mapping(settings(divisions=value)).divisions == expected


def test_a_fractional_timeout_read_by_the_sdk_as_decimal_is_accepted() -> None:
    assert ExactConfig.from_mapping(settings(timeout=Decimal("2.5"))).timeout == 2.5


def test_client_secret_and_refresh_token_never_show_in_repr() -> None:
    config = ExactConfig.from_mapping(settings(refresh_token="rt-very-secret"))
    assert "s3cr3t-value" not in repr(config)
    assert "rt-very-secret" not in repr(config)
    assert config.client_secret.reveal() == "s3cr3t-value"


def test_token_store_defaults_to_a_per_app_file_in_the_home_directory() -> None:
    config = ExactConfig.from_mapping(settings(client_id="my app/1"))
    assert config.token_store == Path("~/.exact-online/tokens-my_app_1.json").expanduser()


def test_token_store_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ExactConfig.from_mapping(settings(token_store=str(tmp_path)))
    assert caught.value.setting == "token_store"
