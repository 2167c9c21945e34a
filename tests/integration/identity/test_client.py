"""The Runtime's shared client for host calls: httpx's own transport, no cookie kept,
fresh connections on request, the environment's proxies; against real sockets on
127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import httpx
import pytest

from service.errors import IdentityMismatch
from service.identity.client import FRESH_CONNECTION, host_client
from service.identity.http import HttpAdapter
from service.runtime.runtime import HTTP_MAX_CONNECTIONS, Runtime
from service.settings.identity import HttpAdapterConfig
from tests.support.raw_host import Peer, RawHost, Received, answer, profile
from tests.support.settings import make_settings

TIMEOUT = httpx.Timeout(2.0)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy of the machine stands between a test and its server."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def with_cookie(request: Received, peer: Peer) -> bool:
    await peer.send(answer(b"{}", "Set-Cookie: session=abc; Path=/"))
    return True


@pytest.fixture
def host() -> Iterator[RawHost]:
    with RawHost(with_cookie) as raw:
        yield raw


async def test_no_cookie_is_kept_and_none_is_sent(host: RawHost) -> None:
    """A host's Set-Cookie for one browser must never ride along on another call."""
    async with host_client(timeout=TIMEOUT, max_connections=4) as client:
        first = await client.get(host.url + "/api/me")
        await client.get(host.url + "/api/users/1")
        assert len(client.cookies.jar) == 0
    assert "set-cookie" not in first.headers
    assert [request.headers.get("cookie") for request in host.requests] == [None, None]


async def test_shared_client_keeps_no_cookie() -> None:
    """A host's Set-Cookie for one browser must never ride along on another call: the
    transport drops it, and the client's own jar refuses it should a transport let one
    through (here, the client as built with another transport swapped in)."""
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"}, json={})

    through = host_client(
        timeout=TIMEOUT,
        max_connections=HTTP_MAX_CONNECTIONS,
        transport=httpx.MockTransport(recording),
    )
    swapped = Runtime(make_settings())
    swapped.http._transport = httpx.MockTransport(recording)
    for client in (through, swapped.http):
        for _ in range(2):
            await client.get("http://host.test/api/me")
        assert len(client.cookies.jar) == 0
        await client.aclose()
    assert [r.headers.get("cookie") for r in seen] == [None] * 4


async def test_pooled_requests_share_a_connection_fresh_ones_never_do(host: RawHost) -> None:
    async with host_client(timeout=TIMEOUT, max_connections=4) as client:
        for _ in range(3):
            await client.get(host.url + "/pooled")
        fresh = {FRESH_CONNECTION: True}
        for _ in range(3):
            await client.get(host.url + "/fresh", extensions=fresh)
        await client.get(host.url + "/pooled")
    by_path: dict[str, set[int]] = {}
    for request in host.requests:
        by_path.setdefault(request.path, set()).add(request.connection)
    assert len(by_path["/pooled"]) == 1
    assert len(by_path["/fresh"]) == 3
    assert not by_path["/fresh"] & by_path["/pooled"]


async def test_concurrent_fresh_requests_each_get_their_own_connection(host: RawHost) -> None:
    async with host_client(timeout=TIMEOUT, max_connections=4) as client:
        fresh = {FRESH_CONNECTION: True}
        await asyncio.gather(*(client.get(host.url, extensions=fresh) for _ in range(12)))
    assert len({request.connection for request in host.requests}) == 12


async def test_an_environment_proxy_applies_and_no_proxy_bypasses_it(
    host: RawHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def as_proxy(request: Received, peer: Peer) -> bool:
        await peer.send(answer(b'{"via": "proxy"}'))
        return True

    with RawHost(as_proxy) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with host_client(timeout=TIMEOUT, max_connections=4) as client:
            via = await client.get("http://host.invalid/api/me")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with host_client(timeout=TIMEOUT, max_connections=4) as client:
            direct = await client.get(host.url + "/api/me")
    assert via.json() == {"via": "proxy"}
    assert [r.line for r in proxy.requests] == ["GET http://host.invalid/api/me HTTP/1.1"]
    assert direct.status_code == 200 and [r.path for r in host.requests] == ["/api/me"]


async def test_a_connection_that_delivered_another_users_profile_is_not_used_again() -> None:
    count = itertools.count()

    async def first_answer_wrong(request: Received, peer: Peer) -> bool:
        user = request.path.rsplit("/", 1)[-1]
        await peer.send(answer(json_body=profile("u-evil" if next(count) == 0 else user)))
        return True

    with RawHost(first_answer_wrong) as host:
        config = HttpAdapterConfig(
            user_url=host.url + "/api/users/{user_id}", user_cache_ttl_seconds=0
        )
        async with host_client(timeout=TIMEOUT, max_connections=4) as client:
            adapter = HttpAdapter(config, client)
            with pytest.raises(IdentityMismatch):
                await adapter.fetch_user("u-1")
            assert (await adapter.fetch_user("u-1")).id == "u-1"
            assert (await adapter.fetch_user("u-2")).id == "u-2"
    assert [request.connection for request in host.requests] == [1, 2, 2]
