"""Settings of the identity adapters: ``[identity]`` and each adapter's own table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from service.contract.profile import UserProfile
from service.networks import parse_networks
from service.secrets import is_placeholder
from service.settings.fields import TOKEN, NetworkList, Section, StrList, secret_from_file


class StaticUser(UserProfile):
    """A user of the static adapter: a ``UserProfile``, unknown keys refused."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=255)


class StaticAdapterConfig(Section):
    """Users from a file or inline, and an optional trusted header naming the user."""

    users_file: Path | None = None
    users: list[StaticUser] = Field(default_factory=list)
    trusted_header: str | None = None
    trusted_header_from: NetworkList = Field(
        default_factory=lambda: parse_networks(["127.0.0.1/32", "::1/128"])
    )


class ProfileFields(Section):
    """Dotted paths in the host's JSON profile for each ``UserProfile`` field."""

    id: str = "id"
    email: str = "email"
    first_name: str = "first_name"
    last_name: str = "last_name"
    title: str = "title"
    avatar_url: str = "avatar_url"
    locale: str = "locale"
    timezone: str = "timezone"
    groups: str = "groups"


class HttpAdapterConfig(Section):
    """A host platform with a REST API: session and lookup endpoints, a login page."""

    session_url: str | None = Field(
        default=None, description="GET with the browser's forwarded cookies and headers."
    )
    user_url: str | None = Field(default=None, description="GET; must contain {user_id}.")
    login_url: str | None = Field(default=None, description="Must contain {return_to}.")
    forward_cookies: StrList = Field(default_factory=list)
    forward_headers: StrList = Field(default_factory=list)
    token: SecretStr | None = Field(default=None, description="Service credential for user_url.")
    token_file: Path | None = None
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    profile_path: str = Field(default="", description="Where the profile sits in the reply.")
    fields: ProfileFields = Field(default_factory=ProfileFields)
    attributes: dict[str, str] = Field(default_factory=dict)
    connect_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    read_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    total_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="The whole host call, connection, retry and body included.",
    )
    retry_on_connect_error: bool = True
    max_response_bytes: int = Field(default=1_048_576, ge=1024, le=16_777_216)
    user_cache_ttl_seconds: float = Field(default=30.0, ge=0, le=3600)
    session_cache_ttl_seconds: float = Field(default=0.0, ge=0, le=300)

    @field_validator("session_url", "user_url", "login_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/?#\s]+", value):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("forward_cookies", "forward_headers")
    @classmethod
    def _tokens(cls, values: list[str]) -> list[str]:
        bad = [name for name in values if not TOKEN.fullmatch(name)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a cookie or header name (RFC 9110 token)")
        return values

    @field_validator("forward_headers")
    @classmethod
    def _header_names(cls, values: list[str]) -> list[str]:
        if any(name.lower() in ("host", "content-length", "connection") for name in values):
            raise ValueError("Host, Content-Length and Connection cannot be forwarded")
        if any(name.lower() == "cookie" for name in values):
            raise ValueError("forward cookies by name with forward_cookies, not the Cookie header")
        return [name.lower() for name in values]

    @model_validator(mode="after")
    def _complete(self) -> HttpAdapterConfig:
        if self.session_url is None and self.user_url is None:
            raise ValueError("set session_url, user_url or both")
        if self.user_url is not None and "{user_id}" not in self.user_url:
            raise ValueError("user_url must contain {user_id}")
        if self.login_url is not None and "{return_to}" not in self.login_url:
            raise ValueError("login_url must contain {return_to}")
        if self.session_url and not (self.forward_cookies or self.forward_headers):
            raise ValueError("session_url needs forward_cookies or forward_headers")
        if self.token_file is not None:
            self.token = secret_from_file(self.token_file, "token_file")
        if self.token is not None and is_placeholder(self.token.get_secret_value()):
            raise ValueError("token: looks like a placeholder, not the host's real API token")
        return self


class OidcProfileFields(ProfileFields):
    """Where each ``UserProfile`` field sits in the ID token's (and userinfo's) claims:
    the standard claims by default; ``groups`` is where the provider puts them
    (``groups``, ``roles``, ``realm_access.roles``...)."""

    id: str = "sub"
    first_name: str = "given_name"
    last_name: str = "family_name"
    title: str = "title"
    avatar_url: str = "picture"
    locale: str = "locale"
    timezone: str = "zoneinfo"
    groups: str = "groups"


class OidcAdapterConfig(Section):
    """An OpenID provider: spot-sso signs browsers in there (authorization code + PKCE)."""

    issuer: str = Field(description="The provider's issuer URL, exactly as it names itself.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    token_endpoint_auth_method: Literal[
        "client_secret_basic", "client_secret_post", "private_key_jwt"
    ] = "client_secret_basic"  # noqa: S105 - a method's name, not a secret
    private_key: SecretStr | None = Field(
        default=None, description="PEM private key for private_key_jwt."
    )
    private_key_file: Path | None = None
    scopes: StrList = Field(default_factory=lambda: ["openid", "email", "profile"])
    prompt_none: bool = Field(
        default=False,
        description="Ask the provider with prompt=none first: a browser signed in there "
        "comes back without a page; one that is not is sent to the interactive login.",
    )
    userinfo: bool = Field(
        default=True,
        description="Also read the userinfo endpoint (one call per login): many providers "
        "put the email and profile claims there, not in the ID token.",
    )
    trust_unverified_email: bool = Field(
        default=False,
        description="Accept users whose email_verified claim is not true. MeltingSpot "
        "treats the token's email as verified: only for providers that never hold "
        "unverified addresses.",
    )
    fields: OidcProfileFields = Field(default_factory=OidcProfileFields)
    attributes: dict[str, str] = Field(default_factory=dict)
    lookup: HttpAdapterConfig | None = Field(
        default=None,
        description="Users by ID for POST /tokens with userId: a GET user_url as the HTTP "
        "adapter's (a SCIM 2.0 /Users/{user_id}, Microsoft Graph, Okta's Users API, the "
        "host's own), with its credential and field paths.",
    )
    login_ttl_seconds: float = Field(
        default=600.0, ge=30, le=3600, description="How long a login may stay at the provider."
    )
    metadata_ttl_seconds: float = Field(default=3600.0, ge=0, le=86400)
    connect_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    read_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    total_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("must be an https URL (http only on 127.0.0.1 or localhost)")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must be a plain URL: no query, fragment or credentials")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, values: list[str]) -> list[str]:
        if "openid" not in values:
            raise ValueError("must include 'openid'")
        return values

    @model_validator(mode="after")
    def _complete(self) -> OidcAdapterConfig:
        if self.client_secret_file is not None:
            self.client_secret = secret_from_file(self.client_secret_file, "client_secret_file")
        if self.private_key_file is not None:
            self.private_key = secret_from_file(self.private_key_file, "private_key_file")
        if self.token_endpoint_auth_method == "private_key_jwt":  # noqa: S105 - a method
            if self.private_key is None:
                raise ValueError("private_key_jwt needs private_key or private_key_file")
        elif self.client_secret is None:
            raise ValueError(
                f"{self.token_endpoint_auth_method} needs client_secret or client_secret_file"
            )
        if self.client_secret is not None and is_placeholder(self.client_secret.get_secret_value()):
            raise ValueError("client_secret: looks like a placeholder, not the real secret")
        if self.lookup is not None and (self.lookup.user_url is None or self.lookup.session_url):
            raise ValueError(
                "lookup: set user_url only; browsers are signed in by the OpenID provider"
            )
        return self


class IdentityConfig(Section):
    """Where users come from: ``static``, ``http``, ``oidc``, or a host's own
    ``package.module:Class``."""

    adapter: str = "static"
    static: StaticAdapterConfig = Field(default_factory=StaticAdapterConfig)
    http: HttpAdapterConfig | None = None
    oidc: OidcAdapterConfig | None = None
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for a custom adapter class."
    )

    @field_validator("adapter")
    @classmethod
    def _adapter(cls, value: str) -> str:
        if value in ("static", "http", "oidc") or re.fullmatch(r"[\w.]+:\w+", value):
            return value
        raise ValueError(
            "must be 'static', 'http', 'oidc' or an import path 'package.module:Class'"
        )

    @model_validator(mode="after")
    def _adapter_table(self) -> IdentityConfig:
        if self.adapter == "http" and self.http is None:
            raise ValueError("adapter = 'http' needs an [identity.http] table")
        if self.adapter == "oidc" and self.oidc is None:
            raise ValueError("adapter = 'oidc' needs an [identity.oidc] table")
        return self
