"""The service's errors: one tree, turned into HTTP in one place (``service.web.problems``).

Hierarchy::

    ServiceError                      500 internal-error
    ├── ConfigError                   (start-up only: never reaches HTTP)
    ├── InvalidRequest                422 invalid-request
    ├── BadBrowserRequest             400 (the browser flow's refusals)
    │   ├── InvalidRedirect           400 invalid-redirect
    │   ├── SpotRequired              400 spot-required
    │   ├── SpotMismatch              400 spot-mismatch
    │   └── NoDestination             400 no-destination
    ├── NotLoggedIn                   401 not-logged-in
    ├── PayloadTooLarge               413 payload-too-large
    ├── TooManyRequests               429 rate-limited
    ├── UnsupportedMediaType          415 unsupported-media-type
    ├── AuthenticationError           401
    │   ├── MissingApiKey             401 missing-api-key
    │   └── InvalidApiKey             401 invalid-api-key
    ├── SpotNotAllowed                403 spot-not-allowed
    ├── UnknownSpot                   404 unknown-spot
    ├── UnknownUser                   404 unknown-user
    ├── UserNotAllowed                403 user-not-allowed
    ├── EmailChangeRefused            409 email-change-refused
    ├── ProfileUnusable               502 unusable-profile
    └── IdentityUnavailable           503 identity-unavailable
        └── IdentityBadResponse       502 identity-bad-response
            └── IdentityMismatch      502 identity-bad-response (the host answered for
                                          another user than the one asked)

Every message is safe to show to an API client: none carries a token, a key, a cookie or
a header value. Browsers see ``browser_detail`` instead where it is set: the identity
errors' details name the host, which only the logs and API clients should see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad input: where it is (a JSON pointer) and what is wrong with it."""

    pointer: str
    detail: str


class ServiceError(Exception):
    """Root of the tree; ``status``, ``slug`` and ``title`` say how it shows over HTTP.

    A subclass sets them as class keywords: ``class X(ServiceError, status=404,
    slug="x", title="X")``; what it does not set, it inherits.
    """

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    browser_detail: ClassVar[str | None] = None  # shown to browsers instead of ``detail``

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        browser_detail: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status
        cls.slug = slug or cls.slug
        cls.title = title or cls.title
        cls.browser_detail = browser_detail or cls.browser_detail

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(ServiceError, slug="config-error", title="Invalid configuration"):
    """The configuration cannot start the service; ``problems`` name each field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class InvalidRequest(ServiceError, status=422, slug="invalid-request", title="Invalid request"):
    """The request's input is invalid; ``errors`` name each bad field."""

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        summary = "; ".join(f"{e.pointer or '/'}: {e.detail}" for e in errors)
        super().__init__(detail or f"The request is invalid: {summary}")
        self.errors = errors


class PayloadTooLarge(
    ServiceError, status=413, slug="payload-too-large", title="Payload too large"
):
    """The body is larger than ``max_body_bytes``."""


class TooManyRequests(ServiceError, status=429, slug="rate-limited", title="Too many requests"):
    """Over a rate limit; ``retry_after`` says how many seconds to wait."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UnsupportedMediaType(
    ServiceError, status=415, slug="unsupported-media-type", title="Unsupported media type"
):
    """The body is not sent as JSON."""


class BadBrowserRequest(
    ServiceError, status=400, slug="bad-request", title="This sign-in link cannot be used"
):
    """``GET /authorize`` cannot go on with what the browser brought."""


class InvalidRedirect(
    BadBrowserRequest, slug="invalid-redirect", title="This sign-in link is not allowed"
):
    """``redirectUrl`` or ``referrerUrl`` refused, or a parameter given twice."""


class SpotRequired(BadBrowserRequest, slug="spot-required", title="Which community?"):
    """Several Spots are configured and the link names none."""


class SpotMismatch(
    BadBrowserRequest, slug="spot-mismatch", title="This sign-in link names two communities"
):
    """``spot`` and ``redirectUrl`` name different Spots."""


class NoDestination(
    BadBrowserRequest, slug="no-destination", title="Nowhere to go after signing in"
):
    """No ``redirectUrl`` and no ``entry_url``."""


class LoginRefused(
    BadBrowserRequest, slug="login-refused", title="This sign-in could not be completed"
):
    """The OpenID provider's answer cannot be trusted or used (the sign-in expired or was
    already used, came back to another browser, a refused or tampered ID token, an
    unverified email, an error from the provider): a page, never a token."""


class NotLoggedIn(ServiceError, status=401, slug="not-logged-in", title="You are not signed in"):
    """The browser has no session on the host platform, and no login page to go to."""

    def __init__(self, detail: str, login_url: str | None = None) -> None:
        super().__init__(detail)
        self.login_url = login_url


class AuthenticationError(
    ServiceError, status=401, slug="invalid-api-key", title="Not authenticated"
):
    """The API key is missing or not valid."""


class MissingApiKey(AuthenticationError, slug="missing-api-key", title="API key missing"):
    """No API key in ``Authorization: Bearer`` or ``X-API-Key``."""


class InvalidApiKey(AuthenticationError, slug="invalid-api-key", title="API key not valid"):
    """An API key that no client holds."""


class SpotNotAllowed(
    ServiceError, status=403, slug="spot-not-allowed", title="Spot not allowed for this client"
):
    """The client may not issue tokens for this Spot."""


class UnknownSpot(ServiceError, status=404, slug="unknown-spot", title="Unknown Spot"):
    """No Spot has this alias or Spot ID."""


class UnknownUser(ServiceError, status=404, slug="unknown-user", title="Unknown user"):
    """The identity source knows no user with this ID."""


class UserNotAllowed(ServiceError, status=403, slug="user-not-allowed", title="User not allowed"):
    """The host platform (or the Spot's access rule) does not let this user in."""


class EmailChangeRefused(
    ServiceError, status=409, slug="email-change-refused", title="Email change refused"
):
    """The member's email changed on the host, and the Spot's ``email_change`` is
    ``refuse``: MeltingSpot would take the new address for a new member."""


class ProfileUnusable(
    ServiceError, status=502, slug="unusable-profile", title="User profile unusable"
):
    """The host platform's profile of the user cannot make a valid token."""

    def __init__(self, detail: str, errors: list[FieldError]) -> None:
        super().__init__(detail)
        self.errors = errors


class IdentityUnavailable(
    ServiceError,
    status=503,
    slug="identity-unavailable",
    title="Identity source unavailable",
    browser_detail="The host platform could not be reached, or did not answer in time.",
):
    """The identity source could not answer (down, timeout, refused)."""


class IdentityBadResponse(
    IdentityUnavailable,
    status=502,
    slug="identity-bad-response",
    title="Identity source answered badly",
    browser_detail="The host platform answered with something this service cannot use.",
):
    """The identity source answered, but with something unusable (5xx, bad JSON)."""


class IdentityMismatch(IdentityBadResponse):
    """A user lookup answered with a profile whose id is not the id asked for."""


def reason(exc: BaseException, limit: int = 200) -> str:
    """An exception in a few words, for a message: its first line, or its type's name."""
    return str(exc).split("\n")[0][:limit] or type(exc).__name__


def field_errors(
    errors: list[Any], *, names: Mapping[str, str] | None = None, skip: int = 0
) -> list[FieldError]:
    """Pydantic's error list as ``FieldError``\\ s with JSON pointers.

    ``skip`` drops leading location parts (FastAPI's ``body``); ``names`` renames the
    first remaining part (a claim name back to the profile field it came from).
    """
    result = []
    for error in errors:
        loc = [str(part) for part in error["loc"][skip:]]
        if loc and names:
            loc[0] = names.get(loc[0], loc[0])
        pointer = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        result.append(FieldError(pointer=pointer, detail=message))
    return result
