"""The OpenID Connect flow in a real browser: the demo's mock Spot -> /authorize -> the
OpenID provider's login and consent pages -> /oidc/callback -> the Spot, member shown.

Debian's Chromium (Playwright), a real `spot-sso demo` process whose identity source is a
real OpenID provider (oidc-provider on Node), both on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from service.demo import DEMO_PRIVATE_KEY
from tests.e2e.test_browser import browser_page  # noqa: F401 - the fixture
from tests.support.hosts import free_port
from tests.support.oidc_provider import (
    ACCOUNTS,
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    provider_available,
    start_provider,
)
from tests.support.processes import Server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def sign_in_at_the_provider(page: Any, login: str) -> None:
    """On the provider's development pages: log in as ``login`` (any password), then
    consent; the provider then sends the browser back."""
    page.wait_for_url("**/interaction/**")  # the login page
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_url("**/interaction/**")  # the consent page
    page.click("button[type=submit]")


@pytest.fixture
def oidc_demo(server_factory: Callable[..., Server]) -> Iterator[tuple[Server, Provider]]:
    """`spot-sso demo` signing in at a provider; the demo Spot admits `staff` only."""
    if provider_available() is not None:
        start_provider(ACCOUNTS)  # skips (or fails under REQUIRE_OIDC) with the reason
    port = free_port()
    env = {
        "SPOT_SSO_IDENTITY__ADAPTER": "oidc",
        "SPOT_SSO_IDENTITY__OIDC__ISSUER": f"http://127.0.0.1:{port}",
        "SPOT_SSO_IDENTITY__OIDC__CLIENT_ID": CLIENT_ID,
        "SPOT_SSO_IDENTITY__OIDC__CLIENT_SECRET": CLIENT_SECRET,
        "SPOT_SSO_IDENTITY__OIDC__SCOPES": json.dumps(["openid", "email", "profile", "groups"]),
        "SPOT_SSO_SPOTS__DEMO__REQUIRE_GROUPS": json.dumps(["staff"]),
    }
    server = server_factory(["demo"], env=env)
    provider = start_provider(ACCOUNTS, port=port, redirect_uri=f"{server.url}/oidc/callback")
    try:
        yield server, provider
    finally:
        provider.stop()


def test_sign_in_at_the_provider_then_again_without_a_page_then_refused(
    oidc_demo: tuple[Server, Provider],
    browser_page: object,  # noqa: F811
) -> None:
    from playwright.sync_api import Page

    page: Page = browser_page  # type: ignore[assignment]
    server, provider = oidc_demo

    page.goto(f"{server.url}/demo/spot/")
    page.click("#sso-login")
    page.wait_for_url(f"{provider.issuer}/**")  # at the provider
    sign_in_at_the_provider(page, "ada")
    page.wait_for_url("**/demo/spot/sso/callback?**")
    token = parse_qs(urlsplit(page.url).query)["token"][0]
    claims = jwt.decode(token, DEMO_PRIVATE_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["email"]) == ("ada", "ada@example.com")
    assert claims["groups:join"] == ["demo-group-staff"]
    assert page.text_content("h1") == "Welcome, Ada Lovelace"

    # Signed in at the provider now: the second sign-in shows no page of its own.
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"{server.url}/demo/spot/")
    page.click("#sso-login")
    page.wait_for_url("**/demo/spot/sso/callback?**")
    assert not [url for url in seen if "/interaction/" in url]
    assert page.text_content('[data-claim="sub"]') == "ada"
    assert token not in server.logs


def test_an_account_without_the_required_group_gets_the_access_denied_page(
    oidc_demo: tuple[Server, Provider],
    browser_page: object,  # noqa: F811
) -> None:
    from playwright.sync_api import Page

    page: Page = browser_page  # type: ignore[assignment]
    server, _ = oidc_demo
    page.goto(f"{server.url}/demo/spot/")
    page.click("#sso-login")
    with page.expect_response(lambda r: "/oidc/callback" in r.url) as answer:
        sign_in_at_the_provider(page, "cy")
    response = answer.value
    assert response.status == 403
    assert "User not allowed" in (page.text_content("h1") or "")
    assert "token=" not in page.url


def test_the_demo_shows_the_flow_with_its_own_provider(
    server_factory: Callable[..., Server],
    browser_page: object,  # noqa: F811
) -> None:
    """`spot-sso demo --oidc`: the demo users are the provider's accounts."""
    if provider_available() is not None:
        start_provider(ACCOUNTS)  # skips (or fails under REQUIRE_OIDC) with the reason
    from playwright.sync_api import Page

    page: Page = browser_page  # type: ignore[assignment]
    server = server_factory(["demo", "--oidc"])
    assert "sign in with a demo user's id, any password" in server.logs
    page.goto(f"{server.url}/demo/spot/")
    page.click("#sso-login")
    sign_in_at_the_provider(page, "u-marie")
    page.wait_for_url("**/demo/spot/sso/callback?**")
    assert page.text_content("h1") == "Welcome, Marie Curie"
    assert page.text_content('[data-claim="sub"]') == "u-marie"
    assert page.text_content('[data-claim="lang"]') == "fr"
