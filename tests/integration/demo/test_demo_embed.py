"""The demo's embed flow in process: the host's community page gets the token from the
real spot-sso app's ``POST /tokens``; the mock widget's session endpoint verifies it."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import httpx
import jwt
import pytest
from fastapi import FastAPI

from service.demo.host import EMBED_CSP, create_host_app
from service.demo.spot import MAX_WIDGET_BODY, WIDGET_JS, create_spot_app
from service.web.app import create_app
from tests.support.apps import lifespan_client
from tests.support.settings import BILLING_KEY, MAIN_ID, MAIN_KEY, USERS, make_settings

PUBLIC = "http://127.0.0.1:8000"
HOST = f"{PUBLIC}/demo/host"
SPOT = f"{PUBLIC}/demo/spot"
COMMUNITY = f"{HOST}/community"
WIDGET = f"{SPOT}/widget.js"
API_TOKEN = "demo-host-api-token-0123456789"
SCRIPT = re.compile(r'<script src="([^"]+)" data-auth-token="([^"]+)" async></script>')

Transport = Callable[[FastAPI], httpx.AsyncBaseTransport]


def in_process(app: FastAPI) -> httpx.AsyncBaseTransport:
    return httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))


def unreachable(_: FastAPI) -> httpx.AsyncBaseTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.MockTransport(refuse)


def embedding_app(
    sso_api_key: str | None = BILLING_KEY, transport: Transport = in_process
) -> FastAPI:
    """spot-sso (static users) with the demo host and mock Spot mounted, as in the demo;
    the host reaches spot-sso's POST /tokens through ``transport``."""
    app = create_app(make_settings())
    host = create_host_app(
        USERS,
        API_TOKEN,
        PUBLIC,
        sso_api_key=sso_api_key,
        widget_script=WIDGET,
        sso_transport=transport(app),
    )
    app.mount("/demo/host", host)
    app.mount("/demo/spot", create_spot_app(MAIN_ID, MAIN_KEY, PUBLIC, spot_alias="main"))
    return app


async def logged_in(app: FastAPI, user_id: str = "u-1") -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan_client(app, base_url=PUBLIC) as http:
        login = await http.post(
            f"{HOST}/login",
            content=f"user_id={quote(user_id)}",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert login.status_code == 303
        yield http


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async for http in logged_in(embedding_app()):
        yield http


async def test_community_page_sends_a_stranger_to_the_login_page() -> None:
    async with lifespan_client(embedding_app(), base_url=PUBLIC) as http:
        reply = await http.get(COMMUNITY)
    assert reply.status_code == 303
    assert reply.headers["location"] == f"{HOST}/?return_to={quote(COMMUNITY, safe='')}"


async def test_community_page_embeds_the_widget_with_a_fresh_token(
    browser: httpx.AsyncClient,
) -> None:
    reply = await browser.get(COMMUNITY)
    assert reply.status_code == 200
    assert reply.headers["content-security-policy"] == EMBED_CSP
    assert reply.headers["cache-control"] == "no-store"  # the page carries a token
    (script,) = SCRIPT.findall(reply.text)
    assert script[0] == WIDGET
    claims = jwt.decode(script[1], MAIN_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["firstName"], claims["exp"] - claims["iat"]) == (
        "u-1",
        "Ada",
        60,
    )
    assert BILLING_KEY not in reply.text and API_TOKEN not in reply.text


@pytest.mark.parametrize(
    ("user_id", "sso_api_key", "transport", "why"),
    [
        (
            "u-1",
            "sso_not-the-key-of-any-client",
            in_process,
            "spot-sso answered 401 invalid-api-key: The API key is not valid.",
        ),
        ("u-bad-email", BILLING_KEY, in_process, "spot-sso answered 502 unusable-profile: "),
        ("u-1", BILLING_KEY, unreachable, "spot-sso could not be reached (ConnectError)."),
    ],
)
async def test_community_page_names_why_there_is_no_token(
    user_id: str, sso_api_key: str, transport: Transport, why: str
) -> None:
    async for http in logged_in(embedding_app(sso_api_key, transport), user_id):
        reply = await http.get(COMMUNITY)
        assert reply.status_code == 502
        assert f"No token for the widget: {why}" in html.unescape(reply.text)
        assert "<script" not in reply.text and sso_api_key not in reply.text


async def test_community_page_without_a_key_says_so() -> None:
    async for http in logged_in(embedding_app(sso_api_key=None)):
        reply = await http.get(COMMUNITY)
        assert reply.status_code == 503
        assert "no spot-sso API key" in reply.text


async def test_widget_script_is_served_as_javascript(browser: httpx.AsyncClient) -> None:
    reply = await browser.get(WIDGET)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/javascript")
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.text == WIDGET_JS
    assert "innerHTML" not in WIDGET_JS and "textContent" in WIDGET_JS


def signed(key: str, **changes: int) -> str:
    """A token as spot-sso signs it (PyJWT here), with ``changes`` to its claims."""
    issued = int(time.time())
    claims = {
        "sub": "u-7",
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": "grace@example.com",
        "lang": "en",
        "timezone": "Europe/Paris",
        "iat": issued,
        "exp": issued + 60,
    }
    return jwt.encode({**claims, **changes}, key, algorithm="HS256")


async def test_widget_session_shows_the_member_of_a_valid_token(
    browser: httpx.AsyncClient,
) -> None:
    reply = await browser.post(f"{SPOT}/widget/session", json={"authToken": signed(MAIN_KEY)})
    assert reply.status_code == 200
    member = reply.json()["member"]
    assert (member["sub"], member["firstName"], member["lastName"]) == ("u-7", "Grace", "Hopper")
    assert reply.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("token", "said"),
    [
        (signed("another-spot-key-0123456789abcdef"), "the token was refused: "),
        (signed(MAIN_KEY, exp=1_000, iat=900), "the token was refused: "),
        ("not.a.jwt", "the token was refused: "),
    ],
    ids=["other key", "expired", "garbage"],
)
async def test_widget_session_refuses_a_bad_token(
    browser: httpx.AsyncClient, token: str, said: str
) -> None:
    reply = await browser.post(f"{SPOT}/widget/session", json={"authToken": token})
    assert reply.status_code == 401
    assert reply.json()["error"].startswith(said)
    assert "member" not in reply.json()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        json.dumps({"token": "x"}).encode(),
        json.dumps({"authToken": 7}).encode(),
        json.dumps({"authToken": ""}).encode(),
        json.dumps({"authToken": "a" * MAX_WIDGET_BODY}).encode(),
    ],
    ids=["empty", "not json", "array", "no authToken", "number", "blank", "too large"],
)
async def test_widget_session_names_a_bad_body(browser: httpx.AsyncClient, body: bytes) -> None:
    reply = await browser.post(
        f"{SPOT}/widget/session", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert reply.json() == {"error": 'the body must be {"authToken": "<JWT>"}.'}


async def test_widget_session_answers_another_origin_without_credentials(
    browser: httpx.AsyncClient,
) -> None:
    """The widget runs on the host's pages: another origin in a real deployment."""
    origin = {"origin": "https://app.example.com"}
    preflight = await browser.options(
        f"{SPOT}/widget/session",
        headers={
            **origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    reply = await browser.post(
        f"{SPOT}/widget/session", json={"authToken": signed(MAIN_KEY)}, headers=origin
    )
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers
