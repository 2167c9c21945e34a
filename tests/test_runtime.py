"""The Runtime's shared HTTP client."""

from __future__ import annotations

import httpx
import pytest

from service.identity.config import HttpAdapterConfig
from service.runtime import Runtime
from tests.conftest import make_settings


async def test_shared_client_keeps_no_cookie() -> None:
    """A host's Set-Cookie for one browser must never ride along on another call."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"}, json={})

    runtime = Runtime(make_settings())
    runtime.http._transport = httpx.MockTransport(handler)  # the client as built, another transport
    await runtime.http.get("http://host.test/api/me")
    assert len(runtime.http.cookies.jar) == 0
    await runtime.aclose()


def test_cookie_header_cannot_be_forwarded() -> None:
    with pytest.raises(ValueError, match="forward_cookies"):
        HttpAdapterConfig(session_url="http://h.test/me", forward_headers=["Cookie"])
