"""The Spots, API clients and rate limits of the configuration."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from limits import parse as parse_limit
from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from service.contract.claims import Lang, TimeZone
from service.contract.redirects import RedirectRefused, check_redirect_url, normalised_origin
from service.contract.rules import SpotRules
from service.secrets import is_guessable_digest
from service.settings.fields import Section, StrList, secret_from_file
from service.settings.ledger import EmailChange

MIN_KEY_BYTES: Final = 32
MISSING_KEY: Final = "missing; copy it from the Spot's SSO settings in MeltingSpot"
PLACEHOLDER_KEY: Final = (
    "looks like a placeholder, not the Spot's real key: paste the private key from the "
    "Spot's SSO settings (MeltingSpot → Spot settings → SSO)"
)
GUESSABLE_KEY: Final = (
    "the digest of a key anyone can guess (a common password, a word or name, or one "
    "character repeated); generate a key with `spot-sso keygen`"
)
TTL_CEILING: Final = 86_400
MELTINGSPOT_ORIGIN: Final = "https://go.meltingspot.io"

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _rate_limit(value: str) -> str:
    try:
        amount = parse_limit(value).amount
    except ValueError:
        raise ValueError(f"{value!r} is not a rate like 600/minute or 10/second") from None
    if amount < 1:
        raise ValueError(f"{value!r}: a limit lets at least one request through")
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class SpotConfig(SpotRules):
    """One MeltingSpot community this service issues tokens for, with its rules."""

    id: str = Field(description="The Spot ID: the UUID after spot/ in the Spot's URL.")
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    allow_short_key: bool = False
    token_ttl_seconds: int = Field(default=60, ge=1, le=TTL_CEILING)
    max_token_ttl_seconds: int = Field(default=300, ge=1, le=TTL_CEILING)
    redirect_origins: StrList = Field(default_factory=lambda: [MELTINGSPOT_ORIGIN])
    default_lang: Lang = "en"
    default_timezone: TimeZone = "Europe/Paris"
    authorize_rate_limit: RateLimit | None = Field(
        default=None,
        description="GET /authorize limit per client IP for this Spot "
        "(default: limits.authorize_per_ip).",
    )
    entry_url: str | None = Field(
        default=None,
        description="Where GET /authorize sends a browser that brings no redirectUrl "
        "(the 'from the app' flow): the Spot's SSO URL on an allowed origin.",
    )
    email_change: EmailChange = Field(
        default="follow",
        description="When the host's email of a known member changes: send the new one "
        "(follow), keep sending the one MeltingSpot knows (keep-first), or refuse.",
    )

    @field_validator("id")
    @classmethod
    def _spot_id(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            raise ValueError(
                "must be the Spot's UUID, e.g. 129487c9-6acc-43d9-ab96-182ded763538"
            ) from None

    @field_validator("redirect_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return [_origin(value) for value in values]

    @model_validator(mode="after")
    def _entry_url(self) -> SpotConfig:
        if self.entry_url is not None:
            try:
                self.entry_url = check_redirect_url(self.entry_url, self.redirect_origins)
            except RedirectRefused as exc:
                raise ValueError(f"entry_url: {str(exc).removeprefix('redirectUrl ')}") from None
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _missing_key_too(
        cls, data: Any, handler: ModelWrapValidatorHandler[SpotConfig]
    ) -> SpotConfig:
        """A Spot with another problem is not checked further (``Settings`` checks its
        key once every field is well-formed): a missing key is reported with that
        problem, since a misspelt ``private_key_file`` leaves the key missing too."""
        try:
            return handler(data)
        except ValidationError as exc:
            if not isinstance(data, Mapping) or _key_given(data):
                raise
            problems = [
                InitErrorDetails(
                    type=PydanticCustomError(error["type"], error["msg"]),
                    loc=error["loc"],
                    input=error["input"],
                )
                for error in exc.errors(include_url=False)
            ]
            missing = PydanticCustomError("missing_key", MISSING_KEY)
            problems.append(InitErrorDetails(type=missing, loc=("private_key",), input=data))
            raise ValidationError.from_exception_data(exc.title, problems) from None

    @model_validator(mode="after")
    def _key_from_file(self) -> SpotConfig:
        if self.private_key_file is not None:
            self.private_key = secret_from_file(self.private_key_file, "private_key_file")
        return self

    @property
    def key(self) -> SecretStr:
        """The private key; only valid settings exist, so it is always set."""
        assert self.private_key is not None
        return self.private_key


def _key_given(data: Mapping[str, Any]) -> bool:
    key = data.get("private_key")
    blank = key is None or (isinstance(key, str) and not key.strip())
    return not blank or data.get("private_key_file") is not None


def _origin(value: str) -> str:
    """The origin as the redirect rules compare it; plain http only for 127.0.0.1."""
    try:
        origin = normalised_origin(value)
    except RedirectRefused:
        raise ValueError(f"{value!r} is not an origin like https://go.meltingspot.io") from None
    if origin.startswith("http://") and urlsplit(origin).hostname != "127.0.0.1":
        raise ValueError(f"{value!r}: plain http is allowed only for 127.0.0.1")
    return origin


class ClientConfig(Section):
    """A product backend allowed to call ``POST /tokens`` with an API key."""

    key_sha256: StrList = Field(
        description="SHA-256 hex digests of the client's API keys (two during a rollover)."
    )
    spots: StrList = Field(min_length=1, description="Aliases of the Spots it may use.")
    rate_limit: RateLimit | None = Field(
        default=None,
        description="POST /tokens limit for this client (default: limits.tokens_per_client).",
    )

    @field_validator("key_sha256")
    @classmethod
    def _digests(cls, values: list[str]) -> list[str]:
        digests = [value.strip().lower() for value in values]
        bad = [d for d in digests if not _DIGEST.match(d)]
        if bad or not digests:
            raise ValueError("must be SHA-256 hex digests (64 hex characters each)")
        guessable = [n for n, digest in enumerate(digests, 1) if is_guessable_digest(digest)]
        if guessable:
            entry = f"entry {guessable[0]}: " if len(digests) > 1 else ""
            raise ValueError(entry + GUESSABLE_KEY)
        return digests


class LimitsConfig(Section):
    """Rate limits: ``<count>/<second|minute|hour|day>``, counted in the shared state."""

    enabled: bool = True
    tokens_per_client: RateLimit = "600/minute"
    authorize_per_ip: RateLimit = "60/minute"
    failed_auth_per_ip: RateLimit = "20/minute"
