"""A small host platform for the HTTP adapter: a raw ASGI app, as cheap as it gets.

``GET /api/users/{id}`` (Bearer token from ``BENCH_HOST_TOKEN``) answers a JSON profile,
``GET /api/me`` answers the profile of the ``sid`` cookie's user (401 without one),
``GET /healthz`` answers ok. Answers are prepared once, so the host's cost per call is
small next to spot-sso's; it still shares the machine's cores with everything else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bench.fixtures import SESSION_COOKIE, USERS, session_id

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_TOKEN = b"Bearer " + os.environ.get("BENCH_HOST_TOKEN", "bench-host-token").encode()
_PROFILES = {u["id"]: json.dumps(u, separators=(",", ":")).encode() for u in USERS}
_SESSIONS = {session_id(u["id"]).encode(): _PROFILES[u["id"]] for u in USERS}
_COOKIE = SESSION_COOKIE.encode() + b"="
_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _cookie(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"cookie":
            for part in value.split(b";"):
                part = part.strip()
                if part.startswith(_COOKIE):
                    return part[len(_COOKIE) :]
    return None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if path == "/api/me":
        profile = _SESSIONS.get(_cookie(headers) or b"")
        if profile is None:
            await _answer(send, 401, b'{"error":"not logged in"}')
        else:
            await _answer(send, 200, profile)
    elif path.startswith("/api/users/"):
        if (b"authorization", _TOKEN) not in headers:
            await _answer(send, 401, b'{"error":"a valid Bearer token is required"}')
            return
        profile = _PROFILES.get(path.removeprefix("/api/users/"))
        await _answer(send, 200 if profile else 404, profile or b'{"error":"no such user"}')
    elif path == "/healthz":
        await _answer(send, 200, b'{"status":"ok"}')
    else:
        await _answer(send, 404, b'{"error":"not found"}')
