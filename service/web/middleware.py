"""``RequestContext``: the ASGI middleware around every request.

It gives each request its id (``X-Request-ID``), writes the access line, times the
request into the metrics, and adds the default headers. Nothing secret is logged: the
access line carries the path without its query string.

The access line is the request's one line: what the request did adds its fields to the
dict at ``scope["state"][ACCESS_FIELDS]`` (a token issued adds the audit fields,
``event: token_issued``), and they are written with the request's own.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from service.observability.logs import event_log
from service.observability.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER: Final = "x-request-id"
ACCESS_FIELDS: Final = "access_fields"  # the scope state key of the access line's own fields
DEFAULT_HEADERS: Final = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = event_log("spot_sso.access")


class RequestContext:
    """Pure ASGI middleware: request id, access line, timing, and the default headers.

    Every response is ``no-store`` and ``nosniff`` unless the route says otherwise: a
    token service has nothing a cache should keep. An unexpected exception becomes the
    response ``on_error`` builds, so it carries the same headers as any other.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        on_error: Callable[[Scope, Exception], ASGIApp],
        client_ip: Callable[[str | None, str | None], str | None] = lambda peer, _: peer,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.on_error = on_error
        self.client_ip = client_ip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        fields: dict[str, Any] = {}
        state[ACCESS_FIELDS] = fields
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in DEFAULT_HEADERS if h[0] not in present)
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status:  # the response had begun: nothing sensible can follow
                raise
            await self.on_error(scope, exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self._record(scope, request_id, status or 500, elapsed, fields)

    def _record(
        self, scope: Scope, request_id: str, status: int, elapsed: float, fields: dict[str, Any]
    ) -> None:
        template = getattr(scope.get("route"), "path", None)
        route = scope.get("root_path", "") + template if template else "unmatched"
        method = scope["method"]
        self.metrics.request_duration.labels(route, method, str(status)).observe(elapsed)
        peer = scope["client"][0] if scope.get("client") else None
        path = scope["path"]
        access_log.info(
            f"{method} {path} {status}",
            request_id=request_id,
            method=method,
            path=path,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            client_ip=self.client_ip(peer, _header(scope, _FORWARDED_FOR)),
            peer_ip=peer,
            **fields,
        )


_HEADER_NAME: Final = REQUEST_ID_HEADER.encode()
_FORWARDED_FOR: Final = b"x-forwarded-for"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


_ids: tuple[str, itertools.count[int]] = ("", itertools.count())


def _new_prefix() -> None:
    """A new random prefix and counter: at import, and in every forked child (a worker)."""
    global _ids
    _ids = (os.urandom(8).hex(), itertools.count())


_new_prefix()
os.register_at_fork(after_in_child=_new_prefix)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_NAME:
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    return _new_id()


def _new_id() -> str:
    """32 hex digits: a random prefix per process, then a counter (unique, and cheap)."""
    prefix, counter = _ids
    return f"{prefix}{next(counter):016x}"
