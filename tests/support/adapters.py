"""Host adapters that fail on purpose, loaded by import path like a host's own adapter."""

from __future__ import annotations

from typing import Any

from service.identity.base import (
    AdapterBase,
    IdentityBadResponse,
    IdentityUnavailable,
    SessionContext,
    UserNotAllowed,
    UserProfile,
)


class FailingAdapter(AdapterBase):
    """``mode`` picks the failure: down, garbage, denied, crash."""

    def __init__(self, mode: str) -> None:
        if mode not in ("down", "garbage", "denied", "crash"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.closed = False

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        if self.mode == "down":
            raise IdentityUnavailable("host.example: connection refused")
        if self.mode == "garbage":
            raise IdentityBadResponse("host.example: answered 500")
        if self.mode == "denied":
            raise UserNotAllowed("This user's plan does not include the community.")
        raise RuntimeError("adapter bug with secret-looking data main-spot-test-key")

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        return None

    async def ready(self) -> dict[str, Any]:
        if self.mode == "down":
            raise IdentityUnavailable("host.example: connection refused")
        return {"mode": self.mode}

    async def aclose(self) -> None:
        self.closed = True


class Incomplete:
    """Lacks most of the adapter interface: refused at start-up."""

    async def fetch_user(self, user_id: str) -> None:
        return None


class AnyOptions(AdapterBase):
    """Takes any options, as a host's adapter with credentials in its options would."""

    def __init__(self, **options: object) -> None:
        self.options = options

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        return None

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        return None


class NeedsToken(AdapterBase):
    """Reads a required option the way a careless adapter does: KeyError when missing."""

    @classmethod
    def from_options(cls, options: dict[str, object], http: object) -> NeedsToken:
        options["api_token"]
        return cls()
