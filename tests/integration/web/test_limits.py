"""Rate limits in memory: per client on /tokens, per IP on /authorize, failed keys per IP."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from service.web.app import create_app
from tests.support.settings import BILLING_KEY, MAIN_ID, PORTAL_KEY, bearer, make_settings

CALLBACK = f"https://go.meltingspot.io/spot/{MAIN_ID}/sso"


def app_with(**overrides: Any) -> FastAPI:
    return create_app(make_settings(**overrides))


def http(app: FastAPI, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 1)), base_url="http://t"
    )


async def test_tokens_per_client() -> None:
    app = app_with(limits={"tokens_per_client": "3/day"})
    async with http(app) as client:
        codes = [
            (
                await client.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
            ).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        refused = await client.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "urn:spot-sso:problem:rate-limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 86_400
        other = await client.post(
            "/tokens", json={"spot": "main", "userId": "u-1"}, headers=bearer(PORTAL_KEY)
        )
        assert other.status_code == 200  # each client has its own count


async def test_per_client_override() -> None:
    app = app_with(
        limits={"tokens_per_client": "1/day"}, clients={"billing": {"rate_limit": "5/day"}}
    )
    body = {"spot": "main", "userId": "u-1"}
    async with http(app) as client:
        billing = [
            (await client.post("/tokens", json=body, headers=bearer(BILLING_KEY))).status_code
            for _ in range(6)
        ]
        portal = [
            (await client.post("/tokens", json=body, headers=bearer(PORTAL_KEY))).status_code
            for _ in range(2)
        ]
    assert billing == [200] * 5 + [429]
    assert portal == [200, 429]


async def test_failed_keys_per_ip_then_even_the_right_key_waits() -> None:
    app = app_with(limits={"failed_auth_per_ip": "3/day"})
    async with http(app) as client:
        for _ in range(3):
            assert (
                await client.post("/tokens", json={}, headers=bearer("sso_guess"))
            ).status_code == 401
        blocked = await client.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
        assert blocked.status_code == 429 and "retry-after" in blocked.headers
    async with http(app, ip="198.51.100.9") as elsewhere:
        ok = await elsewhere.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
        assert ok.status_code == 200


async def test_authorize_per_ip_is_a_page_with_retry_after() -> None:
    app = app_with(limits={"authorize_per_ip": "2/day"})
    async with http(app) as browser:
        codes = [
            (await browser.get("/authorize", params={"redirectUrl": CALLBACK})).status_code
            for _ in range(3)
        ]
        assert codes == [401, 401, 429]
        page = await browser.get("/authorize", params={"redirectUrl": CALLBACK})
        assert page.headers["content-type"].startswith("text/html")
        assert "Too many requests" in page.text and "retry-after" in page.headers
        assert "location" not in page.headers


async def test_authorize_limit_per_spot_override() -> None:
    app = app_with(
        limits={"authorize_per_ip": "1/day"},
        spots={"main": {"authorize_rate_limit": "3/day"}},
    )
    async with http(app) as browser:
        codes = [
            (await browser.get("/authorize", params={"redirectUrl": CALLBACK})).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]


async def test_limits_can_be_switched_off() -> None:
    app = app_with(limits={"enabled": False, "tokens_per_client": "1/day"})
    async with http(app) as client:
        for _ in range(3):
            assert (
                await client.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
            ).status_code == 200


async def test_forwarded_for_counts_only_from_trusted_proxies() -> None:
    app = app_with(limits={"authorize_per_ip": "1/day"}, trusted_proxies=["10.0.0.0/8"])
    async with http(app, ip="10.1.1.1") as proxy:
        for browser in ("203.0.113.1", "203.0.113.2"):  # two browsers behind the proxy
            response = await proxy.get(
                "/authorize", params={"redirectUrl": CALLBACK}, headers={"X-Forwarded-For": browser}
            )
            assert response.status_code == 401
    async with http(app, ip="192.0.2.50") as direct:  # not a proxy: its header is ignored
        first = await direct.get(
            "/authorize",
            params={"redirectUrl": CALLBACK},
            headers={"X-Forwarded-For": "203.0.113.3"},
        )
        second = await direct.get(
            "/authorize",
            params={"redirectUrl": CALLBACK},
            headers={"X-Forwarded-For": "203.0.113.4"},
        )
        assert (first.status_code, second.status_code) == (401, 429)
