"""`exact-online webhooks serve` under hostile clients: huge bodies, half-sent and slow requests.

The receiver runs as a real process (``--no-fetch``: no Exact needed); the clients are raw
sockets, so nothing is smoothed over by an HTTP library.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from exact_online_core.webhooks import sign

SECRET = "receiver-test-secret"
WORKERS = 8
READ_TIMEOUT = 1.0


@dataclass
class ReceiverProcess:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/exact/webhooks"

    def status(self, field: str) -> int:
        """A number from /proc/PID/status: Threads, VmHWM (peak memory, kB), ..."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def deliver(self, key: str) -> requests.Response:
        content = json.dumps({"Topic": "Accounts", "Action": "Delete", "Division": 100001,
                              "Key": key}).encode()
        body = b'{"Content":' + content + b',"HashCode":"' + sign(SECRET, content).encode() + b'"}'
        return requests.post(self.url, data=body, timeout=10,
                             headers={"Content-Type": "application/json"})

    def stored_keys(self) -> list[str]:
        return [json.loads(line)["id"] for line in self.log.read_text().splitlines()]


@pytest.fixture
def receiver(tmp_path: Path, out_dir: Path) -> Iterator[ReceiverProcess]:
    config = tmp_path / "exact.json"
    config.write_text(json.dumps({"webhook_secret": SECRET}))
    log = tmp_path / "events.jsonl"
    with open(out_dir / "receiver.stderr", "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exact_online_cli", "webhooks", "serve", "--port", "0",
             "--log", str(log), "--config", str(config), "--no-fetch", "--workers",
             str(WORKERS), "--read-timeout", str(READ_TIMEOUT)],
            stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "Listening on http://127.0.0.1:" in line, (out_dir / "receiver.stderr").read_text()
    port = int(line.split("127.0.0.1:")[1].split("/")[0])
    yield ReceiverProcess(proc, port, log)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def test_an_800_mb_chunked_body_is_cut_off_without_being_buffered(
    receiver: ReceiverProcess,
) -> None:
    sock = connect(receiver.port)
    sock.sendall(b"POST /exact/webhooks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Type: application/json\r\n\r\n")
    chunk = b"100000\r\n" + b"[" * 0x100000 + b"\r\n"  # 1 MiB per chunk, no Content-Length
    sent = 0
    started = time.monotonic()
    try:
        while sent < 800 * 0x100000:
            sock.sendall(chunk)
            sent += 0x100000
    except OSError:
        pass  # the receiver stopped reading and closed the connection
    finally:
        sock.close()
    assert sent < 64 * 0x100000, f"the receiver took {sent >> 20} MiB of an oversized body"
    assert time.monotonic() - started < 20
    assert receiver.status("VmHWM") < 150_000, "peak memory over 150 MB"
    assert receiver.deliver("after-the-big-body").status_code == 200


def test_3000_half_sent_requests_hold_a_bounded_number_of_threads(
    receiver: ReceiverProcess,
) -> None:
    baseline = receiver.status("Threads")
    half_sent = []
    try:
        for n in range(3000):
            sock = connect(receiver.port)
            with_headers = n % 2 == 0
            sock.sendall(b"POST /exact/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 500"
                         b"\r\n\r\n{\"Content\": " if with_headers else b"POST /exact/webh")
            half_sent.append(sock)
        threads = receiver.status("Threads")
        assert threads <= baseline + 2, f"{threads} threads with 3000 half-sent requests"
        time.sleep(3 * READ_TIMEOUT + 1.5)  # every half-sent request has been cut off
        answer = receiver.deliver("while-3000-hang")
        assert answer.status_code == 200, answer.text
    finally:
        for sock in half_sent:
            sock.close()
    assert "while-3000-hang" in receiver.stored_keys()
    assert receiver.status("Threads") <= baseline + 2


def test_a_half_sent_request_is_closed_after_the_read_timeout(receiver: ReceiverProcess) -> None:
    sock = connect(receiver.port)
    sock.sendall(b"POST /exact/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    started = time.monotonic()
    sock.settimeout(3 * READ_TIMEOUT + 5)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    assert time.monotonic() - started < 3 * READ_TIMEOUT + 2


def test_a_sender_slower_than_the_deadline_is_cut_off(receiver: ReceiverProcess) -> None:
    sock = connect(receiver.port)
    request = b"POST /exact/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n" + \
        b" " * 400
    started = time.monotonic()
    cut_off = False
    try:
        for byte in request:  # each byte well within the read timeout
            sock.send(bytes([byte]))
            time.sleep(READ_TIMEOUT / 3)
            if time.monotonic() - started > 3 * READ_TIMEOUT + 3:
                break
    except OSError:
        cut_off = True
    if not cut_off:
        sock.settimeout(1)
        try:
            cut_off = sock.recv(1) == b""
        except ConnectionResetError:
            cut_off = True
        except TimeoutError:
            cut_off = False
    sock.close()
    assert cut_off, "a request dribbled in byte by byte kept its worker past the deadline"
    assert time.monotonic() - started < 3 * READ_TIMEOUT + 5


def test_a_receiver_killed_and_restarted_keeps_every_stored_event(
    receiver: ReceiverProcess,
) -> None:
    for n in range(5):
        assert receiver.deliver(f"key-{n}").status_code == 200
    os.kill(receiver.proc.pid, signal.SIGKILL)
    receiver.proc.wait(timeout=10)
    assert receiver.stored_keys() == [f"key-{n}" for n in range(5)]
