"""The Runtime: everything a request needs, built once from the settings.

It owns the shared HTTP client, the identity adapter and the member ledger, and closes
them; the app's lifespan calls ``start`` and ``aclose``. Issuing a token (settle the Spot
and lifetime, build the claims, keep the member's email as the Spot wants, sign, count,
audit, remember the member) happens here, the same for every flow.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from service.contract.claims import WIRE_NAMES, Member, SpotClaims
from service.contract.membership import RuleClaims
from service.contract.signing import TokenIssuer, now
from service.errors import (
    ConfigError,
    EmailChangeRefused,
    FieldError,
    InvalidRequest,
    ServiceError,
    UnknownSpot,
)
from service.identity.base import IdentityAdapter
from service.identity.client import host_client
from service.identity.factory import build_adapter
from service.identity.oidc import PENDING_LOGINS, OidcAdapter
from service.ledger.records import LastSignIn, LedgerError, LedgerSkipped, MemberRecord, SignIn
from service.networks import client_ip
from service.observability.logs import event_log
from service.observability.metrics import Metrics
from service.runtime.clients import ApiClients
from service.runtime.metered import MeteredAdapter
from service.settings.model import Settings, env_name
from service.settings.spots import SpotConfig
from service.state.ratelimit import RateLimiter
from service.state.shared import SharedState

if TYPE_CHECKING:
    from service.ledger.store import Ledger

T = TypeVar("T")
log = logging.getLogger("spot_sso.runtime")
audit_log = event_log("spot_sso.audit")

HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
HTTP_MAX_CONNECTIONS = 100  # to the host platform, per worker
MAINTENANCE_SECONDS = 3600  # the ledger's purge
MIGRATION_RETRY_SECONDS = 60  # a migration that failed at start-up, tried again
DAY_SECONDS = 86_400


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
        self.ledger = _ledger(settings)
        self._ledger_ready = False  # migrated (or trusted to be, without migrate_on_start)
        self._maintenance: asyncio.Task[None] | None = None
        self._failing: set[str] = set()

    async def start(self, *, maintain: bool = True) -> None:
        """Make the ledger ready (its migrations, when ``migrate_on_start``) and, with
        ``maintain``, start its hourly purge. A database that fails is logged: sign-ins
        go on without the ledger, and the purge task tries the migration again."""
        if self.ledger is None:
            return
        await self._prepare_ledger(announce=maintain)
        if maintain:
            self._maintenance = asyncio.create_task(self._maintain(), name="ledger-maintenance")

    async def _prepare_ledger(self, *, announce: bool = True) -> None:
        assert self.ledger is not None
        if not self.settings.ledger.migrate_on_start:
            self._ledger_ready = True
            return
        try:
            before, after = await self.ledger.migrate()
            self._ledger_ready = True
            if announce and before != after:
                log.info(
                    "ledger: %s database migrated from %s to %s",
                    self.ledger.dialect,
                    before or "nothing",
                    after,
                    extra={"revision": after},
                )
        except LedgerError as exc:
            self.metrics.ledger_errors.labels("migrate").inc()
            log.error("ledger: %s", exc, extra={"operation": "migrate"})

    async def _maintain(self) -> None:
        """The purge, hourly; until the start-up migration succeeds, a retry a minute."""
        while not self._ledger_ready:
            await asyncio.sleep(MIGRATION_RETRY_SECONDS)
            await self._prepare_ledger()
        while True:
            await self.purge_ledger()
            await asyncio.sleep(MAINTENANCE_SECONDS)

    async def purge_ledger(self) -> int:
        """Erase the members not signed in for ``ledger.retention_days``: how many."""
        if self.ledger is None:
            return 0
        before = int(time.time()) - self.settings.ledger.retention_days * DAY_SECONDS
        try:
            erased = await self.ledger.purge(before)
        except LedgerError as exc:
            self._ledger_failed("purge", exc)
            return 0
        if erased:
            log.info(
                "ledger: %d member%s past retention erased",
                erased,
                "" if erased == 1 else "s",
                extra={"erased": erased},
            )
        return erased

    def _ledger_failed(self, operation: str, exc: LedgerError) -> None:
        self.metrics.ledger_errors.labels(operation).inc()
        if isinstance(exc, LedgerSkipped):
            return  # the failure that started the pause is logged: one line, not thousands
        then = "tried again in an hour" if operation == "purge" else "sign-in goes on"
        log.warning(
            "ledger %s failed, %s: %s", operation, then, exc, extra={"operation": operation}
        )

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address, believing X-Forwarded-For only from trusted proxies."""
        return client_ip(peer, forwarded_for, self.trusted_proxies)

    async def readiness(self, *, log_changes: bool = True) -> dict[str, str | None]:
        """Each check's problem, or None when it is fine: spots, identity, shared_state,
        and ledger when it is on.

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
        if self.ledger is not None:
            problems["ledger"] = await self._ledger_problem()
        for check, problem in problems.items() if log_changes else ():
            if problem is not None and check not in self._failing:
                log.warning("readiness: %s not ok: %s", check, problem, extra={"check": check})
            elif problem is None and check in self._failing:
                log.info("readiness: %s ok again", check, extra={"check": check})
        self._failing = {check for check, problem in problems.items() if problem is not None}
        return problems

    async def _ledger_problem(self) -> str | None:
        """None when the database answers and holds this version's newest schema."""
        assert self.ledger is not None
        try:
            await self.ledger.ping()
            revision = await self.ledger.revision()
        except LedgerError as exc:
            return f"{self.ledger.dialect}: {exc}"
        head, dialect = self.ledger.head(), self.ledger.dialect
        if revision is not None and not self.ledger.known(revision):
            return (
                f"{dialect}: the schema is at {revision}, which this version does not know "
                "(a newer spot-sso migrated it)"
            )
        if revision != head:
            return (
                f"{dialect}: the schema is at {revision or 'nothing'}, this version needs "
                f"{head}: run spot-sso migrate"
            )
        return None

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

    async def issue(
        self,
        alias: str,
        member: Member,
        *,
        flow: str,
        made: RuleClaims | None = None,
        ttl_seconds: int | None = None,
        client: str | None = None,
        audit: MutableMapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Issued:
        """Sign a token for ``member`` on Spot ``alias``; counted, audited, remembered.

        The audit fields say who (``sub``), for which Spot and how long, through which
        flow and client, and which claims the rules made; never the token. A request
        passes its access line's fields as ``audit``: they are added there, and the
        request writes one line. Without ``audit`` (the CLI), they are a line of their own.

        With the ledger, a known member whose email changed on the host is handled as the
        Spot's ``email_change`` says (``EmailChangeRefused`` for ``refuse``), and the
        sign-in is recorded. A ledger that fails is logged and counted, and the token is
        issued all the same.
        """
        spot = self.settings.spots[alias]
        claims = self.claims(alias, member, made, ttl_seconds=ttl_seconds)
        host_email = claims.email
        # keep-first and refuse decide the email before signing; follow sends the host's
        # email whatever the ledger knows, and learns of a change from the write.
        if self.ledger is not None and spot.email_change != "follow":
            known = await self._ledger_call(
                "read", lambda ledger: ledger.last_sign_in(spot.id, claims.sub)
            )
            if known is not None and known.email.casefold() != claims.email.casefold():
                claims = self._email_changed(alias, spot, claims, known, flow, request_id)
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
        if self.ledger is not None:
            sign_in = SignIn.of(spot.id, claims, host_email)
            before = await self._ledger_call("write", lambda ledger: ledger.record(sign_in))
            if (
                spot.email_change == "follow"
                and before is not None
                and before.email.casefold() != claims.email.casefold()
            ):
                self._email_changed(alias, spot, claims, before, flow, request_id)
        return Issued(token=token, spot=alias, spot_id=spot.id, claims=claims)

    async def known_member(self, alias: str, sub: str) -> MemberRecord | None:
        """What the ledger remembers of ``sub`` on Spot ``alias`` (None if nothing, or if
        the ledger is off or failing)."""
        spot_id = self.settings.spots[alias].id
        return await self._ledger_call("read", lambda ledger: ledger.member(spot_id, sub))

    async def _ledger_call(
        self, operation: str, call: Callable[[Ledger], Awaitable[T]]
    ) -> T | None:
        """``call`` on the ledger; None when the ledger is off, or failed (logged and
        counted as ``operation``: the sign-in goes on)."""
        if self.ledger is None:
            return None
        try:
            return await call(self.ledger)
        except LedgerError as exc:
            self._ledger_failed(operation, exc)
            return None

    def _email_changed(
        self,
        alias: str,
        spot: SpotConfig,
        claims: SpotClaims,
        known: LastSignIn,
        flow: str,
        request_id: str | None,
    ) -> SpotClaims:
        """The claims to sign for a known member back with another email: the new email
        (follow: called after the sign-in is recorded, to report the change), the one
        MeltingSpot knows (keep-first), or none (refuse)."""
        mode = spot.email_change
        # Once per change of the host's email (keep-first then goes on quietly), and at
        # each refused attempt (nothing is recorded then).
        if mode == "refuse" or known.host_email.casefold() != claims.email.casefold():
            self.metrics.email_changes.labels(alias, mode).inc()
            # No address in the log: personal data; `spot-sso members show` has them.
            audit_log.info(
                "member email changed",
                _event="member.email_changed",
                spot=alias,
                sub=claims.sub,
                mode=mode,
                flow=flow,
                member_since=known.first_seen,
                request_id=request_id,
            )
        if mode == "refuse":
            raise EmailChangeRefused(
                "This account's email address changed since it last joined the community, "
                "and the community does not accept the change: contact its support to move "
                "the membership to the new address."
            )
        if mode == "keep-first":
            return claims.model_copy(update={"email": known.email})
        return claims

    async def aclose(self) -> None:
        """Stop the ledger's maintenance; close the adapter, the shared HTTP client, the
        shared state and the ledger."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            await asyncio.gather(self._maintenance, return_exceptions=True)
        try:
            await self.adapter.aclose()
        finally:
            await self.http.aclose()
            await self.state.aclose()
            if self.ledger is not None:
                await self.ledger.aclose()


def _ledger(settings: Settings) -> Ledger | None:
    """The member ledger of ``settings``, or None when it is off; a database URL the
    ledger cannot use is a configuration error (start-up stops, naming the setting)."""
    url = settings.ledger_url()
    if url is None:
        return None
    # Imported only when the ledger is on: SQLAlchemy, Alembic and a driver are about
    # 40 MB of every worker's memory.
    from service.ledger.store import Ledger

    try:
        return Ledger(url, timeout=settings.ledger.timeout_seconds)
    except ValueError as exc:
        raise ConfigError([f"database_url ({env_name('database_url')}): {exc}"]) from None


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
