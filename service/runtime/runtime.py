"""The Runtime: everything a request needs, built once from the settings.

It owns the shared HTTP client and the identity adapter and closes them; the app's
lifespan calls ``aclose``. Issuing a token (settle the Spot and lifetime, build the
claims, sign, count, audit) happens here, the same for every flow.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from service.contract.claims import WIRE_NAMES, Member, SpotClaims
from service.contract.membership import RuleClaims
from service.contract.signing import TokenIssuer, now
from service.errors import (
    FieldError,
    InvalidRequest,
    ServiceError,
    UnknownSpot,
)
from service.identity.base import IdentityAdapter
from service.identity.client import host_client
from service.identity.factory import build_adapter
from service.identity.oidc import PENDING_LOGINS, OidcAdapter
from service.networks import client_ip
from service.observability.logs import event_log
from service.observability.metrics import Metrics
from service.runtime.clients import ApiClients
from service.runtime.metered import MeteredAdapter
from service.settings.model import Settings
from service.settings.spots import SpotConfig
from service.state.ratelimit import RateLimiter
from service.state.shared import SharedState

log = logging.getLogger("spot_sso.runtime")
audit_log = event_log("spot_sso.audit")

HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
HTTP_MAX_CONNECTIONS = 100  # to the host platform, per worker


@dataclass(frozen=True, slots=True)
class Issued:
    """A signed token and what a caller needs to know about it."""

    token: str
    spot: str
    spot_id: str
    claims: SpotClaims

    @property
    def expires_in(self) -> int:
        return self.claims.exp - self.claims.iat

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.claims.exp, UTC)


class Runtime:
    """Settings, API clients, token issuers, the identity adapter, shared state, metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        adapter: IdentityAdapter | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.clients = ApiClients(settings)
        self.issuers = {alias: TokenIssuer(spot.key) for alias, spot in settings.spots.items()}
        self.metrics = Metrics()
        self.http = http or host_client(timeout=HTTP_TIMEOUT, max_connections=HTTP_MAX_CONNECTIONS)
        self.state = SharedState(settings.redis_url, self.metrics)
        self.limiter = RateLimiter(self.state, self.metrics, enabled=settings.limits.enabled)
        self.trusted_proxies = settings.trusted_proxies
        self.adapter = MeteredAdapter(
            adapter or build_adapter(settings.identity, self.http, self.state.cache), self.metrics
        )
        inner = self.adapter.inner
        # An OpenID provider signs browsers in over a redirect and back: the logins gone
        # there are kept (in Redis when configured, so any replica finishes them).
        self.oidc = inner if isinstance(inner, OidcAdapter) else None
        self.logins = (
            self.state.cache("oidc-logins", inner.config.login_ttl_seconds, PENDING_LOGINS)
            if isinstance(inner, OidcAdapter)
            else None
        )
        self._failing: set[str] = set()

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address, believing X-Forwarded-For only from trusted proxies."""
        return client_ip(peer, forwarded_for, self.trusted_proxies)

    async def readiness(self, *, log_changes: bool = True) -> dict[str, str | None]:
        """Each check's problem, or None when it is fine: spots, identity, shared_state.

        The problems name hosts and errors: they go to the log (once, when a check starts
        failing) and to ``check-config``; ``/readyz`` shows only ok or not.
        """
        problems: dict[str, str | None] = {
            "spots": None if self.settings.spots else "no Spot is configured"
        }
        try:
            await self.adapter.ready()
            problems["identity"] = None
        except ServiceError as exc:
            problems["identity"] = exc.detail
        state = await self.state.ready()
        problems["shared_state"] = None if state["ok"] else str(state.get("error"))
        for check, problem in problems.items() if log_changes else ():
            if problem is not None and check not in self._failing:
                log.warning("readiness: %s not ok: %s", check, problem, extra={"check": check})
            elif problem is None and check in self._failing:
                log.info("readiness: %s ok again", check, extra={"check": check})
        self._failing = {check for check, problem in problems.items() if problem is not None}
        return problems

    def spot(self, ref: str) -> tuple[str, SpotConfig]:
        """The alias and settings of the Spot named by alias or by Spot ID."""
        found = self.settings.spots.get(ref)
        if found is not None:
            return ref, found
        by_id = self.settings.spot_by_id(ref)
        if by_id is None:
            raise UnknownSpot(f"No Spot is configured with the alias or Spot ID {ref!r}.")
        return by_id

    def claims(
        self,
        alias: str,
        member: Member,
        made: RuleClaims | None = None,
        *,
        ttl_seconds: int | None = None,
    ) -> SpotClaims:
        """The claims of a token for ``member`` on Spot ``alias``, not yet signed."""
        spot = self.settings.spots[alias]
        return SpotClaims.for_member(
            member,
            issued_at=now(),
            ttl_seconds=check_ttl(spot, ttl_seconds),
            default_lang=spot.default_lang,
            default_timezone=spot.default_timezone,
            **(made.claims() if made else {}),
        )

    def issue(
        self,
        alias: str,
        member: Member,
        *,
        flow: str,
        made: RuleClaims | None = None,
        ttl_seconds: int | None = None,
        client: str | None = None,
        audit: MutableMapping[str, Any] | None = None,
    ) -> Issued:
        """Sign a token for ``member`` on Spot ``alias``; counted and audited.

        The audit fields say who (``sub``), for which Spot and how long, through which
        flow and client, and which claims the rules made; never the token. A request
        passes its access line's fields as ``audit``: they are added there, and the
        request writes one line. Without ``audit`` (the CLI), they are a line of their own.
        """
        claims = self.claims(alias, member, made, ttl_seconds=ttl_seconds)
        token = self.issuers[alias].sign(claims)
        self.metrics.tokens_issued.labels(alias, flow).inc()
        fields = {
            "_event": "token_issued",  # the line's field ``event`` (structlog's convention)
            "spot": alias,
            "sub": claims.sub,
            "flow": flow,
            "client": client,
            "ttl_seconds": claims.exp - claims.iat,
            "exp": claims.exp,
            "rules": sorted({reason.source for reason in made.reasons}) if made else [],
            "made": sorted(WIRE_NAMES[name] for name in made.claims()) if made else [],
        }
        if audit is None:
            audit_log.info("token issued", request_id=None, client_ip=None, **fields)
        else:
            audit.update(fields)
        return Issued(token=token, spot=alias, spot_id=self.settings.spots[alias].id, claims=claims)

    async def aclose(self) -> None:
        """Close the adapter, then the shared HTTP client and the shared state."""
        try:
            await self.adapter.aclose()
        finally:
            await self.http.aclose()
            await self.state.aclose()


def check_ttl(spot: SpotConfig, ttl_seconds: int | None) -> int:
    """The lifetime to use: the Spot's default, or the one asked for within its maximum."""
    if ttl_seconds is None:
        return spot.token_ttl_seconds
    if not 1 <= ttl_seconds <= spot.max_token_ttl_seconds:
        raise InvalidRequest(
            [
                FieldError(
                    "/ttlSeconds",
                    f"must be between 1 and {spot.max_token_ttl_seconds} "
                    "(this Spot's max_token_ttl_seconds)",
                )
            ]
        )
    return ttl_seconds
