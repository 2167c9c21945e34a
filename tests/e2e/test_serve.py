"""A real uvicorn process: tokens over HTTP, graceful stop, and logs free of secrets."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from service.demo import DEMO_API_KEY, DEMO_PRIVATE_KEY, DEMO_SPOT_ID
from service.runtime.clients import key_digest
from tests.support.config import write_config, write_users
from tests.support.processes import Server
from tests.support.settings import BILLING_KEY, MAIN_ID, MAIN_KEY

pytestmark = pytest.mark.e2e

# uvicorn finishes its shutdown, then re-raises the SIGTERM it caught: -15 is a clean stop.
GRACEFUL = (0, -signal.SIGTERM)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    write_users(tmp_path / "users.toml")
    (tmp_path / "main.key").write_text(MAIN_KEY + "\n")
    return write_config(
        tmp_path / "spot-sso.toml",
        spots={"main": {"private_key": None, "private_key_file": "main.key"}},
        identity={"adapter": "static", "static": {"users": None, "users_file": "users.toml"}},
    )


def test_serve_issues_tokens_and_logs_no_secret(
    config: Path, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(["serve", "--config", str(config)])
    auth = {"Authorization": f"Bearer {BILLING_KEY}"}
    with httpx.Client(base_url=server.url, timeout=5) as http:
        ok = http.post("/tokens", json={"userId": "u-1", "ttlSeconds": 120}, headers=auth)
        assert ok.status_code == 200, ok.text
        token = ok.json()["token"]
        claims = jwt.decode(token, MAIN_KEY, algorithms=["HS256"])
        assert claims["sub"] == "u-1" and claims["exp"] - claims["iat"] == 120
        assert ok.headers["cache-control"] == "no-store"

        statuses = [
            http.post("/tokens", json={"userId": "u-1"}).status_code,
            http.post(
                "/tokens", json={"userId": "u-1"}, headers={"X-API-Key": "sso_" + "x" * 20}
            ).status_code,
            http.post(
                "/tokens", json={"userId": "u-1"}, headers={"Authorization": "Basic " + BILLING_KEY}
            ).status_code,
            http.post("/tokens", json={"spot": "x", "userId": "u-1"}, headers=auth).status_code,
            http.post("/tokens", json={"userId": "nobody"}, headers=auth).status_code,
            http.post("/tokens", json={"user": {"sub": "1"}}, headers=auth).status_code,
            http.post(f"/tokens?token={token}", json={"userId": "u-1"}, headers=auth).status_code,
        ]
        assert statuses == [401, 401, 401, 404, 404, 422, 200]
        metrics = http.get("/metrics").text
        assert 'spot_sso_tokens_issued_total{flow="tokens",spot="main"} 2.0' in metrics
        assert http.get("/readyz").json()["status"] == "ready"

    assert server.stop() in GRACEFUL
    logs = server.logs
    for secret in (MAIN_KEY, BILLING_KEY, token, token.split(".")[2]):
        assert secret not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "spot_sso.access"]
    assert sum(line["path"] == "/tokens" for line in access) == 8
    assert all("?" not in line["path"] for line in access)
    audits = [line for line in lines if line.get("event") == "token_issued"]
    assert [(a["spot"], a["sub"], a["flow"], a["client"]) for a in audits] == [
        ("main", "u-1", "tokens", "billing")
    ] * 2
    assert all(a in access and a["status"] == 200 for a in audits)  # one line per request


def test_sigterm_lets_the_process_exit_cleanly(
    config: Path, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(["serve", "--config", str(config)])
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) in GRACEFUL
    assert "Application shutdown complete" in server.logs


def test_config_from_environment_only(server_factory: Callable[..., Server]) -> None:
    env = {
        "SPOT_SSO_SPOTS__MAIN__ID": MAIN_ID,
        "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY": MAIN_KEY,
        "SPOT_SSO_CLIENTS__BILLING__KEY_SHA256": key_digest(BILLING_KEY),
        "SPOT_SSO_CLIENTS__BILLING__SPOTS": "main",
    }
    server = server_factory(["serve", "--workers", "2"], env=env)
    user = {"sub": "9", "firstName": "Emmy", "lastName": "Noether", "email": "emmy@example.net"}
    for _ in range(4):
        response = httpx.post(
            server.url + "/tokens",
            json={"user": user},
            headers={"X-API-Key": BILLING_KEY},
            timeout=5,
        )
        assert response.status_code == 200
        jwt.decode(response.json()["token"], MAIN_KEY, algorithms=["HS256"])
    assert server.stop() in GRACEFUL
    assert MAIN_KEY not in server.logs and BILLING_KEY not in server.logs


def test_demo_serves_tokens(server_factory: Callable[..., Server]) -> None:
    server = server_factory(["demo"])
    response = httpx.post(
        server.url + "/tokens",
        json={"userId": "u-ada"},
        headers={"Authorization": f"Bearer {DEMO_API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["spotId"] == DEMO_SPOT_ID
    claims = jwt.decode(response.json()["token"], DEMO_PRIVATE_KEY, algorithms=["HS256"])
    assert claims["email"] == "ada@example.com"
    assert DEMO_API_KEY in server.logs  # the banner shows it: it is public by design
    assert response.json()["token"] not in server.logs
