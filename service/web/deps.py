"""The routes' dependencies: the runtime, and the caller (who is asking, from where).

Each is an ``Annotated`` alias a route names in its signature (``caller: CallerDep``);
FastAPI solves them per request. A route takes one dependency for its whole context
rather than one per value: each dependency FastAPI solves costs a request about as much
as the value it computes (bench/README.md). They are ``async def``: FastAPI runs a plain
``def`` dependency in a thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from service.runtime.runtime import Runtime
from service.web.middleware import ACCESS_FIELDS


async def get_runtime(request: Request) -> Runtime:
    """The app's Runtime, built by ``create_app``."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True, slots=True)
class Caller:
    """A request's context: the app's Runtime, the client's address (the socket peer, or
    X-Forwarded-For from ``trusted_proxies``), the request's id (``X-Request-ID``), and
    the fields the request adds to its access line (``RequestContext``)."""

    runtime: Runtime
    ip: str | None
    request_id: str | None
    access: dict[str, Any]


def caller_of(request: Request) -> Caller:
    """The ``Caller`` of ``request``."""
    runtime: Runtime = request.app.state.runtime
    peer = request.client.host if request.client else None
    state = request.scope.get("state", {})
    return Caller(
        runtime=runtime,
        ip=runtime.client_ip(peer, request.headers.get("x-forwarded-for")),
        request_id=state.get("request_id"),
        access=state.get(ACCESS_FIELDS, {}),
    )


async def get_caller(request: Request) -> Caller:
    """The request's ``Caller``."""
    return caller_of(request)


CallerDep = Annotated[Caller, Depends(get_caller)]
