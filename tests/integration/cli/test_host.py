"""The spot-sso command, called in process, against what it reaches over a socket: the
host platform's user API, a Redis nobody listens on."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import jwt
import pytest

from tests.support.cli import run
from tests.support.config import write_config
from tests.support.hosts import send_json, serving
from tests.support.settings import MAIN_KEY

# --- mint and explain through the HTTP adapter, against a real host ---------------------


class _HostUsers(http.server.BaseHTTPRequestHandler):
    """A host platform's user API on a real socket, keeping connections alive."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[set[tuple[str, int]]] = set()

    def do_GET(self) -> None:
        _HostUsers.connections.add(self.client_address)
        known = self.path == "/api/users/u-7" and self.headers["authorization"] == "Bearer h-tok"
        body = (
            {
                "id": "u-7",
                "email": "grace@example.com",
                "first_name": "Grace",
                "last_name": "Hopper",
            }
            if known
            else {"error": "no such user"}
        )
        send_json(self, 200 if known else 404, body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def host_users() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostUsers)
    server.daemon_threads = True
    with serving(server) as url:
        yield url


def test_mint_and_explain_look_the_user_up_on_the_host(
    tmp_path: Path, host_users: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The runtime's kept connection is closed in the loop that opened it: no error."""
    http = {
        "user_url": f"{host_users}/api/users/{{user_id}}",
        "token": "h-tok",
        "read_timeout_seconds": 2,
        "connect_timeout_seconds": 2,
    }
    path = write_config(
        tmp_path / "http.toml",
        clients=None,
        identity={"adapter": "http", "static": None, "http": http},
    )
    status, out, err = run(
        capsys, "mint", "--config", str(path), "--spot", "main", "--user-id", "u-7"
    )
    [audit] = [json.loads(line) for line in err.splitlines()]  # the token's audit line
    assert status == 0 and out.count("\n") == 1
    assert {k: audit[k] for k in ("logger", "event", "spot", "sub", "flow", "client")} == {
        "logger": "spot_sso.audit",
        "event": "token_issued",
        "spot": "main",
        "sub": "u-7",
        "flow": "cli",
        "client": None,
    }
    assert out.strip() not in err
    claims = jwt.decode(out.strip(), MAIN_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["email"]) == ("u-7", "grace@example.com")
    status, out, err = run(
        capsys, "explain", "--config", str(path), "--spot", "main", "--user-id", "u-7", "--json"
    )
    assert (status, err) == (0, "")
    assert json.loads(out)["claims"]["firstName"] == "Grace"
    status, _, err = run(
        capsys, "mint", "--config", str(path), "--spot", "main", "--user-id", "u-8"
    )
    assert status != 0 and "u-8" in err


def test_check_config_masks_url_credentials_and_prints_readiness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    http = {
        "session_url": "https://svc:pw-hunter2@host.example/me?api_key=k-hunter2",
        "user_url": "https://host.example/users/{user_id}?sig=s-hunter2",
        "login_url": "https://host.example/login?next={return_to}",
        "forward_cookies": ["sid"],
    }
    path = write_config(
        tmp_path / "urls.toml",
        redis_url="redis://:r-hunter2@127.0.0.1:9/0",
        spots={"main": {"max_token_ttl_seconds": 600}},
        identity={"adapter": "http", "static": None, "http": http},
    )
    status, out, err = run(capsys, "check-config", "--config", str(path))
    assert status == 0, err
    http = json.loads(out)["identity"]["http"]
    assert http["session_url"] == "https://svc:****@host.example/me?api_key=****"
    assert http["user_url"] == "https://host.example/users/{user_id}?sig=****"
    assert http["login_url"] == "https://host.example/login?next=****"
    assert "hunter2" not in out
    assert "readiness: spots: ok" in err and "readiness: identity: ok" in err
    assert "readiness: shared_state: not ok (" in err and "hunter2" not in err
