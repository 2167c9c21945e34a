"""A small host platform with a REST API, for the HTTP adapter's tests.

- ``GET /api/me``: the user of a valid ``host_session`` cookie or of a valid
  ``Authorization: Bearer <session-token>`` header; 401 otherwise.
- ``GET /api/users/{id}``: needs the service credential (401 without it, 403 when
  wrong); 404 for an unknown user. ``{id}`` must be exactly one path segment: the
  segment is taken from the raw path and percent-decoded once.

Any other path answers 404. Every request is recorded (path, raw path, query,
headers, cookies) in ``received``.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.identity.client import host_client

SERVICE_TOKEN = "svc-T0ken-0123456789-do-not-leak"
ADA_COOKIE = "cookie-ada-7f3e9a1b2c4d-secret"
GRACE_COOKIE = "cookie-grace-5a6b7c8d9e0f-secret"
ADA_BEARER = "bearer-ada-1a2b3c4d5e6f-secret"
GRACE_BEARER = "bearer-grace-0f9e8d7c6b5a-secret"

ADA: dict[str, Any] = {
    "id": 42,
    "email": "ada@example.com",
    "profile": {"first_name": "Ada", "last_name": "Lovelace", "title": "Analyst"},
    "roles": ["staff", 7],
    "locale": "fr-FR",
    "tz": "Europe/Paris",
    "company": {"name": "X"},
}
GRACE: dict[str, Any] = {
    "id": 43,
    "email": "grace@example.com",
    "profile": {"first_name": "Grace", "last_name": "Hopper", "title": None},
    "roles": "admiral",
    "locale": "en-US",
    "tz": "America/New_York",
    "company": {"name": "Navy"},
}
ODD: dict[str, Any] = {
    "id": "a/b?c d",
    "email": "odd@example.com",
    "profile": {"first_name": "Odd", "last_name": "Path"},
    "roles": [],
}
INCOMPLETE: dict[str, Any] = {"id": "incomplete", "profile": {"last_name": "Nobody"}}


def default_users() -> dict[str, dict[str, Any]]:
    users = [ADA, GRACE, ODD, INCOMPLETE]
    return {str(user["id"]): copy.deepcopy(user) for user in users}


@dataclass(frozen=True)
class Received:
    """One request the host platform got."""

    method: str
    path: str
    raw_path: str
    query: str
    headers: dict[str, str]
    cookies: dict[str, str]


@dataclass
class HostPlatform:
    """The host platform: its users, its sessions, how it checks the service credential.

    ``wrap``: a dotted path the user is nested under in every answer (``data.user``).
    ``set_cookie``: a ``Set-Cookie`` value sent with every ``/api/me`` answer (a
    session refresh, as many platforms do).
    """

    users: dict[str, dict[str, Any]] = field(default_factory=default_users)
    cookie_sessions: dict[str, str] = field(
        default_factory=lambda: {ADA_COOKIE: "42", GRACE_COOKIE: "43"}
    )
    bearer_sessions: dict[str, str] = field(
        default_factory=lambda: {ADA_BEARER: "42", GRACE_BEARER: "43"}
    )
    service_header: str = "authorization"
    service_scheme: str = "Bearer"
    service_token: str = SERVICE_TOKEN
    wrap: str = ""
    set_cookie: str | None = None
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/api/me", self._me),
                Route("/api/users/{rest:path}", self._user),
                Route("/{rest:path}", self._elsewhere),
            ]
        )

    def paths(self) -> list[str]:
        return [r.raw_path for r in self.received]

    def _record(self, request: Request) -> None:
        self.received.append(
            Received(
                method=request.method,
                path=request.scope["path"],
                raw_path=request.scope["raw_path"].decode("ascii"),
                query=request.scope["query_string"].decode("ascii"),
                headers={k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw},
                cookies=_cookies(request.headers.get("cookie", "")),
            )
        )

    def _answer(self, user: dict[str, Any]) -> dict[str, Any]:
        body: Any = user
        for part in reversed(self.wrap.split(".") if self.wrap else []):
            body = {part: body}
        return body  # type: ignore[no-any-return]

    async def _me(self, request: Request) -> Response:
        self._record(request)
        user_id = self.cookie_sessions.get(request.cookies.get("host_session", ""))
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if user_id is None and scheme.lower() == "bearer":
            user_id = self.bearer_sessions.get(token)
        if user_id is None or user_id not in self.users:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        response = JSONResponse(self._answer(self.users[user_id]))
        if self.set_cookie is not None:
            response.headers["set-cookie"] = self.set_cookie
        return response

    async def _user(self, request: Request) -> Response:
        self._record(request)
        credential = request.headers.get(self.service_header)
        if credential is None:
            return JSONResponse({"error": "no credential"}, status_code=401)
        expected = (
            f"{self.service_scheme} {self.service_token}"
            if self.service_scheme
            else self.service_token
        )
        if credential != expected:
            return JSONResponse({"error": "bad credential"}, status_code=403)
        segments = request.scope["raw_path"].decode("ascii").split("/")
        if len(segments) != 4 or segments[:3] != ["", "api", "users"]:
            return JSONResponse({"error": "not one segment"}, status_code=400)
        user = self.users.get(unquote(segments[3]))
        if user is None:
            return JSONResponse({"error": "no such user"}, status_code=404)
        return JSONResponse(self._answer(user))

    async def _elsewhere(self, request: Request) -> Response:
        self._record(request)
        return JSONResponse({"error": "no such endpoint"}, status_code=404)


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


@asynccontextmanager
async def serve(host: HostPlatform) -> AsyncIterator[httpx.AsyncClient]:
    """The service's own host client, over an ASGI transport to ``host``."""
    transport = httpx.ASGITransport(app=host.app)
    async with host_client(timeout=httpx.Timeout(5), max_connections=4, transport=transport) as c:
        yield c
