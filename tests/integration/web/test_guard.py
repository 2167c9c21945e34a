"""ApiRoute: the API key, then the media type and the size, before a byte of the body
is read; then FastAPI's own body validation. Driven at the ASGI level, so the test sees
every receive() the app makes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from service.web.app import create_app
from tests.support.settings import BILLING_KEY, make_settings

MAX = 1024


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(max_body_bytes=MAX))
    async with application.router.lifespan_context(application):
        yield application


async def call(
    app: FastAPI, body: bytes, headers: dict[str, str], chunks: int = 1
) -> tuple[int, dict[str, str], bytes, int]:
    """POST /tokens; (status, headers, body, how many body chunks the app asked for)."""
    size = -(-len(body) // chunks) or 1
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if asked < len(parts):
            asked += 1
            return {
                "type": "http.request",
                "body": parts[asked - 1],
                "more_body": asked < len(parts),
            }
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = dict(
        type="http",
        method="POST",
        path="/tokens",
        raw_path=b"/tokens",
        headers=[(k.lower().encode(), v.encode()) for k, v in headers.items()],
        client=("127.0.0.1", 50000),
        **{"asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http"},
        **{"query_string": b"", "root_path": "", "server": ("testserver", 80)},
    )
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    reply = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], names, reply, asked


JSON = {"content-type": "application/json"}
KEY = {"authorization": f"Bearer {BILLING_KEY}"}


@pytest.mark.parametrize(
    "body", [b'{"userId": "u-1"}', b"{not json", b"[" * 100_000, b"x" * (MAX * 10)]
)
async def test_without_a_key_no_byte_of_the_body_is_read(app: FastAPI, body: bytes) -> None:
    status, headers, reply, asked = await call(
        app, body, {**JSON, "content-length": str(len(body))}
    )
    assert (status, asked) == (401, 0)
    assert b"missing-api-key" in reply and headers["content-type"] == "application/problem+json"


async def test_a_wrong_key_is_refused_before_the_body_too(app: FastAPI) -> None:
    body = b'{"userId": "u-1"}'
    status, _, reply, asked = await call(
        app, body, {**JSON, "authorization": "Bearer sso_wrong-key-0123456789"}
    )
    assert (status, asked) == (401, 0) and b"invalid-api-key" in reply


async def test_a_body_that_is_not_json_is_refused_unread(app: FastAPI) -> None:
    status, _, reply, asked = await call(
        app, b"userId=u-1", {**KEY, "content-type": "application/x-www-form-urlencoded"}
    )
    assert (status, asked) == (415, 0) and b"unsupported-media-type" in reply


async def test_a_declared_length_over_the_limit_is_refused_unread(app: FastAPI) -> None:
    body = b'{"userId": "u-1"}' + b" " * MAX
    status, _, reply, asked = await call(
        app, body, {**KEY, **JSON, "content-length": str(len(body))}
    )
    assert (status, asked) == (413, 0)
    assert b"payload-too-large" in reply and f"larger than {MAX} bytes".encode() in reply


async def test_an_undeclared_body_is_abandoned_once_past_the_limit(app: FastAPI) -> None:
    body = b'{"userId": "u-1"}' + b" " * (MAX * 8)
    status, _, reply, asked = await call(app, body, {**KEY, **JSON}, chunks=16)
    assert status == 413 and b"payload-too-large" in reply
    assert asked < 16  # it stopped reading: the rest was never asked for


async def test_a_body_within_the_limit_is_validated_by_fastapi(app: FastAPI) -> None:
    ok = await call(app, b'{"userId": "u-1"}', {**KEY, **JSON})
    assert ok[0] == 200 and b'"tokenType":"JWT"' in ok[2]
    bad = await call(app, b'{"userId": "u-1", "extra": 1}', {**KEY, **JSON})
    assert bad[0] == 422 and b'"pointer":"/extra"' in bad[2] and b"unknown field" in bad[2]
    bare = await call(app, b'{"userId": "u-1"}', KEY)  # no Content-Type: read as JSON
    assert bare[0] == 200


def test_the_openapi_body_and_security_are_generated_from_the_route() -> None:
    document = create_app(make_settings()).openapi()
    operation = document["paths"]["/tokens"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenRequest"
    }
    assert operation["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["apiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The API key.",
    }
    assert "userId" in document["components"]["schemas"]["TokenRequest"]["properties"]


@pytest.mark.parametrize("body", [b'{"userId": "\xff\xfe"}', "{}".encode("utf-16")])
async def test_a_body_that_is_not_utf8_is_invalid_json(app: FastAPI, body: bytes) -> None:
    status, _, reply, _ = await call(app, body, {**KEY, **JSON})
    assert status == 422 and b"not valid JSON (not UTF-8" in reply
