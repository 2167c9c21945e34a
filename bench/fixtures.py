"""The bench's users, sessions, keys and spot-sso configurations (written as TOML)."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path
from typing import Any, Final

SPOT_ALIAS: Final = "main"
SPOT_ID: Final = "129487c9-6acc-43d9-ab96-182ded763538"
REDIRECT_URL: Final = f"https://go.meltingspot.io/spot/{SPOT_ID}/sso"
SESSION_COOKIE: Final = "sid"
USER_COUNT: Final = 16  # the "small set" of userIds the warm-cache scenario rotates through
# Spot rules as a production Spot would have some: group sync and two custom properties.
SPOT_RULES: Final[dict[str, Any]] = {
    "groups": {"staff": ["6564a1b2c3d4e5f6a7b8c9d0"], "premium": ["6564a1b2c3d4e5f6a7b8c9d1"]},
    "properties": {"job": "title", "source": {"value": "spot-sso bench"}},
}

_FIRST = ["Ada", "Marie", "Emmy", "Grace", "Hedy", "Lise", "Rosalind", "Sophie"]
_LAST = ["Lovelace", "Curie", "Noether", "Hopper", "Lamarr", "Meitner", "Franklin", "Germain"]
_LOCALES = ["en-GB", "fr-FR", "de", "en-US"]
_ZONES = ["Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York"]


def host_user(i: int) -> dict[str, Any]:
    """User ``i`` as the host platform's API returns it (spot-sso's default field names)."""
    return {
        "id": f"u-{i}",
        "email": f"{_FIRST[i % 8].lower()}.{_LAST[i % 8].lower()}{i}@example.com",
        "first_name": _FIRST[i % 8],
        "last_name": _LAST[i % 8],
        "title": "Analyst",
        "locale": _LOCALES[i % 4],
        "timezone": _ZONES[i % 4],
        "groups": ["staff"] if i % 2 else ["premium"],
    }


USERS: Final[list[dict[str, Any]]] = [host_user(i) for i in range(USER_COUNT)]


def session_id(user_id: str) -> str:
    """The host's session cookie value for ``user_id`` (the host app reverses it)."""
    return f"s.{user_id}.{uuid.uuid5(uuid.NAMESPACE_URL, user_id).hex}"


def user_body(i: int = 0, *, sub: str | None = None) -> bytes:
    """A ``POST /tokens`` body carrying a whole user profile (no identity lookup); ``sub``
    replaces the user's own."""
    user = USERS[i % USER_COUNT]
    return json.dumps(
        {
            "spot": SPOT_ALIAS,
            "user": {
                "sub": sub or user["id"],
                "firstName": user["first_name"],
                "lastName": user["last_name"],
                "email": user["email"],
                "title": user["title"],
                "lang": user["locale"],
                "timezone": user["timezone"],
            },
        },
        separators=(",", ":"),
    ).encode()


def user_id_body(i: int = 0) -> bytes:
    """A ``POST /tokens`` body naming the user by ID (looked up through the adapter)."""
    return json.dumps(
        {"spot": SPOT_ALIAS, "userId": USERS[i % USER_COUNT]["id"]}, separators=(",", ":")
    ).encode()


class Secrets:
    """Random key material for one bench run (never the demo's public keys)."""

    def __init__(self) -> None:
        self.spot_key = "bench-" + secrets.token_urlsafe(36)
        self.api_key = "sso_bench-" + secrets.token_urlsafe(24)
        self.host_token = "bench-host-" + secrets.token_urlsafe(24)


def spot_sso_config(
    sec: Secrets,
    *,
    public_url: str,
    adapter: str,
    data_dir: Path,
    host_url: str | None = None,
    user_cache_ttl: float = 30.0,
    ledger: bool = True,
    database_url: str | None = None,
) -> dict[str, Any]:
    """A production-like configuration: info logs (JSON), limits on but far above the load,
    the member ledger on (as by default) in SQLite under ``data_dir``, or in PostgreSQL at
    ``database_url``; ``ledger=False`` turns it off.

    ``data_dir`` is always set (absolute), so a server never writes its ledger into the
    folder it runs in (the default ``data`` is relative to it).
    """
    from service.runtime.clients import key_digest

    config: dict[str, Any] = {
        "public_url": public_url,
        "log_level": "info",
        "log_format": "json",
        "data_dir": str(data_dir.resolve()),
        "limits": {
            "enabled": True,
            "tokens_per_client": "100000000/minute",
            "authorize_per_ip": "100000000/minute",
            "failed_auth_per_ip": "100000000/minute",
        },
        "spots": {SPOT_ALIAS: {"id": SPOT_ID, "private_key": sec.spot_key, **SPOT_RULES}},
        "clients": {"bench": {"key_sha256": [key_digest(sec.api_key)], "spots": [SPOT_ALIAS]}},
    }
    if adapter == "static":
        config["identity"] = {"adapter": "static", "static": {"users": USERS}}
    elif adapter == "http":
        assert host_url is not None
        config["identity"] = {
            "adapter": "http",
            "http": {
                "session_url": f"{host_url}/api/me",
                "user_url": f"{host_url}/api/users/{{user_id}}",
                "login_url": f"{host_url}/login?next={{return_to}}",
                "forward_cookies": [SESSION_COOKIE],
                "token": sec.host_token,
                "user_cache_ttl_seconds": user_cache_ttl,
                "session_cache_ttl_seconds": 0,  # every /authorize asks the host
            },
        }
    else:
        raise ValueError(adapter)
    if database_url is not None:
        config["database_url"] = database_url
    if not ledger:
        config["ledger"] = {"enabled": False}
    return config


def write_toml(data: dict[str, Any], path: Path) -> None:
    """``data`` as TOML (tables, arrays of tables, strings, numbers, booleans, lists)."""
    lines: list[str] = []
    _table(data, [], lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for everything written here
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _table(data: dict[str, Any], path: list[str], lines: list[str]) -> None:
    def is_table_list(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    for key, value in data.items():
        if not isinstance(value, dict) and not is_table_list(value):
            lines.append(f"{json.dumps(key)} = {_value(value)}")
    for key, value in data.items():
        name = [*path, json.dumps(key)]
        if isinstance(value, dict):
            lines.append(f"\n[{'.'.join(name)}]")
            _table(value, name, lines)
        elif is_table_list(value):
            for item in value:
                lines.append(f"\n[[{'.'.join(name)}]]")
                _table(item, name, lines)
