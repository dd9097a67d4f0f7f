"""Token store and broker: atomic 0600 files, the 570 s rule, rotation, re-login errors."""

from __future__ import annotations

import json
import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_mock as rm
from werkzeug.wrappers import Response

from exact_online_core.auth import FileTokenStore, TokenBroker, TokenSet, fingerprint
from exact_online_core.errors import AuthError, ConfigError, LoginRequiredError
from exact_online_core.secrets import Secret

from .loopback import serve

TOKEN_URL = "https://start.exactonline.nl/api/oauth2/token"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_answer(n: int) -> dict[str, Any]:
    return {
        "access_token": f"gAAAA-access-{n}",
        "token_type": "bearer",
        "expires_in": "600",
        "refresh_token": f"rt!{n}",
    }


@pytest.fixture
def store(tmp_path: Path) -> FileTokenStore:
    return FileTokenStore(tmp_path / "tokens" / "store.json")


def make_broker(store: FileTokenStore, clock: FakeClock, seed: str | None = "rt!0") -> TokenBroker:
    return TokenBroker(
        store=store,
        token_url=TOKEN_URL,
        client_id="app",
        client_secret=Secret("client-secret-xyz"),
        initial_refresh_token=Secret(seed) if seed else None,
        session=requests.Session(),
        clock=clock,
        sleep=lambda _seconds: None,
    )


def test_store_file_is_written_with_mode_0600(store: FileTokenStore) -> None:
    store.write(TokenSet(refresh_token=Secret("rt!1")))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_store_write_leaves_no_temporary_files(store: FileTokenStore) -> None:
    store.write(TokenSet(refresh_token=Secret("rt!1")))
    store.write(TokenSet(refresh_token=Secret("rt!2")))
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["store.json"]


def test_store_round_trips_a_token_set(store: FileTokenStore) -> None:
    tokens = TokenSet(
        refresh_token=Secret("rt!1"), access_token=Secret("a1"), issued_at=5.0, client_id="app"
    )
    store.write(tokens)
    assert store.read() == tokens


def test_corrupt_store_gives_a_clear_error_naming_the_file(store: FileTokenStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(AuthError, match=str(store.path)):
        store.read()


def test_empty_store_is_seeded_from_the_configured_refresh_token(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    sent = requests_mock.post(TOKEN_URL, json=token_answer(1))
    broker = make_broker(store, FakeClock())
    assert broker.access_token() == "gAAAA-access-1"
    assert "refresh_token=rt%210" in sent.last_request.text


def test_rotated_refresh_token_is_persisted_before_use(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_answer(1))
    make_broker(store, FakeClock()).access_token()
    stored = json.loads(store.path.read_text())
    assert stored["refresh_token"] == "rt!1"
    assert stored["access_token"] == "gAAAA-access-1"


def test_access_token_is_reused_until_570_seconds_old(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    endpoint = requests_mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
    clock = FakeClock()
    broker = make_broker(store, clock)
    broker.access_token()
    clock.now += 569
    assert broker.access_token() == "gAAAA-access-1"
    assert endpoint.call_count == 1
    clock.now += 1
    assert broker.access_token() == "gAAAA-access-2"
    assert endpoint.call_count == 2


def test_seed_is_used_once_then_ignored(store: FileTokenStore, requests_mock: rm.Mocker) -> None:
    endpoint = requests_mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
    clock = FakeClock()
    make_broker(store, clock).access_token()
    clock.now += 600
    make_broker(store, clock).access_token()  # a new process with the same (stale) config
    assert "refresh_token=rt%211" in endpoint.last_request.text


def test_a_newly_configured_refresh_token_replaces_the_stored_one(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    endpoint = requests_mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
    clock = FakeClock()
    make_broker(store, clock).access_token()
    clock.now += 600
    make_broker(store, clock, seed="rt!fresh-login").access_token()
    assert "refresh_token=rt%21fresh-login" in endpoint.last_request.text


def test_other_process_rotation_is_picked_up_instead_of_refreshing(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    endpoint = requests_mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
    clock = FakeClock()
    first, second = make_broker(store, clock), make_broker(store, clock)
    first.access_token()
    clock.now += 600
    assert second.access_token() == "gAAAA-access-2"  # second rotates
    assert first.access_token() == "gAAAA-access-2"  # first re-reads, no third refresh
    assert endpoint.call_count == 2


def test_401_with_a_token_rotated_elsewhere_uses_the_stored_token(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    endpoint = requests_mock.post(TOKEN_URL, json=token_answer(1))
    clock = FakeClock()
    broker = make_broker(store, clock)
    broker.access_token()
    assert broker.after_unauthorized("some-older-token") == "gAAAA-access-1"
    assert endpoint.call_count == 1


def test_401_on_the_current_token_refreshes(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
    clock = FakeClock()
    broker = make_broker(store, clock)
    rejected = broker.access_token()
    clock.now += 600
    assert broker.after_unauthorized(rejected) == "gAAAA-access-2"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(400, {"error": "invalid_grant"}, id="invalid-grant"),
        pytest.param(
            401,
            {"error": "unauthorized_client", "error_description": "Old refresh token used."},
            id="old-refresh-token",
        ),
        pytest.param(
            400,
            {
                "error": "invalid_request",
                "error_description": "The refresh token expired at 10/11/2022 9:18:20 PM "
                "and it is now 10/28/2022 4:15:50 PM.",
            },
            id="expired-after-30-days",
        ),
    ],
)
def test_rejected_refresh_token_asks_for_a_new_login(
    store: FileTokenStore, requests_mock: rm.Mocker, status: int, body: dict[str, str]
) -> None:
    endpoint = requests_mock.post(TOKEN_URL, status_code=status, json=body)
    with pytest.raises(LoginRequiredError, match="exact-online login"):
        make_broker(store, FakeClock()).access_token()
    assert endpoint.call_count == 1  # never a retry loop


def test_too_early_refresh_keeps_the_current_access_token(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    clock = FakeClock()
    store.write(
        TokenSet(
            refresh_token=Secret("rt!1"),
            access_token=Secret("still-valid"),
            issued_at=clock.now - 580,
            client_id="app",
            seed_fingerprint=fingerprint(Secret("rt!0")),
        )
    )
    requests_mock.post(
        TOKEN_URL,
        status_code=400,
        json={
            "error": "access_denied",
            "error_description": "Rate limit exceeded: access_token not expired",
        },
        headers={
            "Reason": "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"
        },
    )
    assert make_broker(store, clock).access_token() == "still-valid"
    assert json.loads(store.path.read_text())["refresh_token"] == "rt!1"


def test_wrong_client_secret_names_the_credentials(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, status_code=400, json={"error": "invalid_request"})
    with pytest.raises(AuthError, match="client_id and client_secret"):
        make_broker(store, FakeClock()).access_token()


def test_no_tokens_and_no_seed_asks_for_login(store: FileTokenStore) -> None:
    with pytest.raises(LoginRequiredError, match="exact-online login"):
        make_broker(store, FakeClock(), seed=None).access_token()


def test_store_of_another_app_is_refused(store: FileTokenStore) -> None:
    store.write(TokenSet(refresh_token=Secret("rt!1"), client_id="other-app"))
    with pytest.raises(AuthError, match="another app"):
        make_broker(store, FakeClock(), seed=None).access_token()


def test_authorization_code_exchange_stores_the_first_tokens(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    endpoint = requests_mock.post(TOKEN_URL, json=token_answer(7))
    broker = make_broker(store, FakeClock(), seed=None)
    tokens = broker.exchange_code("code-123", "http://127.0.0.1:8765/callback")
    assert tokens.refresh_token.reveal() == "rt!7"
    assert "grant_type=authorization_code" in endpoint.last_request.text
    assert json.loads(store.path.read_text())["refresh_token"] == "rt!7"


def test_secrets_never_reach_logs_errors_or_reprs(
    store: FileTokenStore, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.post(
        TOKEN_URL,
        [{"json": token_answer(1)}, {"status_code": 400, "json": {"error": "invalid_grant"}}],
    )
    clock = FakeClock()
    broker = make_broker(store, clock)
    broker.access_token()
    clock.now += 600
    with pytest.raises(LoginRequiredError) as caught:
        broker.access_token()
    visible = " ".join(
        [caplog.text, str(caught.value), repr(caught.value), repr(broker), repr(store.read())]
    )
    for secret in ("client-secret-xyz", "gAAAA-access-1", "rt!1", "rt!0"):
        assert secret not in visible


# -- redirects -------------------------------------------------------------------------------


def test_a_redirect_from_the_token_endpoint_is_refused_and_sends_nothing_elsewhere(
    tmp_path: Path,
) -> None:
    with serve(lambda _r: Response("{}", mimetype="application/json")) as other, serve(
        lambda _r: Response("", status=307, headers={"Location": f"{other.base_url}/steal"})
    ) as exact:
        broker = TokenBroker(
            store=FileTokenStore(tmp_path / "tokens.json"),
            token_url=f"{exact.base_url}/api/oauth2/token",
            client_id="app",
            client_secret=Secret("client-secret-xyz"),
            initial_refresh_token=Secret("rt!0"),
            sleep=lambda _seconds: None,
        )
        with pytest.raises(AuthError, match=r"307.*redirect.*127\.0\.0\.1") as caught:
            broker.access_token()
    assert other.requests == [], "the refresh token and client secret went to the other host"
    assert len(exact.requests) == 1
    assert "rt!0" not in str(caught.value) and "client-secret-xyz" not in str(caught.value)


def test_a_redirect_answering_the_authorization_code_is_refused(tmp_path: Path) -> None:
    with serve(lambda _r: Response("{}")) as other, serve(
        lambda _r: Response("", status=302, headers={"Location": f"{other.base_url}/x"})
    ) as exact:
        broker = TokenBroker(
            store=FileTokenStore(tmp_path / "tokens.json"),
            token_url=f"{exact.base_url}/api/oauth2/token",
            client_id="app",
            client_secret=Secret("client-secret-xyz"),
            redirect_uri="http://127.0.0.1:1/callback",
        )
        with pytest.raises(AuthError, match="redirect"):
            broker.exchange_code("code-1")
    assert other.requests == []


# -- where the store lives ---------------------------------------------------------------------


def test_a_store_reached_through_a_symlink_is_replaced_at_its_real_location(
    tmp_path: Path, requests_mock: rm.Mocker
) -> None:
    real = tmp_path / "real" / "tokens.json"
    real.parent.mkdir()
    link = tmp_path / "link.json"
    link.symlink_to(real)
    requests_mock.post(TOKEN_URL, json=token_answer(1))
    make_broker(FileTokenStore(link), FakeClock()).access_token()
    assert link.is_symlink(), "the symlink was replaced by a plain file"
    assert json.loads(real.read_text())["refresh_token"] == "rt!1"


def test_a_symlink_and_its_target_share_one_lock(tmp_path: Path) -> None:
    real = tmp_path / "tokens.json"
    link = tmp_path / "link.json"
    link.symlink_to(real)
    through_link = FileTokenStore(link, lock_timeout=0.2)
    direct = FileTokenStore(real, lock_timeout=0.2)
    with direct.lock(), pytest.raises(AuthError, match="lock"), through_link.lock():
        pass


def test_a_store_path_under_a_file_is_a_config_error_naming_token_store(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    store = FileTokenStore(tmp_path / "afile" / "tokens.json")
    with pytest.raises(ConfigError, match=r"token_store.*afile"):
        make_broker(store, FakeClock()).access_token()


@pytest.mark.parametrize(
    "content",
    ["[]", "null", '"rt"', '{"refresh_token": null}', '{"refresh_token": ""}',
     '{"refresh_token": "rt!1", "expires_in": 1e400}', '{"refresh_token": "rt!1", '
     '"issued_at": "soon"}', '{"refresh_token": ["rt!1"]}', '{"refresh_token": "rt!1", '
     '"access_token": 5}'],
)
def test_a_store_not_holding_a_token_object_is_an_error_naming_the_file(
    store: FileTokenStore, content: str
) -> None:
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text(content)
    with pytest.raises(AuthError, match=re.escape(str(store.path))):
        make_broker(store, FakeClock(), seed=None).access_token()


# -- seeding from a configured refresh token ---------------------------------------------------


def test_a_configured_refresh_token_never_replaces_a_login(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    endpoint = requests_mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
    clock = FakeClock()
    make_broker(store, clock, seed=None).exchange_code("code", "http://127.0.0.1:1/cb")
    clock.now += 600
    make_broker(store, clock, seed="rt!configured-before-the-login").access_token()
    assert "refresh_token=rt%211" in endpoint.last_request.text


def test_a_login_with_a_configured_refresh_token_is_kept_by_another_config(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    endpoint = requests_mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
    clock = FakeClock()
    make_broker(store, clock, seed="rt!a").exchange_code("code", "http://127.0.0.1:1/cb")
    clock.now += 600
    make_broker(store, clock, seed="rt!b").access_token()
    assert "refresh_token=rt%211" in endpoint.last_request.text


def test_a_configured_refresh_token_seeds_a_store_only_once(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    endpoint = requests_mock.post(
        TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}, {"json": token_answer(3)}]
    )
    clock = FakeClock()
    make_broker(store, clock, seed="rt!a").access_token()
    clock.now += 600
    make_broker(store, clock, seed="rt!b").access_token()  # a new token was configured
    clock.now += 600
    make_broker(store, clock, seed="rt!a").access_token()  # an old config, still around
    assert "refresh_token=rt%212" in endpoint.last_request.text, "rt!a was used once already"


# -- crashes in the middle of a refresh --------------------------------------------------------


def test_tokens_received_before_a_crash_are_recovered_from_the_pending_file(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    clock = FakeClock()
    store.write(TokenSet(refresh_token=Secret("rt!0"), client_id="app"))
    received = TokenSet(refresh_token=Secret("rt!1"), access_token=Secret("gAAAA-access-1"),
                        issued_at=clock.now, client_id="app")
    pending = store.pending_path
    pending.write_text(json.dumps(received.to_json()))  # the process died before the rename
    endpoint = requests_mock.post(TOKEN_URL, json=token_answer(2))
    assert make_broker(store, clock, seed=None).access_token() == "gAAAA-access-1"
    assert endpoint.call_count == 0
    assert not pending.exists()
    assert json.loads(store.path.read_text())["refresh_token"] == "rt!1"


def test_a_torn_pending_file_is_discarded_and_the_store_is_used(
    store: FileTokenStore, requests_mock: rm.Mocker
) -> None:
    store.write(TokenSet(refresh_token=Secret("rt!0"), client_id="app"))
    store.pending_path.write_text('{"refresh_token": "rt!1", "acc')
    endpoint = requests_mock.post(TOKEN_URL, json=token_answer(1))
    make_broker(store, FakeClock(), seed=None).access_token()
    assert "refresh_token=rt%210" in endpoint.last_request.text
    assert not store.pending_path.exists()


def test_a_crash_between_the_answer_and_the_rename_loses_no_token(
    store: FileTokenStore, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests_mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
    clock = FakeClock()
    store.write(TokenSet(refresh_token=Secret("rt!0"), client_id="app"))

    class Killed(BaseException):
        pass

    def die(src: Any, dst: Any) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr("os.replace", die)
        with pytest.raises(Killed):
            make_broker(store, clock, seed=None).access_token()
    clock.now += 600
    assert make_broker(store, clock, seed=None).access_token() == "gAAAA-access-2"
    assert "refresh_token=rt%211" in requests_mock.last_request.text
