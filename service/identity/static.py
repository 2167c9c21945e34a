"""Users from a TOML or JSON file (or inline in the config): demo, tests, small sites.

Optionally, a trusted header set by an authenticating proxy in front of spot-sso names
the browser's user (``X-Forwarded-User``, say). It is honoured only from the proxy
networks in ``trusted_header_from`` (loopback by default), never from anyone else.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from service.errors import ConfigError
from service.identity.base import AdapterBase, SessionContext, UserProfile
from service.networks import Network, is_trusted, parse_networks
from service.settings.identity import StaticAdapterConfig, StaticUser
from service.settings.model import describe

_USERS = TypeAdapter(list[StaticUser])


class StaticAdapter(AdapterBase):
    """An identity adapter over a fixed set of users."""

    def __init__(
        self,
        users: list[UserProfile],
        *,
        trusted_header: str | None = None,
        trusted_header_from: Sequence[str | Network] = (),
    ) -> None:
        self._users = {user.id: user for user in users}
        self._header = trusted_header.lower() if trusted_header else None
        self._proxies = parse_networks(trusted_header_from)

    @classmethod
    def from_config(cls, config: StaticAdapterConfig) -> StaticAdapter:
        """Load the users of ``config`` (file and inline); ``ConfigError`` names bad ones."""
        entries = [*load_users_file(config.users_file)] if config.users_file else []
        entries += config.users
        users: list[UserProfile] = list(entries)
        duplicates = sorted({u.id for u in users if sum(v.id == u.id for v in users) > 1})
        if duplicates:
            raise ConfigError([f"identity.static: duplicate user ids {', '.join(duplicates)}"])
        return cls(
            users,
            trusted_header=config.trusted_header,
            trusted_header_from=config.trusted_header_from,
        )

    @property
    def users(self) -> list[UserProfile]:
        return list(self._users.values())

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        return self._users.get(user_id)

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        if self._header is None or not is_trusted(ctx.peer_ip or ctx.client_ip, self._proxies):
            return None
        user_id = ctx.headers.get(self._header, "").strip()
        return self._users.get(user_id) if user_id else None

    def forwarded_headers(self) -> frozenset[str]:
        return frozenset({self._header}) if self._header else frozenset()

    async def ready(self) -> dict[str, Any]:
        return {"users": len(self._users)}


def load_users_file(path: Path) -> list[StaticUser]:
    """Users from ``path``: TOML with ``[[users]]``, or JSON (a list or ``{"users": [...]}``)."""
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except OSError as exc:
        problem = f"identity.static.users_file {path}: cannot read it ({exc.strerror})"
        raise ConfigError([problem]) from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError([f"identity.static.users_file {path}: not valid ({exc})"]) from None
    if isinstance(data, dict):
        data = data.get("users", [])
    try:
        return _USERS.validate_python(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, prefix=f"{path}: users", env=False)) from None
