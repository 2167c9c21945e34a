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
    """Root of the tree; ``status`` and ``slug`` say how it shows over HTTP."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    browser_detail: ClassVar[str | None] = None  # shown to browsers instead of ``detail``

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(ServiceError):
    """The configuration cannot start the service; ``problems`` name each field."""

    slug = "config-error"
    title = "Invalid configuration"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class InvalidRequest(ServiceError):
    status = 422
    slug = "invalid-request"
    title = "Invalid request"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        summary = "; ".join(f"{e.pointer or '/'}: {e.detail}" for e in errors)
        super().__init__(detail or f"The request is invalid: {summary}")
        self.errors = errors


class PayloadTooLarge(ServiceError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class TooManyRequests(ServiceError):
    """Over a rate limit; ``retry_after`` says how many seconds to wait."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UnsupportedMediaType(ServiceError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class BadBrowserRequest(ServiceError):
    """``GET /authorize`` cannot go on with what the browser brought."""

    status = 400
    slug = "bad-request"
    title = "This sign-in link cannot be used"


class InvalidRedirect(BadBrowserRequest):
    slug = "invalid-redirect"
    title = "This sign-in link is not allowed"


class SpotRequired(BadBrowserRequest):
    slug = "spot-required"
    title = "Which community?"


class SpotMismatch(BadBrowserRequest):
    slug = "spot-mismatch"
    title = "This sign-in link names two communities"


class NoDestination(BadBrowserRequest):
    slug = "no-destination"
    title = "Nowhere to go after signing in"


class NotLoggedIn(ServiceError):
    """The browser has no session on the host platform, and no login page to go to."""

    status = 401
    slug = "not-logged-in"
    title = "You are not signed in"

    def __init__(self, detail: str, login_url: str | None = None) -> None:
        super().__init__(detail)
        self.login_url = login_url


class AuthenticationError(ServiceError):
    status = 401
    slug = "invalid-api-key"
    title = "Not authenticated"


class MissingApiKey(AuthenticationError):
    slug = "missing-api-key"
    title = "API key missing"


class InvalidApiKey(AuthenticationError):
    slug = "invalid-api-key"
    title = "API key not valid"


class SpotNotAllowed(ServiceError):
    status = 403
    slug = "spot-not-allowed"
    title = "Spot not allowed for this client"


class UnknownSpot(ServiceError):
    status = 404
    slug = "unknown-spot"
    title = "Unknown Spot"


class UnknownUser(ServiceError):
    status = 404
    slug = "unknown-user"
    title = "Unknown user"


class UserNotAllowed(ServiceError):
    """The host platform says this user may not enter the Spot."""

    status = 403
    slug = "user-not-allowed"
    title = "User not allowed"


class ProfileUnusable(ServiceError):
    """The host platform's profile of the user cannot make a valid token."""

    status = 502
    slug = "unusable-profile"
    title = "User profile unusable"

    def __init__(self, detail: str, errors: list[FieldError]) -> None:
        super().__init__(detail)
        self.errors = errors


class IdentityUnavailable(ServiceError):
    """The identity source could not answer (down, timeout, refused)."""

    status = 503
    slug = "identity-unavailable"
    title = "Identity source unavailable"
    browser_detail = "The host platform could not be reached, or did not answer in time."


class IdentityBadResponse(IdentityUnavailable):
    """The identity source answered, but with something unusable (5xx, bad JSON)."""

    status = 502
    slug = "identity-bad-response"
    title = "Identity source answered badly"
    browser_detail = "The host platform answered with something this service cannot use."


class IdentityMismatch(IdentityBadResponse):
    """A user lookup answered with a profile whose id is not the id asked for."""


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
