"""What every answer of the service must look like: a problem document, an HTML page."""

from __future__ import annotations

from typing import Any

import httpx


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """An API error: ``application/problem+json`` of type ``slug``, never a token."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:spot-sso:problem:{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["requestId"] == response.headers["x-request-id"]
    assert "token" not in body
    return body


def assert_page(response: httpx.Response, status: int, text: str) -> None:
    """A browser's error page: HTML saying ``text``, no redirect, its reference shown."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert text in response.text
    assert response.headers["x-request-id"] in response.text
    assert "Traceback" not in response.text
