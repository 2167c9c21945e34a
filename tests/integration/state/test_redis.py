"""Shared state in a real Redis: replicas agree on limits and cache; Redis failing fails open.

Uses the machine's Redis on 127.0.0.1:6379 (database 15, flushed per test) and, to stop a
Redis in the middle of a test, a redis-server of our own on a free port.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from service.web.app import create_app
from tests.support.hosts import free_port
from tests.support.settings import BILLING_KEY, bearer, make_settings

SHARED = "redis://127.0.0.1:6379/15"
USER = {"id": "u-1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}


def redis_available(url: str = SHARED) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")


@pytest.fixture(autouse=True)
def _flush() -> None:
    redis.Redis.from_url(SHARED).flushdb()


_OPEN: list[FastAPI] = []


def app_on(url: str, http: httpx.AsyncClient | None = None, **overrides: Any) -> FastAPI:
    """An app on Redis at ``url``; closed after the test (its Redis connections too)."""
    app = create_app(make_settings(redis_url=url, **overrides), http=http)
    _OPEN.append(app)
    return app


@pytest.fixture(autouse=True)
async def _close_apps() -> AsyncIterator[None]:
    yield
    while _OPEN:
        await _OPEN.pop().state.runtime.aclose()


async def post_token(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))


async def get(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        return await client.get(path)


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def test_two_replicas_enforce_one_limit_together() -> None:
    replicas = [app_on(SHARED, limits={"tokens_per_client": "4/day"}) for _ in range(2)]
    codes = [(await post_token(replicas[i % 2])).status_code for i in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]


async def test_in_memory_replicas_each_count_alone() -> None:
    replicas = [create_app(make_settings(limits={"tokens_per_client": "2/day"})) for _ in range(2)]
    codes = [(await post_token(replicas[i % 2])).status_code for i in range(4)]
    assert codes == [200, 200, 200, 200]


# The HTTP adapter against a host that knows USER, with its user cache on for 30 s.
CACHED_LOOKUPS = {
    "adapter": "http",
    "http": {"user_url": "http://host.test/users/{user_id}", "user_cache_ttl_seconds": 30},
}


def cached_lookup_apps(count: int) -> tuple[list[FastAPI], list[str]]:
    """``count`` replicas on the shared Redis, and the paths their host was asked."""
    calls: list[str] = []

    def host(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=USER)

    host_client = httpx.AsyncClient(transport=httpx.MockTransport(host))
    apps = [app_on(SHARED, http=host_client, identity=CACHED_LOOKUPS) for _ in range(count)]
    return apps, calls


async def test_replicas_share_the_profile_cache() -> None:
    replicas, calls = cached_lookup_apps(2)
    for app in replicas:
        assert (await post_token(app)).status_code == 200
    assert calls == ["/users/u-1"]  # the second replica found the profile in Redis
    keys = redis.Redis.from_url(SHARED).keys("spot-sso:cache:users:*")
    assert len(keys) == 1 and b"u-1" not in keys[0]  # keys are hashed


async def test_a_cached_profile_that_cannot_be_read_back_is_a_counted_miss() -> None:
    """Another version's entry (or garbage) in Redis: the host is asked again, and the
    failure counted, never a 500."""
    [app], calls = cached_lookup_apps(1)
    assert (await post_token(app)).status_code == 200
    store = redis.Redis.from_url(SHARED)
    [key] = store.keys("spot-sso:cache:users:*")
    store.set(key, b'{"id": "u-1", "email": 3')
    assert (await post_token(app)).status_code == 200
    assert calls == ["/users/u-1", "/users/u-1"]
    text = (await get(app, "/metrics")).text
    assert metric(text, "spot_sso_redis_errors_total", component="cache") == 1


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, so it can be stopped without harm."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_available(url):
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield url, process
    process.kill()
    process.wait(timeout=10)


async def test_redis_stopped_mid_test_keeps_tokens_coming(
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = own_redis
    app = app_on(url, limits={"tokens_per_client": "100/minute"})
    assert (await post_token(app)).status_code == 200
    assert (await get(app, "/readyz")).json()["checks"]["shared_state"] == {"ok": True}

    process.terminate()
    process.wait(timeout=10)

    for _ in range(3):
        assert (await post_token(app)).status_code == 200  # limits fail open
    ready = await get(app, "/readyz")
    assert ready.status_code == 200  # degraded, not unready
    assert ready.json()["checks"]["shared_state"] == {"ok": False}
    assert (await get(app, "/healthz")).status_code == 200
    text = (await get(app, "/metrics")).text
    assert metric(text, "spot_sso_redis_errors_total", component="ratelimit") >= 3
    assert metric(text, "spot_sso_tokens_issued_total", spot="main", flow="tokens") == 4


async def test_unreachable_redis_url_from_the_start() -> None:
    app = app_on(f"redis://127.0.0.1:{free_port()}/0")
    for _ in range(2):
        assert (await post_token(app)).status_code == 200
    shared = (await get(app, "/readyz")).json()["checks"]["shared_state"]
    assert shared == {"ok": False}
    problems = await app.state.runtime.readiness()
    assert "connect" in str(problems["shared_state"]).lower()
    text = (await get(app, "/metrics")).text
    assert metric(text, "spot_sso_redis_errors_total", component="ratelimit") >= 2


async def test_redis_password_is_never_shown() -> None:
    app = app_on(f"redis://:hunter2-redis-secret@127.0.0.1:{free_port()}/0")
    await post_token(app)
    body = (await get(app, "/readyz")).text
    assert "hunter2-redis-secret" not in body
    assert "hunter2-redis-secret" not in str(app.state.runtime.settings.redacted())
