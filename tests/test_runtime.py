"""The Runtime's shared HTTP client."""

from __future__ import annotations

import http.cookiejar

import httpx
import pytest

from service.identity.config import HttpAdapterConfig
from service.runtime import Runtime
from tests.conftest import make_settings


async def test_shared_client_keeps_no_cookie() -> None:
    """A host's Set-Cookie for one browser must never ride along on another call."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"}, json={})

    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    runtime = Runtime(make_settings())
    runtime.http._transport = httpx.MockTransport(
        recording
    )  # the client as built, another transport
    await runtime.http.get("http://host.test/api/me")
    assert len(runtime.http.cookies.jar) == 0
    # Nothing put in by hand stays either: not by assignment, set(), nor the jar itself.
    runtime.http.cookies = {"sid": "s-1"}
    runtime.http.cookies.set("sid", "s-2")
    runtime.http.cookies.jar.set_cookie(
        http.cookiejar.Cookie(
            0,
            "sid",
            "s-3",
            None,
            False,
            "host.test",
            True,
            False,
            "/",
            True,
            False,
            None,
            False,
            None,
            None,
            {},
        )
    )
    await runtime.http.get("http://host.test/api/me")
    assert len(runtime.http.cookies.jar) == 0
    assert [r.headers.get("cookie") for r in seen] == [None, None]
    await runtime.aclose()


def test_cookie_header_cannot_be_forwarded() -> None:
    with pytest.raises(ValueError, match="forward_cookies"):
        HttpAdapterConfig(session_url="http://h.test/me", forward_headers=["Cookie"])
