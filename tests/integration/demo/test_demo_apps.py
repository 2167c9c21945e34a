"""The demo's fake host platform and mock Spot, through their ASGI apps mounted as in the demo."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import SecretStr

from service.contract.claims import Member, SpotClaims
from service.contract.signing import TokenIssuer, now
from service.demo.host import (
    DEMO_HOST_FIELDS,
    SESSION_COOKIE,
    create_host_app,
    host_identity_config,
    safe_return_to,
)
from service.demo.spot import callback_url, create_spot_app
from service.identity.base import SessionContext
from service.identity.http import HttpAdapter
from service.settings.identity import HttpAdapterConfig

PUBLIC = "http://127.0.0.1:8000"
HOST = f"{PUBLIC}/demo/host"
SPOT = f"{PUBLIC}/demo/spot"
API_TOKEN = "demo-host-api-token-0123456789"
SPOT_ID = "129487c9-6acc-43d9-ab96-182ded763538"
SPOT_KEY = "mock-spot-test-key-0123456789abcdef"
XSS = "<script>alert(1)</script>"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

USERS: list[dict[str, Any]] = [
    {
        "id": "u-ada",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "title": "Analyst",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "groups": ["staff"],
    },
    {
        "id": "u-emmy",
        "email": "emmy@example.net",
        "first_name": "Emmy",
        "last_name": "Noether",
        "locale": "de",
        "timezone": "Europe/Berlin",
    },
    {
        "id": "u-xss",
        "email": "x@example.com",
        "first_name": XSS,
        "last_name": '"><img src=x onerror=alert(2)>',
        "title": "&amp; <b>bold</b>",
    },
]
AUTHORIZE = f"{PUBLIC}/authorize?spot=demo&redirectUrl=" + quote(
    f"{SPOT}/sso/callback?referrerUrl=/spot/{SPOT_ID}/lives", safe=""
)


def demo_app() -> FastAPI:
    app = FastAPI()
    app.mount("/demo/host", create_host_app(USERS, API_TOKEN, PUBLIC))
    app.mount("/demo/spot", create_spot_app(SPOT_ID, SPOT_KEY, PUBLIC))
    return app


@pytest.fixture
def app() -> FastAPI:
    return demo_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
        yield http


async def log_in(client: httpx.AsyncClient, user_id: str, return_to: str = "") -> httpx.Response:
    body = f"user_id={quote(user_id, safe='')}&return_to={quote(return_to, safe='')}"
    return await client.post(
        f"{HOST}/login",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def assert_page(reply: httpx.Response) -> None:
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["content-security-policy"] == CSP
    assert "DEMO — not for production" in reply.text


def cookie_header(reply: httpx.Response) -> str:
    (header,) = reply.headers.get_list("set-cookie")
    return header


# --- the host platform: pages -------------------------------------------------------------


async def test_login_page_lists_every_user_with_return_to(client: httpx.AsyncClient) -> None:
    reply = await client.get(f"{HOST}/", params={"return_to": AUTHORIZE})
    assert reply.status_code == 200
    assert_page(reply)
    assert "Demo host platform — who are you?" in reply.text
    assert reply.text.count('<form method="post" action="login">') == len(USERS)
    for user in USERS:
        assert f'name="user_id" value="{html.escape(user["id"])}"' in reply.text
    hidden = f'name="return_to" value="{html.escape(AUTHORIZE)}"'
    assert reply.text.count(hidden) == len(USERS)
    assert "Nobody is logged in." in reply.text


async def test_login_page_drops_an_unsafe_return_to(client: httpx.AsyncClient) -> None:
    reply = await client.get(f"{HOST}/", params={"return_to": "https://evil.example/"})
    assert "evil" not in reply.text
    assert reply.text.count('name="return_to" value=""') == len(USERS)


async def test_login_page_without_trailing_slash_still_works(client: httpx.AsyncClient) -> None:
    reply = await client.get(HOST, follow_redirects=True)
    assert reply.status_code == 200
    assert str(reply.url) == f"{HOST}/"


async def test_login_sets_the_session_cookie_and_follows_return_to(
    client: httpx.AsyncClient,
) -> None:
    reply = await log_in(client, "u-ada", AUTHORIZE)
    assert reply.status_code == 303
    assert reply.headers["location"] == AUTHORIZE
    header = cookie_header(reply)
    assert header.startswith(f"{SESSION_COOKIE}=")
    lowered = header.lower()
    assert "path=/" in lowered
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert "secure" not in lowered  # http://127.0.0.1: a Secure cookie would be dropped
    session = client.cookies[SESSION_COOKIE]
    assert len(session) >= 40

    page = await client.get(f"{HOST}/")
    assert "Logged in as <strong>Ada Lovelace</strong>" in page.text
    assert 'href="logout"' in page.text


async def test_each_login_gets_a_new_session(client: httpx.AsyncClient) -> None:
    await log_in(client, "u-ada")
    first = client.cookies[SESSION_COOKIE]
    await log_in(client, "u-emmy")
    second = client.cookies[SESSION_COOKIE]
    assert first != second
    me = await client.get(f"{HOST}/api/me", headers={"cookie": f"{SESSION_COOKIE}={second}"})
    assert me.json()["id"] == "u-emmy"


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: s.replace("u-ada", "u-emmy", 1),  # another user, same signature
        lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"),  # signature changed
        lambda s: s.rsplit(".", 1)[0],  # signature dropped
        lambda s: "u-ada",
    ],
    ids=["other-user", "bad-signature", "no-signature", "bare-id"],
)
async def test_forged_session_cookies_are_refused(
    client: httpx.AsyncClient, forge: Callable[[str], str]
) -> None:
    await log_in(client, "u-ada")
    forged = forge(client.cookies[SESSION_COOKIE])
    client.cookies.clear()
    reply = await client.get(f"{HOST}/api/me", headers={"cookie": f"{SESSION_COOKIE}={forged}"})
    assert reply.status_code == 401


async def test_login_without_return_to_goes_to_the_login_page(client: httpx.AsyncClient) -> None:
    reply = await log_in(client, "u-ada")
    assert reply.status_code == 303
    assert reply.headers["location"] == f"{HOST}/"


async def test_login_keeps_a_safe_return_to_with_odd_characters(
    client: httpx.AsyncClient,
) -> None:
    target = f"{PUBLIC}/authorize?x=%22%3E%3Cscript%3E&y=a+b"
    reply = await log_in(client, "u-ada", target)
    assert reply.headers["location"] == target


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/",
        "//evil.example",
        "//evil.example/authorize",
        "/\\evil.example",
        "\\\\evil.example",
        "http://127.0.0.1:8000@evil.example/",
        "http://127.0.0.1:8000.evil.example/",
        "http://127.0.0.1:8001/authorize",
        "http://127.0.0.1:80000/authorize",
        "http://127.0.0.1/authorize",
        "https://127.0.0.1:8000/authorize",
        "http://localhost:8000/authorize",
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000//evil.example/",
        "http://127.0.0.1:8000/\\evil.example",
        "http://127.0.0.1:8000/ok\r\nSet-Cookie: x=1",
        "http://127.0.0.1:8000/ok\tx",
        "http://127.0.0.1:8000/\u00a0x",
        "javascript:alert(1)",
        "/authorize",
        "authorize",
        "http://127.0.0.1:8000/" + "a" * 2100,
    ],
)
async def test_hostile_return_to_is_not_followed(client: httpx.AsyncClient, return_to: str) -> None:
    reply = await log_in(client, "u-ada", return_to)
    assert reply.status_code == 303
    assert reply.headers["location"] == f"{HOST}/"
    assert safe_return_to(return_to, PUBLIC) is None


def test_safe_return_to_accepts_urls_under_public_url() -> None:
    assert safe_return_to(f"{PUBLIC}/authorize?a=1", PUBLIC) == f"{PUBLIC}/authorize?a=1"
    assert safe_return_to(f"{PUBLIC}/", PUBLIC + "/") == f"{PUBLIC}/"
    assert safe_return_to(None, PUBLIC) is None
    assert safe_return_to("", PUBLIC) is None


async def test_login_with_an_unknown_user_is_a_400_page(client: httpx.AsyncClient) -> None:
    reply = await log_in(client, "u-nobody", AUTHORIZE)
    assert reply.status_code == 400
    assert_page(reply)
    assert 'id="error"' in reply.text
    assert SESSION_COOKIE not in reply.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "body",
    [b"", b"return_to=x", b"\xff\xfe", b"a=" + b"x" * 20_000, b"&".join([b"a=1"] * 30)],
)
async def test_unreadable_login_forms_are_400(client: httpx.AsyncClient, body: bytes) -> None:
    reply = await client.post(f"{HOST}/login", content=body)
    assert reply.status_code == 400
    assert_page(reply)
    assert "set-cookie" not in reply.headers


async def test_logout_clears_the_cookie(client: httpx.AsyncClient) -> None:
    await log_in(client, "u-ada")
    reply = await client.get(f"{HOST}/logout")
    assert reply.status_code == 303
    assert reply.headers["location"] == f"{HOST}/"
    header = cookie_header(reply).lower()
    assert header.startswith(f"{SESSION_COOKIE}=")
    assert "max-age=0" in header
    assert "path=/" in header
    assert SESSION_COOKIE not in client.cookies
    assert (await client.get(f"{HOST}/api/me")).status_code == 401


# --- the host platform: API ----------------------------------------------------------------


ADA_JSON = {
    "id": "u-ada",
    "email": "ada@example.com",
    "profile": {"first_name": "Ada", "last_name": "Lovelace", "title": "Analyst"},
    "avatar_url": None,
    "locale": "en-GB",
    "timezone": "Europe/London",
    "roles": ["staff"],
}


async def test_api_me_with_a_session(client: httpx.AsyncClient) -> None:
    await log_in(client, "u-ada")
    reply = await client.get(f"{HOST}/api/me")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.json() == ADA_JSON


@pytest.mark.parametrize("cookie", [None, "", "forged-session-id", "u-ada"])
async def test_api_me_without_a_session_is_401(
    client: httpx.AsyncClient, cookie: str | None
) -> None:
    headers = {} if cookie is None else {"cookie": f"{SESSION_COOKIE}={cookie}"}
    reply = await client.get(f"{HOST}/api/me", headers=headers)
    assert reply.status_code == 401
    assert reply.json() == {"error": "not logged in"}


async def test_api_user_by_id_with_the_token(client: httpx.AsyncClient) -> None:
    reply = await client.get(
        f"{HOST}/api/users/u-ada", headers={"authorization": f"Bearer {API_TOKEN}"}
    )
    assert reply.status_code == 200
    assert reply.json() == ADA_JSON
    emmy = await client.get(
        f"{HOST}/api/users/u-emmy", headers={"authorization": f"bearer {API_TOKEN}"}
    )
    assert emmy.json()["profile"] == {"first_name": "Emmy", "last_name": "Noether", "title": None}
    assert emmy.json()["roles"] == []


async def test_api_user_by_id_unknown_is_404(client: httpx.AsyncClient) -> None:
    reply = await client.get(
        f"{HOST}/api/users/u-nobody", headers={"authorization": f"Bearer {API_TOKEN}"}
    )
    assert reply.status_code == 404
    assert reply.json() == {"error": "no such user"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {API_TOKEN}",
        f"Bearer {API_TOKEN}x",
        f"Bearer {API_TOKEN[:-1]}",
        "Bearer wrong-token",
        API_TOKEN,
        "Bearer jéton-non-ascii".encode(),
    ],
)
async def test_api_user_by_id_needs_the_token(
    client: httpx.AsyncClient, authorization: str | bytes | None
) -> None:
    value = authorization.encode() if isinstance(authorization, str) else authorization
    headers = {} if value is None else {b"authorization": value}
    for user_id in ("u-ada", "u-nobody"):
        reply = await client.get(f"{HOST}/api/users/{user_id}", headers=headers)
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert "Ada" not in reply.text


async def test_a_session_cookie_does_not_open_the_user_api(client: httpx.AsyncClient) -> None:
    await log_in(client, "u-ada")
    reply = await client.get(f"{HOST}/api/users/u-ada")
    assert reply.status_code == 401


def test_duplicate_user_ids_and_empty_token_are_refused() -> None:
    with pytest.raises(ValueError, match="u-ada"):
        create_host_app([USERS[0], USERS[0]], API_TOKEN, PUBLIC)
    with pytest.raises(ValueError, match="api_token"):
        create_host_app(USERS, "", PUBLIC)


async def test_the_http_adapter_maps_the_nested_host_json(app: FastAPI) -> None:
    """DEMO_HOST_FIELDS is what the HTTP identity adapter needs to read this host."""
    config = HttpAdapterConfig.model_validate(host_identity_config(PUBLIC, API_TOKEN))
    assert config.fields.model_dump() | DEMO_HOST_FIELDS == config.fields.model_dump()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
        adapter = HttpAdapter(config, http)
        assert await adapter.resolve_session(SessionContext()) is None
        login = await log_in(http, "u-ada", AUTHORIZE)
        session = login.cookies[SESSION_COOKIE]
        profile = await adapter.resolve_session(SessionContext(cookies={SESSION_COOKIE: session}))
        assert profile is not None
        looked_up = await adapter.fetch_user("u-emmy")
    assert profile.model_dump() == {
        "id": "u-ada",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "title": "Analyst",
        "avatar_url": None,
        "locale": "en-GB",
        "timezone": "Europe/London",
        "groups": ["staff"],
        "attributes": {},
    }
    assert looked_up is not None
    assert (looked_up.first_name, looked_up.title, looked_up.groups) == ("Emmy", None, [])
    login_url = adapter.login_redirect(AUTHORIZE)
    assert login_url == f"{HOST}/?return_to={quote(AUTHORIZE, safe='')}"
    assert parse_qs(urlsplit(login_url).query)["return_to"] == [AUTHORIZE]


# --- the mock Spot -------------------------------------------------------------------------


def sign(key: str = SPOT_KEY, *, issued_at: int | None = None, **member: Any) -> str:
    fields = {
        "sub": "u-ada",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "title": "Analyst",
        "lang": "en-GB",
        "timezone": "Europe/London",
    } | member
    claims = SpotClaims.for_member(
        Member(**fields),
        issued_at=now() if issued_at is None else issued_at,
        ttl_seconds=60,
        groups_join=["staff"],
        custom_properties={"plan": "gold"},
    )
    return TokenIssuer(SecretStr(key)).sign(claims)


async def test_spot_home_links_to_authorize(client: httpx.AsyncClient) -> None:
    reply = await client.get(f"{SPOT}/")
    assert reply.status_code == 200
    assert_page(reply)
    assert "Mock Spot (stands in for go.meltingspot.io)" in reply.text
    login = re.search(
        r'<a class="button" id="sso-login" href="([^"]+)">Log in with SSO</a>', reply.text
    )
    assert login is not None
    url = html.unescape(login.group(1))
    assert url == AUTHORIZE
    query = parse_qs(urlsplit(url).query)
    assert query["spot"] == ["demo"]
    assert query["redirectUrl"] == [f"{SPOT}/sso/callback?referrerUrl=/spot/{SPOT_ID}/lives"]
    from_app = re.search(r'id="from-app" href="([^"]+)"', reply.text)
    assert from_app is not None
    assert html.unescape(from_app.group(1)) == (
        f"{PUBLIC}/authorize?spot=demo&referrerUrl=/spot/{SPOT_ID}/events"
    )
    assert "Open from the app" in reply.text
    assert callback_url(PUBLIC) == f"{SPOT}/sso/callback"


async def test_spot_callback_with_a_valid_token_shows_every_claim(
    client: httpx.AsyncClient,
) -> None:
    token = sign()
    referrer = f"/spot/{SPOT_ID}/lives"
    reply = await client.get(
        f"{SPOT}/sso/callback", params={"referrerUrl": referrer, "token": token}
    )
    assert reply.status_code == 200
    assert_page(reply)
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert "Welcome, Ada Lovelace" in reply.text
    cells = dict(re.findall(r'<td data-claim="([^"]+)">([^<]*)</td>', reply.text))
    assert set(cells) == {
        "sub",
        "firstName",
        "lastName",
        "email",
        "title",
        "lang",
        "timezone",
        "iat",
        "exp",
        "groups:join",
        "customPropertyValue",
    }
    assert cells["sub"] == "u-ada"
    assert cells["lang"] == "en"
    assert cells["timezone"] == "Europe/London"
    assert int(cells["exp"]) - int(cells["iat"]) == 60
    assert html.unescape(cells["groups:join"]) == '["staff"]'
    assert html.unescape(cells["customPropertyValue"]) == '{"plan": "gold"}'
    assert f'<p id="landing">You would land on: {referrer}</p>' in reply.text
    assert token not in reply.text
    assert token.split(".")[2] not in reply.text


async def test_spot_callback_without_referrer(client: httpx.AsyncClient) -> None:
    reply = await client.get(f"{SPOT}/sso/callback", params={"token": sign()})
    assert reply.status_code == 200
    assert 'id="landing"' in reply.text
    assert "no referrerUrl" in reply.text


async def test_spot_callback_without_a_token_is_400(client: httpx.AsyncClient) -> None:
    for params in ({}, {"token": ""}):
        reply = await client.get(f"{SPOT}/sso/callback", params=params)
        assert reply.status_code == 400
        assert_page(reply)
        assert 'id="error"' in reply.text
        assert "no token" in reply.text


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (sign(issued_at=now() - 3600), "expired"),
        (sign("another-spot-key-0123456789abcdef"), "signature"),
        ("garbage", ""),
        ("not.a.token", ""),
        (sign()[:-4] + "AAAA", "signature"),
        (XSS, ""),
    ],
)
async def test_spot_callback_refuses_bad_tokens(
    client: httpx.AsyncClient, token: str, reason: str
) -> None:
    reply = await client.get(f"{SPOT}/sso/callback", params={"token": token, "referrerUrl": "/x"})
    assert reply.status_code == 401
    assert_page(reply)
    error = re.search(r'<p class="error" id="error">([^<]+)</p>', reply.text)
    assert error is not None
    assert "The token was refused" in error.group(1)
    assert reason in error.group(1)
    assert token not in reply.text
    assert "Welcome" not in reply.text
    assert 'id="landing"' not in reply.text


async def test_spot_callback_escapes_claims_and_referrer(client: httpx.AsyncClient) -> None:
    token = sign(first_name=XSS, last_name='"><img src=x onerror=alert(2)>', title="a & b")
    referrer = '"><script>alert(3)</script>'
    reply = await client.get(
        f"{SPOT}/sso/callback", params={"token": token, "referrerUrl": referrer}
    )
    assert reply.status_code == 200
    assert "<script>" not in reply.text
    assert "<img" not in reply.text
    assert f"Welcome, {html.escape(XSS)} {html.escape(chr(34))}&gt;&lt;img" in reply.text
    assert f"You would land on: {html.escape(referrer)}" in reply.text
    assert "a &amp; b" in reply.text


# --- both apps -----------------------------------------------------------------------------


async def test_host_pages_escape_every_dynamic_value(client: httpx.AsyncClient) -> None:
    await log_in(client, "u-xss")
    tricky = f'{PUBLIC}/authorize?a="><script>alert(4)</script>'
    reply = await client.get(f"{HOST}/", params={"return_to": tricky})
    assert reply.status_code == 200
    assert "<script>" not in reply.text
    assert "<img" not in reply.text
    assert "<b>" not in reply.text
    assert html.escape(XSS) in reply.text
    assert "&amp;amp; &lt;b&gt;bold&lt;/b&gt;" in reply.text
    assert html.escape(tricky) in reply.text


@pytest.mark.parametrize(
    "path",
    [f"{HOST}/", f"{HOST}/?return_to=x", f"{SPOT}/", f"{SPOT}/sso/callback"],
)
async def test_every_page_carries_the_csp(client: httpx.AsyncClient, path: str) -> None:
    reply = await client.get(path)
    assert_page(reply)
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["cache-control"] == "no-store"


def test_demo_routes_stay_out_of_openapi() -> None:
    for sub in (
        create_host_app(USERS, API_TOKEN, PUBLIC),
        create_spot_app(SPOT_ID, SPOT_KEY, PUBLIC),
    ):
        routes = [route for route in sub.routes if isinstance(route, APIRoute)]
        assert routes
        assert not any(route.include_in_schema for route in routes)
        assert sub.openapi_url is None
        assert sub.openapi()["paths"] == {}
    app = demo_app()
    assert not any("demo" in path for path in app.openapi()["paths"])


# --- the first hour: what the pages explain ----------------------------------------------


async def test_login_page_shows_return_to_decoded(client: httpx.AsyncClient) -> None:
    reply = await client.get(f"{HOST}/", params={"return_to": AUTHORIZE})
    shown = re.search(r'<p class="muted" id="return-to">(.*?)</p>', reply.text)
    assert shown is not None
    assert html.unescape(shown.group(1)) == (
        "After logging in you go back to <code>"
        f"{PUBLIC}/authorize?spot=demo&redirectUrl={SPOT}/sso/callback"
        f"?referrerUrl=/spot/{SPOT_ID}/lives</code> (shown decoded)."
    )
    hostile = f"{PUBLIC}/authorize?x=%3Cscript%3Ealert(5)%3C%2Fscript%3E"
    reply = await client.get(f"{HOST}/", params={"return_to": hostile})
    assert "<script>" not in reply.text
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in reply.text


async def test_spot_pages_link_home_with_a_button(client: httpx.AsyncClient) -> None:
    button = f'<a class="button secondary" href="{SPOT}/">Back to the mock Spot</a>'
    welcome = await client.get(f"{SPOT}/sso/callback", params={"token": sign()})
    refused = await client.get(f"{SPOT}/sso/callback", params={"token": "garbage"})
    assert button in welcome.text and button in refused.text


async def test_welcome_page_names_the_rule_behind_each_claim() -> None:
    asked: list[dict[str, Any]] = []

    async def explain(claims: dict[str, Any]) -> list[dict[str, Any]]:
        asked.append(claims)
        return [
            {"claim": "sub", "value": "u-ada", "source": "profile.id"},
            {"claim": "groups:join", "value": "staff", "source": "groups.staff"},
            {"claim": "customPropertyValue.plan", "value": "gold", "source": "properties.plan"},
            {"claim": "title", "value": "Analyst", "source": XSS},
        ]

    app = FastAPI()
    app.mount("/demo/spot", create_spot_app(SPOT_ID, SPOT_KEY, PUBLIC, explain=explain))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
        reply = await http.get(f"{SPOT}/sso/callback", params={"token": sign()})
    assert reply.status_code == 200
    assert [claims["sub"] for claims in asked] == ["u-ada"]
    notes = {
        claim: re.findall(r"<span>([^<]*)</span>", note)
        for claim, note in re.findall(
            r'<td data-claim="([^"]+)">[^<]*</td><td class="muted note">(.*?)</td>', reply.text
        )
    }
    assert notes["sub"] == ["profile.id"]
    assert notes["groups:join"] == ["staff: groups.staff"]
    assert notes["customPropertyValue"] == ["plan: properties.plan"]
    assert notes["title"] == [html.escape(XSS)]
    assert notes["email"] == []
    iat = r'<td data-claim="iat">\d+</td><td class="muted note">\d{4}-\d\d-\d\d [\d:]{8} UTC<'
    assert re.search(iat, reply.text)
    assert "<script>" not in reply.text
