"""Graceful shutdown of a real ``spot-sso serve``: SIGTERM while a request is in flight.

The request looks a user up on a host platform that takes 1.5 s to answer (a small
HTTP server on 127.0.0.1, in a thread of this test). SIGTERM arrives while the service
waits for it: the request must still get its token, the process must then exit
cleanly, and nothing may accept connections afterwards.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.support.config import write_config
from tests.support.hosts import send_json, serving
from tests.support.processes import Server
from tests.support.settings import BILLING_KEY, MAIN_KEY

pytestmark = pytest.mark.e2e

GRACEFUL = (0, -signal.SIGTERM)  # uvicorn re-raises the SIGTERM once it has stopped
HOST_DELAY_SECONDS = 1.5
WAIT_SECONDS = 15
USER = {"id": "u-1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}


class SlowHost(ThreadingHTTPServer):
    """Answers every GET with Ada's profile, ``HOST_DELAY_SECONDS`` after it arrives."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.arrived = threading.Event()
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SlowHandler(BaseHTTPRequestHandler):
    server: SlowHost

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.server.arrived.set()
        time.sleep(HOST_DELAY_SECONDS)
        send_json(self, 200, USER)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def slow_host() -> Iterator[SlowHost]:
    host = SlowHost()
    with serving(host):
        yield host


@pytest.fixture
def config(tmp_path: Path, slow_host: SlowHost) -> Path:
    (tmp_path / "main.key").write_text(MAIN_KEY + "\n")
    http = {
        "user_url": f"{slow_host.url}/api/users/{{user_id}}",
        "read_timeout_seconds": 10,
        "user_cache_ttl_seconds": 0,
    }
    return write_config(
        tmp_path / "spot-sso.toml",
        spots={"main": {"private_key": None, "private_key_file": "main.key"}},
        identity={"adapter": "http", "static": None, "http": http},
    )


def refused_within(url: str, seconds: float) -> bool:
    """True once a new connection to ``url`` is refused, polling for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=0.2)
        except httpx.ConnectError:
            return True
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    return False


def test_sigterm_lets_the_request_in_flight_finish(
    config: Path, slow_host: SlowHost, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(["serve", "--config", str(config)])
    outcome: dict[str, Any] = {}

    def post() -> None:
        try:
            outcome["response"] = httpx.post(
                server.url + "/tokens",
                json={"userId": "u-1"},
                headers={"Authorization": f"Bearer {BILLING_KEY}"},
                timeout=WAIT_SECONDS,
            )
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    client = threading.Thread(target=post, daemon=True)
    client.start()
    assert slow_host.arrived.wait(timeout=WAIT_SECONDS), "the lookup never reached the host"
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)

    # While it drains, the service takes no new connection (the lookup is still asleep).
    assert refused_within(server.url, HOST_DELAY_SECONDS / 2), server.logs
    assert client.is_alive(), "the request in flight was answered before the check"

    client.join(timeout=WAIT_SECONDS)
    assert not client.is_alive(), "the request in flight never got an answer"
    assert "error" not in outcome, f"{outcome.get('error')!r}\n{server.logs}"
    response: httpx.Response = outcome["response"]
    answered_after = time.monotonic() - signalled
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], MAIN_KEY, algorithms=["HS256"])
    assert claims["sub"] == "u-1" and claims["email"] == "ada@example.com"
    assert slow_host.paths == ["/api/users/u-1"]
    # The host was still sleeping when SIGTERM went: the answer came after it.
    assert answered_after > 0.5, answered_after

    assert server.process.wait(timeout=WAIT_SECONDS) in GRACEFUL
    logs = server.logs
    assert "Application shutdown complete" in logs, logs
    messages = [
        entry.get("message", "")
        for entry in (json.loads(line) for line in logs.splitlines() if line.startswith("{"))
    ]
    shutting_down = next(i for i, m in enumerate(messages) if m.startswith("Shutting down"))
    answered = next(i for i, m in enumerate(messages) if m == "POST /tokens 200")
    finished = next(i for i, m in enumerate(messages) if "Application shutdown complete" in m)
    assert shutting_down < answered < finished, messages

    # Stopped means stopped: the port refuses new connections.
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz", timeout=2)
