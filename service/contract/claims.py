"""The claims of a MeltingSpot SSO token, their wire names and their rules.

Pure models and functions: nothing here imports the web framework or the rest of
the service. ``WIRE_NAMES`` is the single table of claim names as MeltingSpot reads
them; correcting a name is a one-line change there.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

WIRE_NAMES: Final[dict[str, str]] = {
    "sub": "sub",
    "first_name": "firstName",
    "last_name": "lastName",
    "email": "email",
    "title": "title",
    "avatar_url": "avatarUrl",
    "lang": "lang",
    "timezone": "timezone",
    "iat": "iat",
    "exp": "exp",
    "groups_join": "groups:join",
    "groups_leave": "groups:leave",
    "custom_properties": "customPropertyValue",
    "domains_set": "domains:set",
    "domains_unset": "domains:unset",
}

SUPPORTED_LANGS: Final = ("en", "fr", "de")
MELTINGSPOT_DEFAULT_LANG: Final = "en"
MELTINGSPOT_DEFAULT_TIMEZONE: Final = "Europe/Paris"
MAX_TEXT: Final = 255
MAX_URL: Final = 2048

Lang = Literal["en", "fr", "de"]

# C0/C1 controls, line/paragraph separators, and bidirectional overrides (display spoofing).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_LANG_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")


def _plain_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters or line breaks")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _email(value: str) -> str:
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from None
    return value


def http_url(value: str) -> str:
    """``value`` if it is an absolute http(s) URL without spaces, controls or credentials."""
    if _CONTROL.search(value) or any(ch.isspace() for ch in value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


def _timezone(value: str) -> str:
    canonical = canonical_timezone(value)
    if canonical is None:
        raise ValueError(f"{value!r} is not an IANA time zone name")
    return canonical


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_plain_text)]
Email = Annotated[str, Field(min_length=3, max_length=MAX_TEXT), AfterValidator(_email)]
HttpUrl = Annotated[str, Field(max_length=MAX_URL), AfterValidator(http_url)]
TimeZone = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_timezone)]
# Group IDs and keys are stripped wherever they are read (config or body), so " g" and "g"
# can never be two different groups.
Key = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT),
    AfterValidator(_plain_text),
]
PropertyValue = Annotated[str, Field(max_length=MAX_TEXT)]


@lru_cache(maxsize=1)
def _timezones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def canonical_timezone(value: str) -> str | None:
    """The IANA name for ``value`` (matched without regard to case), or None."""
    return _timezones().get(value.strip().lower())


def normalize_lang(value: str | None, default: str = MELTINGSPOT_DEFAULT_LANG) -> str:
    """A language MeltingSpot supports: ``fr-FR``, ``FR`` and ``fr_CA`` give ``fr``.

    Anything else (absent, malformed or unsupported) gives ``default``.
    """
    if value:
        match = _LANG_TAG.match(value.strip())
        if match and match.group(1).lower() in SUPPORTED_LANGS:
            return match.group(1).lower()
    return default


def normalize_timezone(value: str | None, default: str = MELTINGSPOT_DEFAULT_TIMEZONE) -> str:
    """The IANA name of ``value``, or ``default`` when it is absent or unknown."""
    if value:
        return canonical_timezone(value) or default
    return default


def _wire_name(field_name: str) -> str:
    return WIRE_NAMES[field_name]


class ClaimModel(BaseModel):
    """Base of the claim models: wire names as aliases, unknown names refused."""

    model_config = ConfigDict(
        alias_generator=_wire_name,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The claims as MeltingSpot reads them, without the absent ones."""
        return self.model_dump(by_alias=True, exclude_none=True)


class _Identity(ClaimModel):
    """The claims that say who the member is, in MeltingSpot's order."""

    sub: Text
    first_name: Text
    last_name: Text
    email: Email
    title: Text | None = None
    avatar_url: HttpUrl | None = None


class Member(_Identity):
    """Who the token is about: the user claims, as a caller may send them.

    ``lang`` and ``timezone`` are free here; they are normalised against a Spot's
    defaults when the member becomes ``SpotClaims``.
    """

    lang: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    timezone: Annotated[str, Field(max_length=MAX_TEXT)] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sub": "u-1001",
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "email": "ada@example.com",
                    "title": "Analyst",
                    "avatarUrl": "https://example.com/avatars/ada.png",
                    "lang": "fr-FR",
                    "timezone": "Europe/London",
                }
            ]
        }
    )


class _Settled(ClaimModel):
    """The claims a token adds to its member: language, time zone, lifetime, Spot rules."""

    lang: Lang
    timezone: TimeZone
    iat: int = Field(ge=0)
    exp: int = Field(ge=0)
    groups_join: list[Key] | None = None
    groups_leave: list[Key] | None = None
    custom_properties: dict[Key, PropertyValue] | None = None
    domains_set: dict[Key, HttpUrl] | None = None
    domains_unset: list[Key] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _Settled:
        _check_consistent(self.iat, self.exp, self.groups_join, self.groups_leave)
        return self


def _check_consistent(iat: int, exp: int, join: list[str] | None, leave: list[str] | None) -> None:
    if exp <= iat:
        raise ValueError("exp must be later than iat")
    both = set(join or ()) & set(leave or ())
    if both:
        raise ValueError(f"groups both joined and left: {', '.join(sorted(both))}")


class SpotClaims(_Settled, _Identity):
    """Every claim of a MeltingSpot SSO token, checked against MeltingSpot's rules."""

    @classmethod
    def for_member(
        cls,
        member: Member,
        *,
        issued_at: int,
        ttl_seconds: int,
        default_lang: str = MELTINGSPOT_DEFAULT_LANG,
        default_timezone: str = MELTINGSPOT_DEFAULT_TIMEZONE,
        **extra: Any,
    ) -> SpotClaims:
        """The claims for ``member``, with language and time zone settled and a lifetime.

        ``member`` was validated when it was made, against the same field types as here,
        so only what the token adds is validated now: each value is checked exactly once.
        """
        settled = _Settled(
            lang=normalize_lang(member.lang, default_lang),
            timezone=normalize_timezone(member.timezone, default_timezone),
            iat=issued_at,
            exp=issued_at + ttl_seconds,
            **extra,
        )
        # The settled lang and timezone replace the member's own.
        fields = member.__dict__ | settled.__dict__
        return cls.model_construct(set(fields), **fields)
