"""FastAPI dependency aliases: the runtime, the settings and the authenticated client."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.config import Settings
from service.errors import AuthenticationError, TooManyRequests
from service.ratelimit import FAILED_AUTH
from service.runtime import Runtime
from service.security import ApiClient, api_key_from_headers

# Declared for the OpenAPI document; the key itself is read by ``api_client``.
bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearerAuth", description="`Authorization: Bearer <API key>`"
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKeyHeader", description="The API key."
)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def client_ip(request: Request, runtime: RuntimeDep) -> str | None:
    """The caller's address: the socket peer, or X-Forwarded-For from a trusted proxy."""
    peer = request.client.host if request.client else None
    return runtime.client_ip(peer, request.headers.get("x-forwarded-for"))


ClientIpDep = Annotated[str | None, Depends(client_ip)]


async def api_client(
    request: Request,
    runtime: RuntimeDep,
    ip: ClientIpDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    _header: Annotated[str | None, Security(api_key_scheme)],
) -> ApiClient:
    """The client whose API key the request carries; 401 otherwise; 429 over a limit.

    Failed attempts are counted per client IP (``limits.failed_auth_per_ip``); over that
    limit even a right key waits, so keys cannot be guessed at speed. A known client's
    call then counts against its own limit (``rate_limit`` or ``limits.tokens_per_client``).
    """
    rule = runtime.settings.limits.failed_auth_per_ip
    await runtime.limiter.check(FAILED_AUTH, ip or "-", rule)
    try:
        key = api_key_from_headers(
            request.headers.get("authorization"), request.headers.get("x-api-key")
        )
        client = runtime.clients.authenticate(key)
    except AuthenticationError:
        with contextlib.suppress(TooManyRequests):  # this answer is the 401 either way
            await runtime.limiter.hit(FAILED_AUTH, ip or "-", rule)
        raise
    await runtime.limiter.hit("tokens", client.name, client.rate_limit)
    return client


ClientDep = Annotated[ApiClient, Depends(api_client)]
