"""The identity adapter interface: how spot-sso learns who a user is on the host platform.

An adapter answers three questions: who is the browser's user (``resolve_session``),
who is the user with this host ID (``fetch_user``), and where a browser that is not
logged in should go (``login_redirect``). Backends sit beside this file, one per module.
Failures are typed: raise ``IdentityUnavailable`` (host down or timing out),
``IdentityBadResponse`` (host answered with garbage) or ``UserNotAllowed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from service.contract.profile import UserProfile
from service.errors import IdentityBadResponse, IdentityUnavailable, UserNotAllowed

__all__ = [
    "IdentityAdapter",
    "IdentityBadResponse",
    "IdentityUnavailable",
    "SessionContext",
    "UserNotAllowed",
    "UserProfile",
]


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What an adapter may see of a browser request.

    ``headers`` holds only the headers the adapter is configured to receive, with
    lower-case names. ``client_ip`` is the browser's address (from ``X-Forwarded-For``
    when the peer is a trusted proxy); ``peer_ip`` is the socket peer itself.
    """

    cookies: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    client_ip: str | None = None
    peer_ip: str | None = None  # the socket peer: a proxy, when one is in front


@runtime_checkable
class IdentityAdapter(Protocol):
    """A source of users: the host platform, a file, or a host's own class."""

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        """The browser's user, or None when not logged in on the host."""

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        """The user with this host ID, or None when there is none."""

    def login_redirect(self, return_to: str) -> str | None:
        """Where to send a browser that is not logged in (None: show our own page)."""

    def forwarded_cookies(self) -> frozenset[str]:
        """Names of the browser cookies ``resolve_session`` needs."""

    def forwarded_headers(self) -> frozenset[str]:
        """Lower-case names of the browser headers ``resolve_session`` needs."""

    async def ready(self) -> dict[str, Any]:
        """Readiness details; raise ``IdentityUnavailable`` when not ready."""

    async def aclose(self) -> None:
        """Release connections and files."""


class AdapterBase:
    """Defaults for the optional parts of an adapter; a host's own class may extend it."""

    def login_redirect(self, return_to: str) -> str | None:
        return None

    def forwarded_cookies(self) -> frozenset[str]:
        return frozenset()

    def forwarded_headers(self) -> frozenset[str]:
        return frozenset()

    async def ready(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        return None
