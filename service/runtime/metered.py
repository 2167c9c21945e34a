"""``MeteredAdapter``: the identity adapter as every caller sees it, each host call timed
and counted.

The Runtime keeps only this wrapper, so routes, the CLI and ``explain`` cannot reach the
adapter around it: ``spot_sso_identity_request_duration_seconds``,
``spot_sso_identity_errors_total`` and ``spot_sso_identity_mismatches_total`` count
every call.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from service.contract.profile import UserProfile
from service.errors import IdentityMismatch, ServiceError
from service.identity.base import IdentityAdapter, SessionContext
from service.observability.metrics import Metrics


class MeteredAdapter:
    """``adapter`` with its two host calls (session, lookup) timed and counted."""

    def __init__(self, adapter: IdentityAdapter, metrics: Metrics) -> None:
        self._adapter = adapter
        self._metrics = metrics

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        """The browser's user on the host platform, or None when not logged in."""
        async with self._call("session"):
            return await self._adapter.resolve_session(ctx)

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        """The host platform's user with this ID, or None when there is none."""
        async with self._call("lookup"):
            return await self._adapter.fetch_user(user_id)

    def login_redirect(self, return_to: str) -> str | None:
        return self._adapter.login_redirect(return_to)

    def forwarded_cookies(self) -> frozenset[str]:
        return self._adapter.forwarded_cookies()

    def forwarded_headers(self) -> frozenset[str]:
        return self._adapter.forwarded_headers()

    async def ready(self) -> dict[str, Any]:
        return await self._adapter.ready()

    async def aclose(self) -> None:
        await self._adapter.aclose()

    @property
    def inner(self) -> IdentityAdapter:
        """The adapter itself, for what only some adapters do (an OpenID login)."""
        return self._adapter

    def timed(self, operation: str) -> AbstractAsyncContextManager[None]:
        """Time and count another call to the identity source (``login``) as the two
        calls of the interface are."""
        return self._call(operation)

    @asynccontextmanager
    async def _call(self, operation: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            yield
        except ServiceError as exc:
            self._metrics.identity_errors.labels(operation, exc.slug).inc()
            if isinstance(exc, IdentityMismatch):
                self._metrics.identity_mismatches.inc()
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.identity_duration.labels(operation).observe(elapsed)
