"""token_store: "postgresql://...": the file store's guarantees, in a row locked FOR UPDATE."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exact_online_core.auth import TokenBroker, broker_from_config
from exact_online_core.config import DatabaseLocation, ExactConfig
from exact_online_core.errors import AuthError, ConfigError
from exact_online_core.secrets import Secret
from exact_online_core.token_store import TokenSet, open_token_store
from exact_online_core.token_store_postgres import TABLE, PostgresTokenStore
from exact_online_sandbox.server import Sandbox

from .conftest import Server


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=None) as sb:
        yield sb


def settings(sandbox: Sandbox, token_store: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": sandbox.base_url, "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret, "token_store": token_store, **extra}


def store_of(url: str, row: str = "sandbox-client", **kwargs: Any) -> PostgresTokenStore:
    location = ExactConfig.from_mapping({"base_url": "http://127.0.0.1:1", "client_id": row,
                                          "client_secret": "x", "token_store": url}).token_store
    assert isinstance(location, DatabaseLocation)
    return PostgresTokenStore(location, row=row, **kwargs)


def tokens(refresh: str = "r1", access: str | None = "a1", issued_at: float = 0.0) -> TokenSet:
    return TokenSet(refresh_token=Secret(refresh),
                    access_token=Secret(access) if access else None,
                    issued_at=issued_at, client_id="sandbox-client", origin="login")


def row(url: str, name: str = "sandbox-client") -> Any:
    with psycopg.connect(url) as conn:
        found = conn.execute(f"SELECT tokens FROM {TABLE} WHERE name = %s", (name,)).fetchone()
    return None if found is None else found[0]


# -- configuration -------------------------------------------------------------------------


def test_a_postgresql_url_selects_the_database_store(token_db: str) -> None:
    config = ExactConfig.from_mapping({"region": "nl", "client_id": "app", "client_secret": "x",
                                        "token_store": token_db})
    store = open_token_store(config.token_store, client_id=config.client_id)
    assert isinstance(store, PostgresTokenStore)
    assert store.row == "app"


def test_the_url_fragment_names_the_row(token_db: str) -> None:
    config = ExactConfig.from_mapping({"region": "nl", "client_id": "app", "client_secret": "x",
                                        "token_store": f"{token_db}#firm-a"})
    store = open_token_store(config.token_store, client_id=config.client_id)
    assert isinstance(store, PostgresTokenStore) and store.row == "firm-a"


def test_the_store_is_shown_without_its_password() -> None:
    store = store_of("postgresql://etl:pa%24%24-4711@db.example:5433/exact?sslmode=require#a")
    shown = f"{store} {store!r} {store.location} {store.location!r}"
    assert "pa%24%24-4711" not in shown and "pa$$-4711" not in shown
    assert str(store) == ("postgresql://etl@db.example:5433/exact "
                          "(table exact_online_tokens, row sandbox-client)")


def test_a_url_of_another_database_kind_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        ExactConfig.from_mapping({"region": "nl", "client_id": "app", "client_secret": "x",
                                   "token_store": "mysql://user:hunter2@db/exact"})
    assert caught.value.setting == "token_store"
    assert "postgresql://" in str(caught.value) and "hunter2" not in str(caught.value)


def test_missing_psycopg_is_an_error_naming_the_extra(
        token_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError) as caught:
        store_of(token_db).read()
    assert caught.value.setting == "token_store"
    assert "tap-exact-online[postgres]" in str(caught.value)


def test_an_unreachable_server_is_a_clear_error_without_the_password(pg_server: Server) -> None:
    url = f"postgresql://{pg_server.user}:s3cr3t-pw@127.0.0.1:1/nothing"
    with pytest.raises(ConfigError) as caught:
        store_of(url).read()
    message = str(caught.value)
    assert caught.value.setting == "token_store"
    assert "127.0.0.1:1/nothing cannot be used while connecting" in message
    assert "s3cr3t-pw" not in message


def test_a_wrong_password_is_a_clear_error_without_the_password(pg_server: Server) -> None:
    url = f"postgresql://{pg_server.user}:wrong-pw-4711@{pg_server.host}:{pg_server.port}/x"
    with pytest.raises(ConfigError) as caught:
        store_of(url).read()
    assert "password authentication failed" in str(caught.value)
    assert "wrong-pw-4711" not in str(caught.value)


# -- reading, writing, locking -------------------------------------------------------------


def test_an_empty_store_reads_none(token_db: str) -> None:
    store = store_of(token_db)
    assert store.read() is None
    with store.lock():
        assert store.read() is None


def test_written_tokens_read_back(token_db: str) -> None:
    store_of(token_db).write(tokens("r-1", "a-1", 12.5))
    again = store_of(token_db).read()
    assert again == tokens("r-1", "a-1", 12.5)


def test_logins_in_one_database_keep_their_own_rows(token_db: str) -> None:
    store_of(token_db, row="firm-a").write(tokens("ra"))
    store_of(token_db, row="firm-b").write(tokens("rb"))
    first, second = store_of(token_db, row="firm-a").read(), store_of(token_db, row="firm-b").read()
    assert first is not None and first.refresh_token.reveal() == "ra"
    assert second is not None and second.refresh_token.reveal() == "rb"


def test_a_write_under_the_lock_is_committed_when_the_lock_is_released(token_db: str) -> None:
    store = store_of(token_db)
    with store.lock():
        store.write(tokens("r-new"))
        assert row(token_db) is None, "not visible to others before the lock is released"
        assert store.read() == tokens("r-new")
    assert row(token_db)["refresh_token"] == "r-new"


def test_a_failure_after_a_write_still_commits_the_new_tokens(token_db: str) -> None:
    store = store_of(token_db)
    with pytest.raises(RuntimeError), store.lock():
        store.write(tokens("r-issued"))
        raise RuntimeError("what came after the refresh failed")
    assert row(token_db)["refresh_token"] == "r-issued"


def test_the_lock_excludes_other_processes_until_released(token_db: str) -> None:
    holder, waiter = store_of(token_db), store_of(token_db, lock_timeout=30)
    entered = threading.Event()
    released_at: list[float] = []

    def wait_for_lock() -> None:
        with waiter.lock():
            entered.set()
            released_at.append(time.monotonic())

    with holder.lock():
        thread = threading.Thread(target=wait_for_lock)
        thread.start()
        assert not entered.wait(0.5)
        leaving = time.monotonic()
    thread.join(timeout=30)
    assert entered.is_set() and released_at[0] >= leaving


def test_waiting_longer_than_the_lock_timeout_is_an_error_naming_the_store(token_db: str) -> None:
    holder, waiter = store_of(token_db), store_of(token_db, lock_timeout=0.3)
    with holder.lock(), pytest.raises(AuthError) as caught, waiter.lock():
        pass
    assert "Timed out waiting for the token store lock" in str(caught.value)
    assert f"table {TABLE}, row sandbox-client" in str(caught.value)


def test_a_row_that_is_no_token_object_is_a_clear_error(token_db: str) -> None:
    store_of(token_db).write(tokens())
    with psycopg.connect(token_db) as conn:
        conn.execute(f"UPDATE {TABLE} SET tokens = '[1, 2]'::jsonb")
    with pytest.raises(AuthError) as caught:
        store_of(token_db).read()
    assert "does not hold a valid token object" in str(caught.value)
    assert "exact-online login" in str(caught.value)


KILL_AFTER_WRITE = """
import os, signal, sys
from exact_online_core.config import ExactConfig
from exact_online_core.secrets import Secret
from exact_online_core.token_store import TokenSet
from exact_online_core.token_store_postgres import PostgresTokenStore
location = ExactConfig.from_mapping({"region": "nl", "client_id": "sandbox-client",
    "client_secret": "x", "token_store": sys.argv[1]}).token_store
store = PostgresTokenStore(location, row="sandbox-client")
with store.lock():
    store.write(TokenSet(refresh_token=Secret("r-lost"), client_id="sandbox-client"))
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_process_killed_holding_the_lock_leaves_the_row_as_before_and_unlocked(
        token_db: str) -> None:
    store_of(token_db).write(tokens("r-before"))
    done = subprocess.run([sys.executable, "-c", KILL_AFTER_WRITE, token_db],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL and done.stdout == "written\n", done.stderr
    store = store_of(token_db, lock_timeout=5)
    with store.lock():
        kept = store.read()
    assert kept is not None and kept.refresh_token.reveal() == "r-before"


# -- the broker over the database store, against the sandbox -----------------------------


def test_processes_sharing_the_row_refresh_once_and_reuse_the_token(
        sandbox: Sandbox, token_db: str) -> None:
    seed = sandbox.mint_refresh_token()
    config = ExactConfig.from_mapping(settings(sandbox, token_db, refresh_token=seed))
    sandbox.clear_calls()
    first, second = broker_from_config(config), broker_from_config(config)
    token = first.access_token()
    assert second.access_token() == token
    assert sandbox.calls()["by_endpoint_status"]["POST oauth2/token"] == {"200": 1}
    assert row(token_db)["access_token"] == token


def test_an_expired_token_is_refreshed_under_the_lock_by_one_broker(
        sandbox: Sandbox, token_db: str) -> None:
    seed = sandbox.mint_refresh_token()
    config = ExactConfig.from_mapping(settings(sandbox, token_db, refresh_token=seed))
    clock = [time.time()]
    brokers = [broker_from_config(config, clock=lambda: clock[0]) for _ in range(4)]
    first = brokers[0].access_token()
    sandbox.clear_calls()
    sandbox.advance_clock(600)
    clock[0] += 600
    threads = [threading.Thread(target=b.after_unauthorized, args=(first,)) for b in brokers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sandbox.calls()["by_endpoint_status"]["POST oauth2/token"] == {"200": 1}
    assert len({b.access_token() for b in brokers}) == 1


def test_threads_sharing_one_broker_take_the_row_lock_in_turn(
        sandbox: Sandbox, token_db: str) -> None:
    """The tap reads divisions in parallel threads through one broker: a thread that finds
    the row locked by another thread of its process waits for it, as for another process."""
    seed = sandbox.mint_refresh_token()
    config = ExactConfig.from_mapping(settings(sandbox, token_db, refresh_token=seed))
    clock = [time.time()]
    broker = broker_from_config(config, clock=lambda: clock[0])
    first = broker.access_token()
    sandbox.clear_calls()
    sandbox.advance_clock(600)
    clock[0] += 600
    # The refresh takes a second: the other threads come while the first holds the row.
    sandbox.inject_fault("*/oauth2/token", method="POST", kind="delay", seconds=1)
    results: list[str] = []
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            results.append(broker.after_unauthorized(first))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    threads[0].start()
    deadline = time.monotonic() + 30
    while sandbox.control.get("/faults")["faults"][0]["remaining"] > 0:
        assert time.monotonic() < deadline, "the first thread never reached the token endpoint"
        time.sleep(0.02)
    for thread in threads[1:]:  # while the first thread holds the row
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sandbox.calls()["by_endpoint_status"]["POST oauth2/token"] == {"200": 1}
    assert len(set(results)) == 1 and results[0] != first


def test_a_thread_reading_outside_the_lock_sees_the_committed_row_not_another_threads(
        token_db: str) -> None:
    store = store_of(token_db)
    store.write(tokens("r-committed"))
    seen: list[TokenSet | None] = []
    with store.lock():
        store.write(tokens("r-not-yet-committed"))
        reader = threading.Thread(target=lambda: seen.append(store.read()))
        reader.start()
        reader.join(timeout=30)
    assert seen[0] is not None and seen[0].refresh_token.reveal() == "r-committed"


def test_a_broker_killed_while_its_refresh_is_in_flight_is_followed_without_a_login(
        sandbox: Sandbox, token_db: str) -> None:
    seed = sandbox.mint_refresh_token()
    sandbox.clear_calls()
    sandbox.inject_fault("*/oauth2/token", method="POST", kind="delay", seconds=2)
    code = ("import sys; from exact_online_core.auth import broker_from_config; "
            "from exact_online_core.config import ExactConfig; "
            "broker_from_config(ExactConfig.from_mapping(__import__('json').loads(sys.argv[1])))"
            ".access_token()")
    dying = subprocess.Popen([sys.executable, "-c", code,
                              json.dumps(settings(sandbox, token_db, refresh_token=seed))])
    deadline = time.monotonic() + 30
    while sandbox.control.get("/faults")["faults"][0]["remaining"] > 0:
        assert time.monotonic() < deadline, "the process never sent its refresh"
        time.sleep(0.02)
    os.kill(dying.pid, signal.SIGKILL)
    dying.wait(timeout=10)
    while "POST oauth2/token" not in sandbox.calls()["by_endpoint_status"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)  # Exact answers (and rotates) although nobody reads the answer
    survivor = broker_from_config(
        ExactConfig.from_mapping(settings(sandbox, token_db, refresh_token=seed)))
    token = survivor.access_token()
    assert sandbox.call(token, "current/Me", division=None).status_code == 200
    assert sandbox.calls()["by_endpoint_status"]["POST oauth2/token"] == {"200": 2}


def test_tokens_not_committed_are_never_used(
        sandbox: Sandbox, token_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = sandbox.mint_refresh_token()
    broker = broker_from_config(
        ExactConfig.from_mapping(settings(sandbox, token_db, refresh_token=seed)))
    assert isinstance(broker, TokenBroker)
    assert broker.store.read() is None  # the table exists

    def broken_commit(self: Any) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(psycopg.Connection, "commit", broken_commit)
    with pytest.raises(ConfigError) as caught:
        broker.access_token()
    assert "cannot be used while holding the token row" in str(caught.value)
    monkeypatch.undo()
    assert broker._cached is None, "the uncommitted access token is not kept"
    assert row(token_db) is None


def test_the_password_never_reaches_the_logs(
        sandbox: Sandbox, token_db: str, pg_server: Server,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seed = sandbox.mint_refresh_token()
    config = ExactConfig.from_mapping(settings(sandbox, token_db, refresh_token=seed))
    broker_from_config(config).access_token()
    assert "Refreshed the Exact Online access token" in caplog.text
    in_url = f"{pg_server.user}:{pg_server.password}@"
    assert in_url not in caplog.text
    assert in_url not in repr(config) and in_url not in str(config)


def test_login_writes_the_database_row_and_says_where_without_the_password(
        token_db: str, tmp_path: Path, pg_server: Server) -> None:
    with Sandbox(seed=None) as sb:  # a login needs no rows
        redirect = sb.redirect_uri
        config = tmp_path / "exact.json"
        config.write_text(json.dumps(settings(sb, token_db, redirect_uri=redirect)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXACT_ONLINE_")}
        done = subprocess.run(
            [sys.executable, "-m", "exact_online_cli", "login", "--config", str(config),
             "--auto-consent"], capture_output=True, text=True, timeout=120, env=env,
            check=False)
    assert done.returncode == 0, done.stderr
    where = (f"Tokens stored in postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}"
             f"/{token_db.rsplit('/', 1)[1]} (table {TABLE}, row sandbox-client)")
    assert where in done.stdout
    stored = row(token_db)
    assert stored["origin"] == "login"
    output = done.stdout + done.stderr
    assert stored["refresh_token"] not in output and stored["access_token"] not in output
    assert f"{pg_server.user}:{pg_server.password}@" not in output
