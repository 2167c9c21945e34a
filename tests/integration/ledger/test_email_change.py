"""Email continuity, end to end: Ada signs in, her email changes on the host, she signs in
again, under each ``email_change`` mode; through ``POST /tokens`` and ``GET /authorize``,
on real SQLite and PostgreSQL. PyJWT reads the tokens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from service.identity.base import AdapterBase, SessionContext, UserProfile
from service.web.app import create_app
from tests.support.apps import lifespan_client
from tests.support.logs import LogCapture
from tests.support.settings import BILLING_KEY, MAIN_ID, MAIN_KEY, bearer, make_settings

FIRST = "ada@example.com"
SECOND = "ada.lovelace@new.example"
REDIRECT = f"https://go.meltingspot.io/spot/{MAIN_ID}/sso"


class Host(AdapterBase):
    """A host platform whose users can change: Ada is logged in in every browser."""

    def __init__(self) -> None:
        self.ada = UserProfile(id="u-ada", email=FIRST, first_name="Ada", last_name="Lovelace")

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        return self.ada if user_id == "u-ada" else None

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        return self.ada

    async def ready(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        return None


@asynccontextmanager
async def service(ledger_url: str, mode: str) -> AsyncIterator[tuple[httpx.AsyncClient, Host]]:
    host = Host()
    settings = make_settings(
        database_url=ledger_url,
        ledger={"enabled": True},
        spots={"main": {"email_change": mode}},
    )
    async with lifespan_client(create_app(settings, adapter=host)) as http:
        yield http, host


async def token_email(http: httpx.AsyncClient) -> str:
    reply = await http.post("/tokens", json={"userId": "u-ada"}, headers=bearer(BILLING_KEY))
    assert reply.status_code == 200, reply.text
    claims = jwt.decode(reply.json()["token"], MAIN_KEY, algorithms=["HS256"])
    assert claims["sub"] == "u-ada"
    return str(claims["email"])


async def authorize(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/authorize", params={"spot": "main", "redirectUrl": REDIRECT})


def emailed(reply: httpx.Response) -> str:
    assert reply.status_code == 302, reply.text
    token = parse_qs(urlsplit(reply.headers["location"]).query)["token"][0]
    return str(jwt.decode(token, MAIN_KEY, algorithms=["HS256"])["email"])


async def test_follow_sends_the_new_email_and_says_so(
    ledger_url: str, log_capture: LogCapture
) -> None:
    start = len(log_capture.lines)
    async with service(ledger_url, "follow") as (http, host):
        assert await token_email(http) == FIRST
        host.ada = host.ada.model_copy(update={"email": SECOND})
        assert await token_email(http) == SECOND
        assert emailed(await authorize(http)) == SECOND  # no change any more: quiet
        metrics = (await http.get("/metrics")).text
    assert 'spot_sso_member_email_changes_total{mode="follow",spot="main"} 1.0' in metrics
    lines = [json.loads(line) for line in log_capture.lines[start:] if line.startswith("{")]
    (event,) = [line for line in lines if line.get("event") == "member.email_changed"]
    assert (event["spot"], event["sub"], event["mode"], event["flow"]) == (
        "main",
        "u-ada",
        "follow",
        "tokens",
    )
    assert event["request_id"]
    assert FIRST not in json.dumps(event) and SECOND not in json.dumps(event)


async def test_follow_reads_nothing_before_the_token_and_learns_from_the_write(
    ledger_url: str,
) -> None:
    async def no_read(spot_id: str, sub: str) -> None:
        raise AssertionError("under follow, the email sent does not depend on the ledger")

    async with service(ledger_url, "follow") as (http, host):
        runtime = http._transport.app.state.runtime  # type: ignore[attr-defined]
        with mock.patch.object(runtime.ledger, "last_sign_in", no_read):
            assert await token_email(http) == FIRST
            host.ada = host.ada.model_copy(update={"email": SECOND})
            assert await token_email(http) == SECOND
            assert await token_email(http) == SECOND
        metrics = (await http.get("/metrics")).text
    assert 'spot_sso_member_email_changes_total{mode="follow",spot="main"} 1.0' in metrics


async def test_keep_first_keeps_the_email_meltingspot_knows(ledger_url: str) -> None:
    async with service(ledger_url, "keep-first") as (http, host):
        assert emailed(await authorize(http)) == FIRST
        host.ada = host.ada.model_copy(update={"email": SECOND})
        assert await token_email(http) == FIRST
        assert emailed(await authorize(http)) == FIRST
        metrics = (await http.get("/metrics")).text
    # Once per change: the sign-ins after it go on quietly with the first email.
    assert 'spot_sso_member_email_changes_total{mode="keep-first",spot="main"} 1.0' in metrics


async def test_refuse_answers_a_problem_and_a_page(ledger_url: str) -> None:
    async with service(ledger_url, "refuse") as (http, host):
        assert await token_email(http) == FIRST
        host.ada = host.ada.model_copy(update={"email": SECOND})
        api = await http.post("/tokens", json={"userId": "u-ada"}, headers=bearer(BILLING_KEY))
        page = await authorize(http)
        host.ada = host.ada.model_copy(update={"email": FIRST.upper()})  # same address
        assert await token_email(http) == FIRST.upper()
    assert api.status_code == 409
    assert api.json()["type"] == "urn:spot-sso:problem:email-change-refused"
    assert "contact its support" in api.json()["detail"]
    assert "token" not in api.text
    assert page.status_code == 409 and "location" not in page.headers
    assert "Contact the community&#x27;s support" in page.text


async def test_a_member_seen_first_is_recorded_with_what_was_sent(ledger_url: str) -> None:
    async with service(ledger_url, "keep-first") as (http, host):
        await token_email(http)
        host.ada = host.ada.model_copy(update={"email": SECOND})
        await token_email(http)
        runtime = http._transport.app.state.runtime  # type: ignore[attr-defined]
        member = await runtime.known_member("main", "u-ada")
    assert member is not None
    assert (member.email, member.host_email, member.logins) == (FIRST, SECOND, 2)


@pytest.mark.parametrize("mode", ["follow", "keep-first", "refuse"])
async def test_a_ledger_that_is_down_never_blocks_a_sign_in(mode: str) -> None:
    from tests.support.hosts import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    async with service(url, mode) as (http, host):
        assert await token_email(http) == FIRST
        host.ada = host.ada.model_copy(update={"email": SECOND})
        assert await token_email(http) == SECOND  # nothing known: the host's email
        assert emailed(await authorize(http)) == SECOND
        ready = (await http.get("/readyz")).json()
        metrics = (await http.get("/metrics")).text
    assert ready["status"] == "ready" and ready["checks"]["ledger"] == {"ok": False}
    assert 'spot_sso_ledger_errors_total{operation="migrate"} 1.0' in metrics


async def test_a_database_that_is_down_is_one_warning_per_pause_not_one_per_sign_in(
    log_capture: LogCapture,
) -> None:
    from tests.support.hosts import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    start = len(log_capture.lines)
    async with service(url, "follow") as (http, _):
        for _ in range(5):
            assert await token_email(http) == FIRST
        metrics = (await http.get("/metrics")).text
    warnings = [line for line in log_capture.lines[start:] if "ledger write failed" in line]
    assert len(warnings) == 1, warnings
    assert 'spot_sso_ledger_errors_total{operation="write"} 5.0' in metrics
