"""Logs, request ids and metrics.

Logs are JSON lines on stderr (``service.logs``). Nothing secret is ever passed to a
logger: access lines carry the path without its query string, and the audit line of an
issued token carries who and for how long, never the token.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from service.logs import JsonFormatter as JsonFormatter
from service.logs import configure_logging as configure_logging

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER: Final = "x-request-id"
DEFAULT_HEADERS: Final = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("spot_sso.access")
audit_log = logging.getLogger("spot_sso.audit")


_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app).

    Labels are low-cardinality only: route templates, Spot aliases, flows, kinds; never
    a user, a client IP or a URL.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.tokens_issued = Counter(
            "spot_sso_tokens_issued",
            "Tokens issued, by Spot alias and flow.",
            ["spot", "flow"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "spot_sso_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status.",
            ["route", "method", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.authorize_outcomes = Counter(
            "spot_sso_authorize_outcomes",
            "GET /authorize outcomes: redirected, login_bounce, or the problem that refused it.",
            ["outcome"],
            registry=self.registry,
        )
        self.identity_duration = Histogram(
            "spot_sso_identity_request_duration_seconds",
            "Time the identity adapter took, by operation (session, lookup).",
            ["operation"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.identity_errors = Counter(
            "spot_sso_identity_errors",
            "Identity adapter failures, by operation and kind (the problem type).",
            ["operation", "kind"],
            registry=self.registry,
        )
        self.identity_mismatches = Counter(
            "spot_sso_identity_mismatches",
            "User lookups the host answered with another user's profile (refused).",
            registry=self.registry,
        )
        self.forwarded_values_refused = Counter(
            "spot_sso_forwarded_values_refused",
            "Browser sessions treated as absent: a forwarded cookie or header held more "
            "than plain characters (kind: cookie, header).",
            ["kind"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "spot_sso_rate_limited",
            "Requests refused by a rate limit, by limit.",
            ["limit"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "spot_sso_redis_errors",
            "Redis failures that degraded a component (ratelimit, cache, readyz).",
            ["component"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


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
        scope.setdefault("state", {})["request_id"] = request_id
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
            self._record(scope, request_id, status or 500, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, elapsed: float) -> None:
        template = getattr(scope.get("route"), "path", None)
        route = scope.get("root_path", "") + template if template else "unmatched"
        method = scope["method"]
        self.metrics.request_duration.labels(route, method, str(status)).observe(elapsed)
        peer = scope["client"][0] if scope.get("client") else None
        access_log.info(
            "%s %s %d",
            method,
            scope["path"],
            status,
            extra={
                "request_id": request_id,
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "client_ip": self.client_ip(peer, _header(scope, _FORWARDED_FOR)),
                "peer_ip": peer,
            },
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
