"""One login reaching a thousand divisions (an accounting firm), each with its own limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from exact_online_sandbox.seed_finance import FINANCE_SIZES
from exact_online_sandbox.server import Sandbox

TINY = {"accounts": 2, "contacts": 1, "items": 1, "invoices": 1, "projects": 0, "deleted": 1,
        "generic": 0, **dict.fromkeys(FINANCE_SIZES, 0)}


def all_division_codes(sandbox: Sandbox, token: str) -> list[int]:
    """system/Divisions read page by page, as a client does."""
    codes: list[int] = []
    url: str | None = f"{sandbox.api_url}/100001/system/Divisions?$select=Code"
    while url:
        body = sandbox.call(token, url.split(f"{sandbox.api_url}/100001/", 1)[1]).json()["d"]
        codes += [row["Code"] for row in body["results"]]
        url = body.get("__next")
    return codes


def test_reset_with_a_thousand_divisions_lists_them_all(sandbox: Sandbox) -> None:
    # no business data (seed None): the divisions themselves are what is tested here; the
    # benchmark (benchmarks/divisions.py) syncs 1000 divisions with data
    sandbox.reset(seed=None, divisions=1000)
    token = sandbox.access_token()
    codes = all_division_codes(sandbox, token)
    assert len(codes) == len(set(codes)) == 1000
    assert codes[:2] == [100001, 100002] and 100003 not in codes
    assert codes[-1] == 101001
    assert sandbox.call(token, "crm/Accounts", division=101001).status_code == 200


def test_every_division_of_many_has_its_own_rows(sandbox: Sandbox) -> None:
    sandbox.reset(size=TINY, divisions=50)
    token = sandbox.access_token()
    for division in (100001, 100004, 100051):
        accounts = sandbox.call(token, "crm/Accounts?$select=ID,Division",
                                division=division).json()["d"]["results"]
        assert len(accounts) == 2
        assert {row["Division"] for row in accounts} == {division}


def test_each_of_many_divisions_has_its_own_minute_budget(sandbox: Sandbox) -> None:
    sandbox.reset(size=TINY, divisions=20)
    sandbox.set_limits(minutely=3)
    token = sandbox.access_token()
    statuses = [sandbox.call(token, "crm/Accounts", division=100010).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert sandbox.call(token, "crm/Accounts", division=100011).status_code == 200


def test_a_division_beyond_the_count_is_not_reachable(sandbox: Sandbox) -> None:
    sandbox.reset(size=TINY, divisions=5)
    token = sandbox.access_token()
    assert sandbox.call(token, "crm/Accounts", division=100006).status_code == 200
    response = sandbox.call(token, "crm/Accounts", division=100007)
    assert response.status_code == 403
    assert response.json()["error"]["message"]["value"] == "Forbidden - WrongDivision"


@pytest.mark.parametrize("count", [0, 20_001, "many"])
def test_reset_refuses_a_division_count_out_of_range(sandbox: Sandbox, count: object) -> None:
    response = sandbox.control.request("POST", "/reset", json={"divisions": count})
    assert response.status_code == 400
    assert "divisions" in response.json()["error"]
    assert sandbox.row_count("crm/Accounts") == 50, "nothing was wiped"


def test_a_sandbox_started_with_one_division_seeds_and_lists_only_that_one(
        tmp_path: Path) -> None:
    with Sandbox(seed=1, size=TINY, process=True, data_dir=tmp_path, divisions=1) as sb:
        token = sb.access_token()
        assert all_division_codes(sb, token) == [100001]
        assert sb.row_count("crm/Accounts", 100001) == 2
        assert sb.row_count("crm/Accounts", 100002) == 0
