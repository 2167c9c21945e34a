"""The whole round trip in a real browser: mock Spot -> /authorize -> host login -> Spot;
the embedded widget on the host's page; the API docs offline.

Debian's Chromium, driven by Playwright (never a downloaded browser), against a real
`spot-sso demo` process on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from service.demo import DEMO_API_KEY, DEMO_PRIVATE_KEY, DEMO_SPOT_ID
from tests.support.processes import Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 15_000

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def browser_page() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def test_round_trip_from_the_spot_and_from_the_app(
    server_factory: Callable[..., Server], browser_page: object
) -> None:
    from playwright.sync_api import Page

    page: Page = browser_page  # type: ignore[assignment]
    server = server_factory(["demo"])

    page.goto(f"{server.url}/demo/spot/")
    page.click("#sso-login")
    page.wait_for_url("**/demo/host/**")  # not logged in: the host platform's login page
    page.click("button:has-text('Marie Curie')")
    page.wait_for_url("**/demo/spot/sso/callback?**")

    final = urlsplit(page.url)
    params = parse_qs(final.query)
    assert list(params) == ["referrerUrl", "token"]
    claims = jwt.decode(params["token"][0], DEMO_PRIVATE_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["lang"]) == ("u-marie", "fr")
    assert page.text_content("h1") == "Welcome, Marie Curie"
    assert page.text_content('[data-claim="sub"]') == "u-marie"
    assert page.text_content('[data-claim="email"]') == "marie@example.org"
    assert f"/spot/{DEMO_SPOT_ID}/lives" in (page.text_content("#landing") or "")

    # Logged in on the host now: "from the app" goes straight through, to entry_url.
    page.goto(f"{server.url}/demo/spot/")
    page.click("#from-app")
    page.wait_for_url("**/demo/spot/sso/callback?**")
    assert f"/spot/{DEMO_SPOT_ID}/events" in (page.text_content("#landing") or "")
    assert page.text_content('[data-claim="firstName"]') == "Marie"

    assert params["token"][0] not in server.logs


def test_a_refused_redirect_shows_a_page_in_the_browser(
    server_factory: Callable[..., Server], browser_page: object
) -> None:
    from playwright.sync_api import Page

    page: Page = browser_page  # type: ignore[assignment]
    server = server_factory(["demo"])
    response = page.goto(f"{server.url}/authorize?spot=demo&redirectUrl=https://evil.example/")
    assert response is not None and response.status == 400
    assert urlsplit(page.url).netloc == urlsplit(server.url).netloc
    assert "not allowed" in (page.text_content("main") or "")


def test_the_api_docs_render_without_internet(
    server_factory: Callable[..., Server], browser_page: object
) -> None:
    """/docs with every request to anything but 127.0.0.1 cut off: Swagger UI comes from
    spot-sso itself and renders the issueToken operation."""
    from playwright.sync_api import Page, Route

    page: Page = browser_page  # type: ignore[assignment]
    server = server_factory(["demo"])
    elsewhere: list[str] = []

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{server.url}/docs")
    operation = page.locator('[id$="-issueToken"]')
    operation.wait_for()
    assert "/tokens" in (operation.text_content() or "")
    assert elsewhere == []


def test_the_embedded_widget_shows_the_member_from_a_verified_token(
    server_factory: Callable[..., Server], browser_page: object, tmp_path: Path
) -> None:
    """The host's community page: its backend gets the token from POST /tokens, the
    mock widget has the mock Spot verify it and shows the member; the API key never
    reaches the browser."""
    from playwright.sync_api import Page, Request

    page: Page = browser_page  # type: ignore[assignment]
    server = server_factory(["demo"])
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))

    page.goto(f"{server.url}/demo/spot/")
    page.click("#embedded")
    page.wait_for_url("**/demo/host/?return_to=**")  # not logged in: the host's login page
    page.click("button:has-text('Ada Lovelace')")
    page.wait_for_url("**/demo/host/community")

    widget = page.locator('#spot-widget[data-state="member"]')
    widget.wait_for(state="visible")
    member = page.locator("#spot-widget-member")
    assert member.text_content() == "Logged in as Ada Lovelace (ada@example.com)"
    box = widget.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 30
    shot = widget.screenshot(path=str(tmp_path / "widget.png"))
    assert shot.startswith(b"\x89PNG") and len(shot) > 1000
    page.screenshot(path=str(tmp_path / "community.png"), full_page=True)

    token = page.get_attribute("script[data-auth-token]", "data-auth-token")
    assert token is not None
    claims = jwt.decode(token, DEMO_PRIVATE_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["exp"] - claims["iat"]) == ("u-ada", 60)

    assert DEMO_API_KEY not in page.content()
    for request in seen:
        sent = " ".join([request.url, str(request.all_headers()), request.post_data or ""])
        assert DEMO_API_KEY not in sent, request.url
    assert [r.url for r in seen if r.method == "POST"][-1].endswith("/demo/spot/widget/session")
    assert token not in server.logs


PHONE = {"width": 360, "height": 740}


def test_every_demo_and_error_page_fits_a_phone(
    server_factory: Callable[..., Server], browser_page: object
) -> None:
    """At 360 px nothing scrolls sideways: the round trip's pages, the widget, and the
    error pages of the demo and of /authorize. The welcome page also says why each claim
    has its value, with spot-sso explain's reasons."""
    from playwright.sync_api import Page

    page: Page = browser_page  # type: ignore[assignment]
    page.set_viewport_size(PHONE)
    server = server_factory(["demo"])
    too_wide: dict[str, int] = {}

    def measure(name: str) -> None:
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > page.evaluate("innerWidth"):
            too_wide[name] = width

    page.goto(f"{server.url}/demo/spot/")
    measure("mock Spot home")
    page.click("#sso-login")
    page.wait_for_url("**/demo/host/**")
    measure("host login page, with return_to")
    page.click("button:has-text('Ada Lovelace')")
    page.wait_for_url("**/demo/spot/sso/callback?**")
    measure("welcome page")
    assert page.text_content('[data-claim="groups:join"] + td') == "demo-group-staff: groups.staff"
    assert page.text_content('[data-claim="sub"] + td') == "profile.id"
    page.goto(f"{server.url}/demo/host/")
    measure("host home, logged in")
    page.goto(f"{server.url}/demo/host/community")
    page.locator('#spot-widget[data-state="member"]').wait_for()
    measure("community page with the widget")
    page.goto(f"{server.url}/demo/spot/sso/callback?token=not-a-token")
    measure("mock Spot error page")
    long_target = "https://evil.example/" + "a" * 400
    for path in (
        f"/authorize?spot=demo&redirectUrl={long_target}",
        "/authorize?spot=nope",
        f"/authorize?spot=demo&referrerUrl=/spot/{'x' * 300}",
    ):
        page.goto(server.url + path)
        measure(path[:40])
    page.goto(f"{server.url}/demo/host/logout")
    page.goto(
        f"{server.url}/authorize?spot=demo&afterLogin=1&referrerUrl=/spot/{DEMO_SPOT_ID}/lives"
    )
    assert "You are not signed in" in (page.text_content("main") or "")
    measure("not signed in page")
    page.goto(f"{server.url}/demo/host/")
    page.evaluate("document.querySelector('input[name=user_id]').value = 'u-nobody'")
    page.click("button >> nth=0")
    assert "There is no demo user with that ID." in (page.text_content("main") or "")
    measure("host error page")
    assert too_wide == {}
