"""The runtime dependency (for the ops routes), the client IP and the API-key check.

The token and browser routes call these directly instead of injecting them: FastAPI
solves every injected dependency again on every request, which on the token path cost
more than the token itself. ``RuntimeDep`` is a flat ``async def`` (FastAPI runs a plain
``def`` dependency in a thread pool).
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Final

from fastapi import Depends, Request

from service.errors import AuthenticationError, TooManyRequests
from service.runtime.clients import ApiClient, api_key_from_headers
from service.runtime.runtime import Runtime
from service.state.ratelimit import FAILED_AUTH

# How the API key travels, for the OpenAPI document (the key is read by ``api_client``).
SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <API key>`",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The API key.",
    },
}
API_KEY_SECURITY: Final[list[dict[str, list[str]]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def request_id_of(request: Request) -> str | None:
    """The request's id (``X-Request-ID``), as ``RequestContext`` set it."""
    request_id: str | None = request.scope.get("state", {}).get("request_id")
    return request_id


def client_ip_of(request: Request) -> str | None:
    """The client's address: the socket peer, or X-Forwarded-For from trusted proxies."""
    peer = request.client.host if request.client else None
    return runtime_of(request).client_ip(peer, request.headers.get("x-forwarded-for"))


async def api_client(request: Request) -> ApiClient:
    """The client whose API key the request carries; 401 otherwise; 429 over a limit.

    Failed attempts are counted per client IP (``limits.failed_auth_per_ip``); over that
    limit even a right key waits, so keys cannot be guessed at speed. A known client's
    call then counts against its own limit (``rate_limit`` or ``limits.tokens_per_client``).
    """
    runtime = runtime_of(request)
    ip = client_ip_of(request) or "-"
    rule = runtime.settings.limits.failed_auth_per_ip
    runtime.limiter.check(FAILED_AUTH, ip, rule)
    try:
        key = api_key_from_headers(
            request.headers.get("authorization"), request.headers.get("x-api-key")
        )
        client = runtime.clients.authenticate(key)
    except AuthenticationError:
        with contextlib.suppress(TooManyRequests):  # this answer is the 401 either way
            await runtime.limiter.hit(FAILED_AUTH, ip, rule, block_when_full=True)
        raise
    await runtime.limiter.hit("tokens", client.name, client.rate_limit)
    return client
