"""GET /metrics after a known mix of requests: each family, each label, each count.

One app (memory state) serves tokens by API, the browser flow's redirect, login bounce
and refusals, identity failures from a ``httpx.MockTransport`` host and two rate-limit
refusals; a second app points at a Redis nobody listens on. Then the exposition is
parsed with ``prometheus_client.parser`` and checked, labels included: only
low-cardinality values, never a user, an address, a token or a URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from service.web.app import create_app
from tests.support.hosts import free_port
from tests.support.logs import LogCapture
from tests.support.settings import (
    BILLING_KEY,
    MAIN_ID,
    MAIN_KEY,
    PORTAL_KEY,
    bearer,
    http_identity,
    make_settings,
)

HOST = "http://host.test"
CALLBACK = f"https://go.meltingspot.io/spot/{MAIN_ID}/sso"
REFUSED = "https://evil.test/?u=u-1"
USER = {"id": "u-1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
MEMBER = {"sub": "u-7", "firstName": "Emmy", "lastName": "Noether", "email": "emmy@example.net"}
CLIENT_IP = "203.0.113.7"
GUESSER_IP = "198.51.100.23"
SECRETS_IN_REQUESTS = ("u-1", "u-7", "u-500", "u-slow", "ada", "emmy", "evil.test", "host.test")

LABELS = {
    "spot_sso_tokens_issued": {"spot", "flow"},
    "spot_sso_authorize_outcomes": {"outcome"},
    "spot_sso_identity_request_duration_seconds": {"operation"},
    "spot_sso_identity_errors": {"operation", "kind"},
    "spot_sso_rate_limited": {"limit"},
    "spot_sso_redis_errors": {"component"},
    "spot_sso_http_request_duration_seconds": {"route", "method", "status"},
}


def host(request: httpx.Request) -> httpx.Response:
    """The host platform: Ada's session, a broken session, users that fail in two ways."""
    cookie = request.headers.get("cookie", "")
    if request.url.path == "/api/me":
        if "sid=ada" in cookie:
            return httpx.Response(200, json=USER)
        if "sid=boom" in cookie:
            return httpx.Response(500, json={"error": "x"})
        return httpx.Response(401)
    user = request.url.path.rsplit("/", 1)[-1]
    if user == "u-1":
        return httpx.Response(200, json=USER)
    if user == "u-slow":
        raise httpx.ReadTimeout("read timed out", request=request)
    return httpx.Response(500, json={"error": "x"})


def identity(**extra: Any) -> dict[str, Any]:
    defaults = {
        "login_url": f"{HOST}/login?next={{return_to}}",
        "forward_cookies": ["sid"],
        "user_cache_ttl_seconds": 0,
    }
    return http_identity(HOST, **defaults | extra)


class Caller:
    """One app, reached in process from any client address."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(
        self, method: str, url: str, ip: str = CLIENT_IP, **kwargs: Any
    ) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            return await http.request(method, url, **kwargs)


@pytest.fixture
async def main_app() -> AsyncIterator[Caller]:
    settings = make_settings(
        identity=identity(),
        clients={"portal": {"rate_limit": "1/day"}},
        limits={"failed_auth_per_ip": "2/day"},
    )
    app = create_app(settings, http=httpx.AsyncClient(transport=httpx.MockTransport(host)))
    async with app.router.lifespan_context(app):
        yield Caller(app)


@pytest.fixture
async def redis_down_app() -> AsyncIterator[Caller]:
    settings = make_settings(
        identity=identity(user_cache_ttl_seconds=30),
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    app = create_app(settings, http=httpx.AsyncClient(transport=httpx.MockTransport(host)))
    async with app.router.lifespan_context(app):
        yield Caller(app)


def parse(text: str) -> dict[str, list[Sample]]:
    """The samples of each ``spot_sso_*`` family, by family name."""
    families = text_string_to_metric_families(text)
    return {f.name: list(f.samples) for f in families if f.name.startswith("spot_sso_")}


def values(samples: Iterable[Sample], suffix: str, *labels: str) -> dict[tuple[str, ...], float]:
    """``{(label values...): value}`` of the samples named ``<family><suffix>``."""
    return {
        tuple(s.labels[name] for name in labels): s.value
        for s in samples
        if s.name.endswith(suffix) and not s.name.endswith("_created")
    }


KEY = bearer(BILLING_KEY)
PORTAL = bearer(PORTAL_KEY)
AS = {name: {"Cookie": f"sid={name}"} for name in ("ada", "nobody", "boom")}
REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    # POST /tokens: three tokens, then two identity failures.
    ("POST", "/tokens", {"json": {"userId": "u-1"}, "headers": KEY}, 200),
    ("POST", "/tokens", {"json": {"userId": "u-1"}, "headers": KEY}, 200),
    ("POST", "/tokens", {"json": {"user": MEMBER}, "headers": KEY}, 200),
    ("POST", "/tokens", {"json": {"userId": "u-500"}, "headers": KEY}, 502),
    ("POST", "/tokens", {"json": {"userId": "u-slow"}, "headers": KEY}, 503),
    # The portal client's own limit, 1/day: a token, then a 429.
    ("POST", "/tokens", {"json": {"spot": "main", "user": MEMBER}, "headers": PORTAL}, 200),
    ("POST", "/tokens", {"json": {"spot": "main", "user": MEMBER}, "headers": PORTAL}, 429),
    # GET /authorize: redirected, bounced to the login page, refused, the host failing.
    ("GET", "/authorize", {"params": {"redirectUrl": CALLBACK}, "headers": AS["ada"]}, 302),
    ("GET", "/authorize", {"params": {"redirectUrl": CALLBACK}, "headers": AS["nobody"]}, 302),
    ("GET", "/authorize", {"params": {"spot": "main", "redirectUrl": REFUSED}}, 400),
    ("GET", "/authorize", {"params": {"redirectUrl": CALLBACK}, "headers": AS["boom"]}, 502),
    # A path naming a user, an address and a token: counted as "unmatched".
    ("GET", f"/users/u-1/{CLIENT_IP}", {"params": {"token": "eyJx.eyJy.z"}}, 404),
]


async def exercise(call: Caller) -> None:
    """The requests whose traces the metrics must show, each answer as expected."""
    for method, url, kwargs, status in REQUESTS:
        response = await call(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.text)
    # Someone guessing keys from another address: two 401s, then the failed_auth limit.
    bad = {"Authorization": "Bearer sso_not-a-key-0123456789abcdef"}
    statuses = [
        (await call("POST", "/tokens", ip=GUESSER_IP, json={}, headers=bad)).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


async def test_metrics_count_each_kind_of_request(main_app: Caller) -> None:
    await exercise(main_app)
    response = await main_app("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = parse(response.text)

    tokens = values(families["spot_sso_tokens_issued"], "_total", "spot", "flow")
    assert tokens == {("main", "tokens"): 4, ("main", "authorize"): 1}

    outcomes = values(families["spot_sso_authorize_outcomes"], "_total", "outcome")
    assert outcomes == {
        ("redirected",): 1,
        ("login_bounce",): 1,
        ("invalid-redirect",): 1,
        ("identity-bad-response",): 1,
    }

    durations = families["spot_sso_identity_request_duration_seconds"]
    # Looked up: u-1 twice, u-500, u-slow. Sessions: ada, nobody, boom (the refused
    # redirectUrl never reaches the host).
    assert values(durations, "_count", "operation") == {("lookup",): 4, ("session",): 3}
    buckets = values(durations, "_bucket", "operation", "le")
    assert buckets[("lookup", "+Inf")] == 4 and buckets[("session", "+Inf")] == 3

    errors = values(families["spot_sso_identity_errors"], "_total", "operation", "kind")
    assert errors == {
        ("lookup", "identity-bad-response"): 1,
        ("lookup", "identity-unavailable"): 1,
        ("session", "identity-bad-response"): 1,
    }

    limited = values(families["spot_sso_rate_limited"], "_total", "limit")
    assert limited == {("tokens",): 1, ("failed_auth",): 1}

    # Memory state: Redis never failed, so the family has no sample yet.
    assert values(families["spot_sso_redis_errors"], "_total", "component") == {}

    requests = values(
        families["spot_sso_http_request_duration_seconds"], "_count", "route", "method", "status"
    )
    assert requests == {
        ("/tokens", "POST", "200"): 4,
        ("/tokens", "POST", "502"): 1,
        ("/tokens", "POST", "503"): 1,
        ("/tokens", "POST", "429"): 2,
        ("/tokens", "POST", "401"): 2,
        ("/authorize", "GET", "302"): 2,
        ("/authorize", "GET", "400"): 1,
        ("/authorize", "GET", "502"): 1,
        ("unmatched", "GET", "404"): 1,
    }
    assert_clean_labels(families)


async def test_metrics_count_redis_failures(redis_down_app: Caller) -> None:
    call = redis_down_app
    # Limits fail open and the profile cache is skipped: the token is issued regardless.
    token = await call("POST", "/tokens", json={"userId": "u-1"}, headers=KEY)
    assert token.status_code == 200, token.text
    ready = await call("GET", "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["shared_state"]["ok"] is False
    families = parse((await call("GET", "/metrics")).text)

    # One POST /tokens: the client's hit (ratelimit; the failed-auth check is local), the
    # cache read and the cache write of the lookup (cache). Then the PING of /readyz.
    errors = values(families["spot_sso_redis_errors"], "_total", "component")
    assert errors == {("ratelimit",): 1, ("cache",): 2, ("readyz",): 1}
    assert values(families["spot_sso_tokens_issued"], "_total", "spot", "flow") == {
        ("main", "tokens"): 1
    }
    assert_clean_labels(families)


IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
IPV6 = re.compile(r"[0-9a-f]{0,4}:[0-9a-f]{0,4}:", re.IGNORECASE)


def assert_clean_labels(families: dict[str, list[Sample]]) -> None:
    """Every family is there with exactly its labels; no value names anyone or anything."""
    assert set(LABELS) <= set(families), sorted(families)
    for name, labels in LABELS.items():
        for sample in families[name]:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
    found = {v for samples in families.values() for s in samples for v in s.labels.values()}
    assert found, "no label values at all"
    for value in found:
        assert not any(word in value.lower() for word in SECRETS_IN_REQUESTS), value
        assert not IPV4.search(value) and not IPV6.search(value), value
        assert "eyJ" not in value and "token=" not in value, value
        assert "://" not in value and "?" not in value and "@" not in value, value
        assert len(value) <= 40, value


RULE_MADE = {"groups:join", "groups:leave", "customPropertyValue", "domains:set", "domains:unset"}
IDENTITY = ("sub", "firstName", "lastName", "email", "title", "lang", "timezone", "iat", "exp")


async def test_a_token_request_writes_one_line_with_the_audit_fields(
    log_capture: LogCapture,
) -> None:
    """Behind a trusted proxy, the request's one line names the client from
    X-Forwarded-For, keeps the socket peer as peer_ip, and carries the token's audit
    fields; a refused request's line has none."""
    rules = {"groups": {"staff": ["g-staff"]}, "properties": {"role": "title"}}
    app = create_app(make_settings(trusted_proxies=["10.0.0.0/8"], spots={"main": rules}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            headers = {**bearer(BILLING_KEY), "X-Forwarded-For": "203.0.113.9, 10.9.9.9"}
            headers["X-Request-ID"] = "req-audit-1"
            response = await http.post("/tokens", json={"userId": "u-1"}, headers=headers)
            headers = {"X-Request-ID": "req-audit-2", "Authorization": "Bearer sso_wrong"}
            refused = await http.post("/tokens", json={"userId": "u-1"}, headers=headers)
    assert (response.status_code, refused.status_code) == (200, 401)
    entries = [json.loads(line) for line in log_capture.lines]
    [line] = [e for e in entries if e.get("request_id") == "req-audit-1"]
    assert line["logger"] == "spot_sso.access" and line["message"] == "POST /tokens 200"
    assert (line["client_ip"], line["peer_ip"], line["status"]) == ("203.0.113.9", "10.1.2.3", 200)
    claims = jwt.decode(response.json()["token"], MAIN_KEY, algorithms=["HS256"])
    audit = {k: line[k] for k in ("event", "spot", "sub", "flow", "client", "exp", "made")}
    assert audit == {
        "event": "token_issued",
        "spot": "main",
        "sub": "u-1",
        "flow": "tokens",
        "client": "billing",
        "exp": claims["exp"],
        "made": ["customPropertyValue", "groups:join"],
    }
    assert {"groups:join", "customPropertyValue"} <= claims.keys() <= RULE_MADE | set(IDENTITY)
    assert line["rules"] == ["groups.staff", "properties.role <- title"]
    assert line["ttl_seconds"] == claims["exp"] - claims["iat"]
    [other] = [e for e in entries if e.get("request_id") == "req-audit-2"]
    assert other["status"] == 401 and "event" not in other and "sub" not in other
