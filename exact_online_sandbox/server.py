"""``Sandbox``: run the emulator on 127.0.0.1 (thread or OS process) for tests and local use."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from exact_online_sandbox.app import SandboxApp
from exact_online_sandbox.oauth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    DEFAULT_WEBHOOK_SECRET,
    INITIAL_REFRESH_TOKEN,
)

DB_FILE = "sandbox.sqlite3"


class QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without its access log (it prints query strings); the app logs."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def build_server(app: SandboxApp, host: str, port: int) -> BaseWSGIServer:
    return make_server(host, port, app, threaded=True, request_handler=QuietHandler)


class ControlClient:
    """requests-based helper for ``/_sandbox/…``: get/post/delete return the parsed JSON."""

    def __init__(self, base_url: str) -> None:
        self.base_url = f"{base_url}/_sandbox"
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.base_url}/{path.lstrip('/')}", **kwargs)

    def _ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} /_sandbox/{path.lstrip('/')} -> "
                               f"{response.status_code}: {response.text}")
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self._ok("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self._ok("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self._ok("DELETE", path, **kwargs)

    def close(self) -> None:
        self.session.close()


class Sandbox:
    """The sandbox on a free port: ``with Sandbox(seed=42) as sb: sb.base_url``.

    Default: in a daemon thread with in-memory SQLite (``sb.app`` is the live ``SandboxApp``).
    ``process=True``: a separate ``python -m exact_online_sandbox serve`` process on
    ``data_dir`` (a temporary directory when not given), which ``kill()`` and ``restart()``
    can stop hard and bring back on the same port and data.
    """

    client_id = DEFAULT_CLIENT_ID
    client_secret = DEFAULT_CLIENT_SECRET
    redirect_uri = DEFAULT_REDIRECT_URI
    webhook_secret = DEFAULT_WEBHOOK_SECRET
    initial_refresh_token = INITIAL_REFRESH_TOKEN
    division = 100001

    def __init__(self, seed: int | None = 42, *, size: str | dict[str, int] = "small",
                 process: bool = False, data_dir: str | os.PathLike[str] | None = None,
                 scale: float = 1.0, host: str = "127.0.0.1", port: int = 0,
                 startup_timeout: float = 60.0, divisions: int = 2) -> None:
        self.seed, self.size, self.scale = seed, size, scale
        self.divisions = divisions
        self.process, self.host, self.port = process, host, port
        self.startup_timeout = startup_timeout
        self._own_dir = process and data_dir is None
        self.data_dir: Path | None = Path(data_dir) if data_dir is not None else None
        self.app: SandboxApp | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.control = ControlClient(self.base_url)

    # ---- URLs -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/api/oauth2/token"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/api/oauth2/auth"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self.process:
            self._start_process()
        else:
            db = str(self.data_dir / DB_FILE) if self.data_dir is not None else None
            if self.data_dir is not None:
                self.data_dir.mkdir(parents=True, exist_ok=True)
            self.app = SandboxApp(db_path=db, seed=self.seed, size=self.size, scale=self.scale,
                                  divisions=self.divisions)
            self._server = build_server(self.app, self.host, self.port)
            self.port = self._server.server_port
            self.app.webhooks.base_url = self.base_url
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="sandbox-http", daemon=True)
            self._thread.start()
        self.control.close()
        self.control = ControlClient(self.base_url)
        return self

    def _start_process(self) -> None:
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="exact-sandbox-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.data_dir / "port"
        port_file.unlink(missing_ok=True)
        size = self.size if isinstance(self.size, str) else json.dumps(self.size)
        cmd = [sys.executable, "-m", "exact_online_sandbox", "serve", "--host", self.host,
               "--port", str(self.port), "--data-dir", str(self.data_dir), "--size", size,
               "--scale", str(self.scale), "--divisions", str(self.divisions),
               "--port-file", str(port_file)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        with open(self.data_dir / "sandbox.log", "ab") as log_file:
            self._proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"sandbox process exited with {self._proc.returncode}; "
                                   f"see {self.data_dir / 'sandbox.log'}")
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text().strip())
                try:
                    if requests.get(f"{self.base_url}/_sandbox/health", timeout=2).ok:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("sandbox process did not become healthy in time")

    def kill(self) -> None:
        """Process mode: stop the server hard (SIGKILL), as a crash would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None

    def restart(self) -> Sandbox:
        """Stop (hard in process mode) and start again on the same port and data directory."""
        if self.process:
            self.kill()
        else:
            self._stop_thread()
        return self.start()

    def _stop_thread(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.app is not None:
            self.app.close()
            self.app = None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
        self._stop_thread()
        self.control.close()
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- conveniences -----------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> float:
        return float(self.control.post("/clock", json={"advance": seconds})["now"])

    def set_scale(self, scale: float) -> None:
        self.control.post("/clock", json={"scale": scale})

    def now(self) -> float:
        return float(self.control.get("/clock")["now"])

    def inject_fault(self, path: str = "*", kind: str = "status", **spec: Any) -> int:
        return int(self.control.post("/faults", json={"path": path, "kind": kind, **spec})["id"])

    def clear_faults(self) -> None:
        self.control.delete("/faults")

    def set_limits(self, **limits: int | None) -> dict[str, Any]:
        """Change call budgets, page sizes or ``errors_hourly`` (the error block; 0: off)."""
        result: dict[str, Any] = self.control.post("/limits", json=limits)
        return result

    def calls(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control.get("/calls")
        return result

    def clear_calls(self) -> None:
        self.control.delete("/calls")

    def reset(self, seed: int | None = 42, size: str | dict[str, int] = "small",
              divisions: int = 2) -> None:
        """Re-seed: ``divisions`` reachable divisions (100001, 100002, 100004, ...), each
        with data of ``size`` and its own rate limits."""
        self.control.post("/reset", json={"seed": seed, "size": size, "divisions": divisions},
                          timeout=600)

    def mint_refresh_token(self, client_id: str = DEFAULT_CLIENT_ID) -> str:
        return str(self.control.post("/grants", json={"client_id": client_id})["refresh_token"])

    def revoke(self, client_id: str = DEFAULT_CLIENT_ID) -> None:
        self.control.post("/grants/revoke", json={"client_id": client_id})

    def register_app(self, client_id: str, scopes: list[str], *,
                     client_secret: str = DEFAULT_CLIENT_SECRET,
                     redirect_uri: str = DEFAULT_REDIRECT_URI,
                     webhook_secret: str = DEFAULT_WEBHOOK_SECRET) -> None:
        self.control.post("/apps", json={
            "client_id": client_id, "client_secret": client_secret,
            "redirect_uri": redirect_uri, "webhook_secret": webhook_secret, "scopes": scopes})

    def tokens(self, client_id: str = DEFAULT_CLIENT_ID,
               client_secret: str = DEFAULT_CLIENT_SECRET) -> dict[str, str]:
        """A fresh grant exchanged at the token endpoint: access and refresh token."""
        response = requests.post(self.token_url, timeout=30, data={
            "grant_type": "refresh_token", "client_id": client_id,
            "client_secret": client_secret, "refresh_token": self.mint_refresh_token(client_id)})
        response.raise_for_status()
        result: dict[str, str] = response.json()
        return result

    def access_token(self, client_id: str = DEFAULT_CLIENT_ID,
                     client_secret: str = DEFAULT_CLIENT_SECRET) -> str:
        return self.tokens(client_id, client_secret)["access_token"]

    def call(self, token: str | None, path: str, method: str = "GET", *,
             division: int | None = 100001, accept_json: bool = True,
             **kwargs: Any) -> requests.Response:
        """One Exact REST call on ``/api/v1/{division}/{path}`` (``division=None``: no division,
        for ``current/Me``), with ``Accept: application/json`` and the bearer token."""
        headers = dict(kwargs.pop("headers", {}))
        if accept_json:
            headers.setdefault("Accept", "application/json")
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        prefix = f"{self.api_url}/{division}" if division is not None else self.api_url
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"{prefix}/{path}", headers=headers, **kwargs)

    def token_request(self, **form: str) -> requests.Response:
        """POST the token endpoint with the default client credentials plus ``form``."""
        data = {"client_id": self.client_id, "client_secret": self.client_secret, **form}
        return requests.post(self.token_url, data=data, timeout=30)

    def book_payment(self, division: int, invoice_id: str,
                     amount: float | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.control.post("/payments", json={
            "division": division, "invoice_id": invoice_id, "amount": amount})
        return result

    def row_count(self, entity: str, division: int = 100001) -> int:
        params = {"entity": entity, "division": str(division)}
        return int(self.control.get("/rows", params=params)["count"])

    def deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control.get("/webhooks/deliveries")["deliveries"]
        return result
