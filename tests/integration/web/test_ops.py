"""Liveness, readiness and metrics."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.apps import failing_app, lifespan_client
from tests.support.settings import BILLING_KEY, PORTAL_KEY, bearer


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_each_check(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "status": "ready",
        "checks": {
            "spots": {"ok": True},
            "identity": {"ok": True},
            "shared_state": {"ok": True},
        },
    }


async def test_readyz_fails_while_the_identity_source_is_down_and_says_why_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with lifespan_client(failing_app("down"), base_url="http://t") as http:
        for _ in range(3):
            response = await http.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["identity"] == {"ok": False}
            assert "refused" not in response.text  # the reason is for the log only
        assert (await http.get("/healthz")).status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.name == "spot_sso.runtime"]
    assert len(warnings) == 1  # once, when the check starts failing
    assert "identity not ok" in warnings[0] and "connection refused" in warnings[0]


async def test_metrics_count_tokens_and_time_requests(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await client.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
    await client.post(
        "/tokens", json={"spot": "other", "userId": "u-1"}, headers=bearer(PORTAL_KEY)
    )
    await client.post("/tokens", json={"userId": "u-1"})  # 401, counted as a request only
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    issued = {
        (s.labels["spot"], s.labels["flow"]): s.value
        for s in families["spot_sso_tokens_issued"].samples
        if s.name.endswith("_total")
    }
    assert issued == {("main", "tokens"): 2.0, ("other", "tokens"): 1.0}

    counts = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in families["spot_sso_http_request_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert counts[("/tokens", "POST", "200")] == 3
    assert counts[("/tokens", "POST", "401")] == 1
    assert all("u-1" not in str(labels) for labels in counts)


async def test_metrics_label_unknown_paths_as_unmatched(client: httpx.AsyncClient) -> None:
    for path in ("/a", "/b", "/c"):
        await client.get(path)
    text = (await client.get("/metrics")).text
    assert 'route="unmatched"' in text
    assert 'route="/a"' not in text
