"""A failing host platform behind the HTTP adapter: each fault's status and page, over
real sockets where a fault can be made for real (silence, a closed port), and through
``httpx.MockTransport`` for the rest. The service stays healthy after each."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from service.web.app import create_app
from tests.support.assertions import assert_page, assert_problem
from tests.support.hosts import free_port
from tests.support.settings import BILLING_KEY, MAIN_ID, bearer, http_identity, make_settings

HOST = "http://host.test"
CALLBACK = f"https://go.meltingspot.io/spot/{MAIN_ID}/sso"
USER = {"id": "u-1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}


def host_identity(base: str, **extra: Any) -> dict[str, Any]:
    defaults = {
        "forward_cookies": ["sid"],
        "token": "host-service-token-0123456789",
        "read_timeout_seconds": 0.3,
        "connect_timeout_seconds": 0.3,
        "user_cache_ttl_seconds": 0,
    }
    return http_identity(base, **defaults | extra)


Handler = Callable[[httpx.Request], httpx.Response]


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=USER)


def status(code: int) -> Handler:
    return lambda request: httpx.Response(code, json={"error": "x"})


def raw(body: bytes) -> Handler:
    return lambda request: httpx.Response(
        200, content=body, headers={"content-type": "application/json"}
    )


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("read timed out", request=request)


FAULTS: dict[str, tuple[Handler, int, str, str]] = {
    # name: (host behaviour, status, problem slug, words on the browser page)
    "timeout": (timeout, 503, "identity-unavailable", "did not answer"),
    "500": (status(500), 502, "identity-bad-response", "answered with an error"),
    "invalid-json": (raw(b"{not json"), 502, "identity-bad-response", "answered with an error"),
    "oversized": (
        raw(b'{"id": "' + b"x" * 2_000_000 + b'"}'),
        502,
        "identity-bad-response",
        "answered with an error",
    ),
    "missing-fields": (raw(b'{"id": "u-1"}'), 502, "unusable-profile", "lacks details"),
    "bad-email": (
        lambda r: httpx.Response(200, json={**USER, "email": "nope"}),
        502,
        "unusable-profile",
        "lacks details",
    ),
}


async def call_both(handler: Handler) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
    """/tokens by userId, /authorize with a session cookie, then /healthz."""
    host = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    app = create_app(make_settings(identity=host_identity(HOST)), http=host)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", cookies={"sid": "s1"}
        ) as http,
    ):
        api = await http.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
        page = await http.get("/authorize", params={"redirectUrl": CALLBACK})
        health = await http.get("/healthz")
    return api, page, health


@pytest.mark.parametrize(("handler", "code", "slug", "words"), FAULTS.values(), ids=FAULTS.keys())
async def test_host_faults(
    handler: Handler, code: int, slug: str, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    api, page, health = await call_both(handler)
    if code >= 500:  # logged with the request id the user sees as "Reference"
        ids = {
            getattr(r, "request_id", None) for r in caplog.records if r.name == "spot_sso.errors"
        }
        assert {api.json()["requestId"], page.headers["x-request-id"]} <= ids
    assert_problem(api, code, slug)
    assert_page(page, code, words)
    assert health.status_code == 200
    assert "host-service-token" not in api.text + page.text
    assert "host.test" not in page.text  # a browser learns nothing of the host's name


async def test_the_page_names_no_host_the_log_line_with_its_reference_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    app = create_app(make_settings(identity=host_identity(f"http://127.0.0.1:{port}")))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", cookies={"sid": "s1"}
        ) as http,
    ):
        page = await http.get("/authorize", params={"redirectUrl": CALLBACK})
    assert_page(page, 503, "did not answer")
    assert "could not be reached" in page.text
    assert "127.0.0.1" not in page.text and str(port) not in page.text
    reference = page.headers["x-request-id"]
    assert reference in page.text
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "spot_sso.errors" and getattr(r, "request_id", None) == reference
    ]
    # A closed port refuses at once; on a loaded machine the connect may first run past
    # the session's deadline (seen once in CI): either way the line names the host.
    assert lines and re.search(
        rf"127\.0\.0\.1:{port}: (cannot connect|the session timed out \(connecting\))",
        lines[0],
    ), lines


@pytest.mark.parametrize(
    "cookie",
    [r'sid="s1\015\012X-Admin: 1"', r'sid="s1\073 admin=1"', 'sid="s 1"', r'sid="caf\351"'],
)
async def test_a_cookie_that_could_rewrite_the_host_call_is_no_session(
    cookie: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=USER)

    host = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    identity = host_identity(HOST, login_url="https://login.example/?next={return_to}")
    app = create_app(make_settings(identity=identity), http=host)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get(
            "/authorize", params={"redirectUrl": CALLBACK}, headers={"Cookie": cookie}
        )
        metrics = (await http.get("/metrics")).text
    assert response.status_code == 302
    assert response.headers["location"].startswith("https://login.example/")
    assert seen == []
    assert 'spot_sso_forwarded_values_refused_total{kind="cookie"} 1.0' in metrics
    assert 'spot_sso_authorize_outcomes_total{outcome="login_bounce"} 1.0' in metrics
    [warning] = [r for r in caplog.records if getattr(r, "event", "") == "forwarded_value_refused"]
    assert warning.getMessage().startswith("forwarded cookie 'sid' refused")
    assert "s1" not in warning.getMessage() and "admin" not in warning.getMessage()


async def test_a_healthy_host_gives_tokens_both_ways() -> None:
    api, page, _ = await call_both(ok)
    assert api.status_code == 200
    assert page.status_code == 302 and "token=" in page.headers["location"]


async def test_unknown_user_and_no_session() -> None:
    api, page, _ = await call_both(status(404))
    assert_problem(api, 404, "unknown-user")
    assert_page(page, 401, "signed in on the host platform")


# --- real sockets on 127.0.0.1 ---------------------------------------------------------------


@pytest.fixture
async def silent_host() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def real_call(base: str) -> tuple[httpx.Response, httpx.Response]:
    app = create_app(make_settings(identity=host_identity(base)))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", cookies={"sid": "s1"}
        ) as http,
    ):
        # A guard, not a speed check: without the adapter's own timeout this would hang.
        call = http.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
        api = await asyncio.wait_for(call, timeout=30)
        health = await http.get("/healthz")
    return api, health


async def test_a_host_that_never_answers_times_out(silent_host: str) -> None:
    api, health = await real_call(silent_host)
    body = assert_problem(api, 503, "identity-unavailable")
    assert "timed out" in body["detail"] and "127.0.0.1" in body["detail"]
    assert health.status_code == 200


async def test_a_host_refusing_connections() -> None:
    api, health = await real_call(f"http://127.0.0.1:{free_port()}")
    body = assert_problem(api, 503, "identity-unavailable")
    assert "cannot connect" in body["detail"]
    assert health.status_code == 200
