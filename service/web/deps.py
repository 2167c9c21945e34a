"""The routes' dependencies: the runtime, the client's address, the request id.

Each is an ``Annotated`` alias a route names in its signature (``runtime: RuntimeDep``);
FastAPI solves them per request. They are ``async def``: FastAPI runs a plain ``def``
dependency in a thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.runtime.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """The app's Runtime, built by ``create_app``."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_client_ip(request: Request, runtime: RuntimeDep) -> str | None:
    """The client's address: the socket peer, or X-Forwarded-For from trusted proxies."""
    peer = request.client.host if request.client else None
    return runtime.client_ip(peer, request.headers.get("x-forwarded-for"))


ClientIpDep = Annotated[str | None, Depends(get_client_ip)]


async def get_request_id(request: Request) -> str | None:
    """The request's id (``X-Request-ID``), as ``RequestContext`` set it."""
    request_id: str | None = request.scope.get("state", {}).get("request_id")
    return request_id


RequestIdDep = Annotated[str | None, Depends(get_request_id)]
