"""Settings of the identity adapters: ``[identity]`` and each adapter's own table."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from service.settings_fields import Section, StrList


class StaticUser(Section):
    """A user of the static adapter, in the shape of ``UserProfile``."""

    id: str = Field(min_length=1, max_length=255)
    email: str
    first_name: str
    last_name: str
    title: str | None = None
    avatar_url: str | None = None
    locale: str | None = None
    timezone: str | None = None
    groups: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


class StaticAdapterConfig(Section):
    """Users from a file or inline, and an optional trusted header naming the user."""

    users_file: Path | None = None
    users: list[StaticUser] = Field(default_factory=list)
    trusted_header: str | None = None
    trusted_header_from: StrList = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])

    @field_validator("trusted_header_from")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(value, strict=False)) for value in values]
        except ValueError as exc:
            raise ValueError(f"must be IP networks like 10.0.0.0/8: {exc}") from None


class IdentityConfig(Section):
    """Where users come from: ``static``, or a host's own ``package.module:Class``."""

    adapter: str = "static"
    static: StaticAdapterConfig = Field(default_factory=StaticAdapterConfig)
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for a custom adapter class."
    )

    @field_validator("adapter")
    @classmethod
    def _adapter(cls, value: str) -> str:
        if value in ("static",) or re.fullmatch(r"[\w.]+:\w+", value):
            return value
        raise ValueError("must be 'static' or an import path 'package.module:Class'")
