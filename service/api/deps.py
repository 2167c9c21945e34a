"""FastAPI dependency aliases: the runtime, the settings and the authenticated client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.config import Settings
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


def api_client(
    request: Request,
    runtime: RuntimeDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    _header: Annotated[str | None, Security(api_key_scheme)],
) -> ApiClient:
    """The client whose API key the request carries; 401 otherwise."""
    key = api_key_from_headers(
        request.headers.get("authorization"), request.headers.get("x-api-key")
    )
    return runtime.clients.authenticate(key)


ClientDep = Annotated[ApiClient, Depends(api_client)]
