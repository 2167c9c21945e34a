"""The member ledger with real ``spot-sso serve`` processes: two replicas on one
PostgreSQL agree, and a PostgreSQL that stops mid-run never stops a token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt

from service.ledger.records import MemberRecord
from service.ledger.store import Ledger
from tests.support.config import ADA, write_config
from tests.support.databases import new_postgres_database
from tests.support.private_postgres import private_postgres
from tests.support.processes import Server
from tests.support.settings import BILLING_KEY, MAIN_ID, MAIN_KEY, bearer

NEW_EMAIL = "ada.lovelace@new.example"


def ledger_config(path: Path, database_url: str, **ada: Any) -> Path:
    return write_config(
        path,
        database_url=database_url,
        ledger={"enabled": True},
        spots={"main": {"email_change": "keep-first"}},
        identity={"static": {"users": [{**ADA, **ada}]}},
    )


def token_claims(server: Server) -> dict[str, Any]:
    reply = httpx.post(
        f"{server.url}/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY), timeout=10
    )
    assert reply.status_code == 200, reply.text
    return dict(jwt.decode(reply.json()["token"], MAIN_KEY, algorithms=["HS256"]))


def remembered(url: str) -> MemberRecord | None:
    async def read() -> MemberRecord | None:
        ledger = Ledger(url, timeout=5)
        try:
            return await ledger.member(MAIN_ID, "u-1")
        finally:
            await ledger.aclose()

    return asyncio.run(read())


def test_two_replicas_on_one_postgresql_agree(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    """Ada signs in through replica A; the host has changed her email by the time replica
    B signs her in: B knows her from A's sign-in and keeps the first email."""
    with new_postgres_database() as database:
        first = server_factory(
            ["serve", "--config", str(ledger_config(tmp_path / "a.toml", database))]
        )
        second = server_factory(
            [
                "serve",
                "--config",
                str(ledger_config(tmp_path / "b.toml", database, email=NEW_EMAIL)),
            ]
        )
        assert token_claims(first)["email"] == ADA["email"]
        assert token_claims(second)["email"] == ADA["email"]
        assert token_claims(first)["email"] == ADA["email"]
        member = remembered(database)
    assert member is not None
    assert (member.email, member.logins) == (ADA["email"], 3)
    assert "member email changed" in second.logs and "keep-first" in second.logs


def test_a_database_that_stops_mid_run_never_stops_a_token(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    with private_postgres() as postgres:
        server = server_factory(
            ["serve", "--config", str(ledger_config(tmp_path / "c.toml", postgres.url))]
        )
        assert token_claims(server)["sub"] == "u-1"
        before = remembered(postgres.url)
        assert before is not None and before.logins == 1

        postgres.stop()
        for _ in range(3):
            assert token_claims(server)["email"] == ADA["email"]
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json()["checks"]["ledger"] == {"ok": False}
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert 'spot_sso_ledger_errors_total{operation="read"}' in metrics
        assert "ledger read failed, sign-in goes on" in server.logs

        postgres.start()
        deadline = time.monotonic() + 20  # /readyz tries the database at each call
        while httpx.get(f"{server.url}/readyz", timeout=10).json()["checks"]["ledger"] != {
            "ok": True
        }:
            assert time.monotonic() < deadline, "the ledger did not come back"
            time.sleep(0.5)
        token_claims(server)  # a ready ledger is tried again at once
        after = remembered(postgres.url)
    assert after is not None and after.logins == 2  # the sign-ins while it was down: lost
