"""The API's guard: the API key is checked, then the media type and size of the body,
before FastAPI reads a byte of it.

``ApiRoute`` is the route class of the API's routes. Nothing of an unauthenticated
request is parsed, a body that is not JSON is refused unread (``415``), and a body over
``max_body_bytes`` is abandoned as soon as it passes the limit (``413``). Then FastAPI
reads the body and validates it with the route's model, as for any route, so the
OpenAPI document describes it. ``ApiCallerDep`` gives the route its caller with the
authenticated client, and declares the two ways to send the key (the document's security
schemes).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic_core import from_json

from service.errors import (
    AuthenticationError,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedMediaType,
)
from service.runtime.clients import ApiClient, api_key_from_headers
from service.runtime.runtime import Runtime
from service.state.ratelimit import FAILED_AUTH
from service.streams import read_at_most
from service.web.deps import Caller, caller_of

_CALLER: Final = "api_caller"

# Declared for the OpenAPI document; the key is read from the headers as sent (see
# ``authenticate``), so that a wrong scheme ("Basic ...") gets an answer of its own.
BEARER: Final = HTTPBearer(
    scheme_name="bearerAuth", description="`Authorization: Bearer <API key>`", auto_error=False
)
KEY_HEADER: Final = APIKeyHeader(
    name="X-API-Key", scheme_name="apiKeyHeader", description="The API key.", auto_error=False
)


@dataclass(frozen=True, slots=True)
class ApiCaller(Caller):
    """The ``Caller`` of an API route, and the client its API key authenticated."""

    client: ApiClient


async def authenticate(request: Request) -> ApiCaller:
    """The caller and the client whose API key the request carries; 401 otherwise; 429
    over a limit.

    Failed attempts are counted per client IP (``limits.failed_auth_per_ip``); over that
    limit even a right key waits, so keys cannot be guessed at speed. A known client's
    call then counts against its own limit (``rate_limit`` or ``limits.tokens_per_client``).
    """
    caller = caller_of(request)
    runtime, ip = caller.runtime, caller.ip or "-"
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
    return ApiCaller(caller.runtime, caller.ip, caller.request_id, caller.access, client)


async def get_api_caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    _key: Annotated[str | None, Security(KEY_HEADER)],
) -> ApiCaller:
    """The authenticated caller: ``ApiRoute`` checked the key before the body was read."""
    caller: ApiCaller | None = getattr(request.state, _CALLER, None)
    return caller if caller is not None else await authenticate(request)


ApiCallerDep = Annotated[ApiCaller, Depends(get_api_caller)]


def is_json(content_type: str) -> bool:
    """``application/json`` or any ``+json`` type, parameters ignored."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class LimitedRequest(Request):
    """A request whose body is read up to ``max_bytes`` and abandoned past it (413)."""

    def __init__(self, request: Request, max_bytes: int) -> None:
        super().__init__(request.scope, request.receive)
        self.max_bytes = max_bytes

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):  # Starlette's cache of the body, as FastAPI's docs do
            too_large = PayloadTooLarge(f"The body is larger than {self.max_bytes} bytes.")
            declared = self.headers.get("content-length")
            self._body = await read_at_most(self.stream(), self.max_bytes, declared, too_large)
        return self._body

    async def json(self) -> Any:
        """The body as JSON, UTF-8 only (RFC 8259), parsed by pydantic-core as the models'
        own JSON would be: no NaN or Infinity, and errors that say where (``EOF while
        parsing a value at line 1 column 11``). FastAPI answers a ``JSONDecodeError``
        with its ``json_invalid`` error, a 422 here."""
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = from_json(body.decode("utf-8"), allow_inf_nan=False)
            except UnicodeDecodeError as exc:
                raise json.JSONDecodeError(f"not UTF-8 ({exc.reason})", "", exc.start) from None
            except ValueError as exc:
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class ApiRoute(APIRoute):
    """A route of the JSON API: key, then media type and size, then FastAPI's body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            setattr(request.state, _CALLER, await authenticate(request))
            content_type = request.headers.get("content-type")
            if content_type is not None and not is_json(content_type):
                raise UnsupportedMediaType(
                    "The body must be JSON: send 'Content-Type: application/json', "
                    f"not {content_type!r}."
                )
            runtime: Runtime = request.app.state.runtime
            limited = LimitedRequest(request, runtime.settings.max_body_bytes)
            await limited.body()  # read here: FastAPI would turn our 413 into a 400
            return await handler(limited)

        return guarded
