"""GET /authorize: the browser flow, its redirects and its pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
import pytest
from fastapi import FastAPI

from service.web.app import create_app
from tests.support.adapters import FailingAdapter
from tests.support.apps import lifespan_client
from tests.support.assertions import assert_page
from tests.support.settings import MAIN_ID, MAIN_KEY, OTHER_ID, make_settings

MS = "https://go.meltingspot.io"
CALLBACK = f"{MS}/spot/{MAIN_ID}/sso?referrerUrl=%2Fspot%2F{MAIN_ID}%2Flives&x=1"
AS_ADA = {"X-Forwarded-User": "u-1"}

STATIC_WITH_HEADER = {
    "adapter": "static",
    "static": {"trusted_header": "X-Forwarded-User"},
}


class LoginPageAdapter(FailingAdapter):
    """Nobody is logged in; the host's login page is known."""

    def __init__(self) -> None:
        super().__init__("down")

    def login_redirect(self, return_to: str) -> str | None:
        return "https://host.example/login?" + urlencode({"next": return_to})


def app_for(**overrides: Any) -> FastAPI:
    return create_app(make_settings(**overrides))


@pytest.fixture
def app() -> FastAPI:
    return app_for(
        identity=STATIC_WITH_HEADER,
        spots={"main": {"entry_url": f"{MS}/spot/{MAIN_ID}/sso"}},
    )


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan_client(app, base_url="http://127.0.0.1:8000") as http:
        yield http


async def test_from_the_spot_redirects_with_the_token(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/authorize", params={"redirectUrl": CALLBACK}, headers=AS_ADA)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "&token=")
    params = parse_qsl(urlsplit(location).query)
    assert [name for name, _ in params] == ["referrerUrl", "x", "token"]
    claims = jwt.decode(dict(params)["token"], MAIN_KEY, algorithms=["HS256"])
    assert claims["sub"] == "u-1" and claims["exp"] - claims["iat"] == 60
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_forced_referrer_replaces_the_spots_one(browser: httpx.AsyncClient) -> None:
    forced = f"/spot/{MAIN_ID}/events"
    response = await browser.get(
        "/authorize", params={"redirectUrl": CALLBACK, "referrerUrl": forced}, headers=AS_ADA
    )
    params = dict(parse_qsl(urlsplit(response.headers["location"]).query))
    assert params["referrerUrl"] == forced


async def test_from_the_app_goes_to_the_entry_url(browser: httpx.AsyncClient) -> None:
    forced = f"/spot/{MAIN_ID}/lives"
    response = await browser.get(
        "/authorize", params={"spot": "main", "referrerUrl": forced}, headers=AS_ADA
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{MS}/spot/{MAIN_ID}/sso?referrerUrl=/spot/{MAIN_ID}/lives&token=")


async def test_from_the_app_without_entry_url_is_a_page() -> None:
    app = app_for(identity=STATIC_WITH_HEADER)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 1)), base_url="http://t"
    ) as http:
        response = await http.get("/authorize", params={"spot": "main"}, headers=AS_ADA)
    assert_page(response, 400, "no entry_url")


async def test_spot_from_the_redirect_url(browser: httpx.AsyncClient) -> None:
    other = f"{MS}/spot/{OTHER_ID}/sso"
    response = await browser.get("/authorize", params={"redirectUrl": other}, headers=AS_ADA)
    assert response.status_code == 302
    assert response.headers["location"].startswith(other + "?token=")


async def test_spot_and_redirect_url_must_agree(browser: httpx.AsyncClient) -> None:
    response = await browser.get(
        "/authorize",
        params={"spot": "main", "redirectUrl": f"{MS}/spot/{OTHER_ID}/sso"},
        headers=AS_ADA,
    )
    assert_page(response, 400, "another Spot")


async def test_spot_required_when_several_and_none_named(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/authorize", params={"redirectUrl": f"{MS}/sso"}, headers=AS_ADA)
    assert_page(response, 400, "add spot=")


async def test_one_spot_needs_no_spot_parameter() -> None:
    app = app_for(identity=STATIC_WITH_HEADER)
    app.state.runtime.settings.spots.pop("other")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/authorize", params={"redirectUrl": f"{MS}/sso"}, headers=AS_ADA)
    assert response.status_code == 302


async def test_unknown_spot(browser: httpx.AsyncClient) -> None:
    response = await browser.get(
        "/authorize", params={"spot": "nope", "redirectUrl": CALLBACK}, headers=AS_ADA
    )
    assert_page(response, 404, "nope")


@pytest.mark.parametrize(
    "params",
    [
        {"redirectUrl": "https://evil.example/"},
        {"redirectUrl": "https://go.meltingspot.io@evil.example/"},
        {"redirectUrl": "//evil.example"},
        {"redirectUrl": "javascript:alert(1)"},
        {"redirectUrl": CALLBACK, "referrerUrl": f"/spot/{OTHER_ID}/lives"},
        {"redirectUrl": CALLBACK, "referrerUrl": "//evil.example"},
        {"redirectUrl": CALLBACK, "referrerUrl": f"/spot/{MAIN_ID}/%2e%2e/x"},
    ],
)
async def test_refused_links_get_a_page_and_no_token(
    browser: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await browser.get("/authorize", params={"spot": "main", **params}, headers=AS_ADA)
    assert_page(response, 400, "not allowed")
    assert "token" not in response.text.lower().replace("tokens", "")


async def test_repeated_parameters_are_refused(browser: httpx.AsyncClient) -> None:
    response = await browser.get(
        f"/authorize?spot=main&redirectUrl={CALLBACK}&redirectUrl=https://evil.example/",
        headers=AS_ADA,
    )
    assert_page(response, 400, "more than once")


async def test_escaped_pages(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/authorize", params={"spot": "<script>alert(1)</script>"})
    assert response.status_code == 404
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


# --- not logged in -----------------------------------------------------------------------


async def test_not_logged_in_without_login_page(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/authorize", params={"spot": "main", "redirectUrl": CALLBACK})
    assert_page(response, 401, "signed in on the host platform")


def login_page_app() -> FastAPI:
    return create_app(
        make_settings(public_url="https://sso.example.com/base"), adapter=LoginPageAdapter()
    )


async def test_not_logged_in_bounces_to_the_host_login_and_back() -> None:
    app = login_page_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://attacker-host.example"
    ) as http:
        query = {"spot": "main", "redirectUrl": CALLBACK, "referrerUrl": f"/spot/{MAIN_ID}/lives"}
        response = await http.get("/authorize", params=query)
        assert response.status_code == 302
        login = urlsplit(response.headers["location"])
        assert (login.netloc, login.path) == ("host.example", "/login")
        return_to = dict(parse_qsl(login.query))["next"]
        assert return_to.startswith(
            "https://sso.example.com/base/authorize?"
        )  # public_url, not Host
        assert dict(parse_qsl(urlsplit(return_to).query)) == {**query, "afterLogin": "1"}

        again = await http.get(return_to.removeprefix("https://sso.example.com/base"))
        assert_page(again, 401, "still does not know you")
        assert "host.example/login" in again.text


async def test_refused_link_is_refused_before_the_login_bounce() -> None:
    app = login_page_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        response = await http.get(
            "/authorize", params={"spot": "main", "redirectUrl": "https://evil.example/"}
        )
    assert_page(response, 400, "not allowed")


# --- host platform failures ----------------------------------------------------------------


class SessionFailure(FailingAdapter):
    async def resolve_session(self, ctx: object) -> None:
        await self.fetch_user("u-1")


@pytest.mark.parametrize(
    ("mode", "status", "text"),
    [
        ("down", 503, "did not answer"),
        ("garbage", 502, "answered with an error"),
        ("denied", 403, "plan does not include"),
        ("crash", 500, "Something went wrong"),
    ],
)
async def test_host_failures_are_pages(mode: str, status: int, text: str) -> None:
    app = create_app(make_settings(), adapter=SessionFailure(mode))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/authorize", params={"spot": "main", "redirectUrl": CALLBACK})
        assert_page(response, status, text)
        assert "main-spot-test-key" not in response.text
        assert (await http.get("/healthz")).status_code == 200


async def test_unusable_profile_is_a_page() -> None:
    app = app_for(identity=STATIC_WITH_HEADER)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get(
            "/authorize",
            params={"spot": "main", "redirectUrl": CALLBACK},
            headers={"X-Forwarded-User": "u-bad-email"},
        )
    assert_page(response, 502, "email")
    assert "not-an-email" not in response.text


async def test_metrics_count_the_authorize_flow(browser: httpx.AsyncClient) -> None:
    await browser.get("/authorize", params={"redirectUrl": CALLBACK}, headers=AS_ADA)
    text = (await browser.get("/metrics")).text
    assert 'spot_sso_tokens_issued_total{flow="authorize",spot="main"} 1.0' in text
