"""From the host platform's ``UserProfile`` to the claims of a token for one Spot."""

from __future__ import annotations

from typing import Final

from pydantic import ValidationError

from service.claims import MAX_TEXT, Member
from service.errors import ProfileUnusable, field_errors
from service.identity.base import UserProfile

_PROFILE_FIELDS: Final = {"sub": "id", "lang": "locale"}


def member_from_profile(profile: UserProfile) -> Member:
    """The member claims of ``profile``; ``ProfileUnusable`` names every bad field."""
    try:
        return Member(
            sub=profile.id,
            first_name=profile.first_name,
            last_name=profile.last_name,
            email=profile.email,
            title=profile.title or None,
            avatar_url=profile.avatar_url or None,
            lang=_short(profile.locale),
            timezone=_short(profile.timezone),
        )
    except ValidationError as exc:
        errors = field_errors(exc.errors(), names=_PROFILE_FIELDS)
        fields = ", ".join(e.pointer.lstrip("/") for e in errors)
        raise ProfileUnusable(
            f"The host platform's profile of this user cannot make a token ({fields}).", errors
        ) from None


def _short(value: str | None) -> str | None:
    """Drop values too long to be a language tag or a zone name: the Spot default applies."""
    return value if value and len(value) <= MAX_TEXT else None
