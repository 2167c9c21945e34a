"""A profile from a JSON object by dotted paths: the HTTP adapter's host answer, the OIDC
adapter's claims. Every ``UserProfile`` field has its path (``ProfileFields``); the
configured ``attributes`` are kept for the Spot's property rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from service.contract.paths import MISSING, dig
from service.contract.profile import UserProfile
from service.errors import FieldError, ProfileUnusable, field_errors
from service.settings.identity import ProfileFields


def map_profile(
    root: Mapping[str, Any], fields: ProfileFields, attributes: Mapping[str, str], source: str
) -> UserProfile:
    """The ``UserProfile`` in ``root``; ``ProfileUnusable`` names the bad fields by their
    configured paths (``source`` says whose profile: "The host platform's profile")."""
    paths = fields.model_dump()
    values = {name: dig(root, path) for name, path in paths.items()}
    found = {name: _scalar(v) for name, v in values.items() if v is not MISSING and v is not None}
    found["groups"] = _string_list(values["groups"])
    extra = {name: dig(root, path) for name, path in attributes.items()}
    found["attributes"] = {k: v for k, v in extra.items() if v is not MISSING}
    try:
        return UserProfile.model_validate(found)
    except ValidationError as exc:
        errors = _profile_errors(exc, paths)
        names = ", ".join(e.pointer.lstrip("/").replace("/", ".") for e in errors)
        raise ProfileUnusable(f"{source} lacks usable values for {names}.", errors) from None


def _scalar(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _string_list(value: Any) -> list[str]:
    """Group names: strings and integers; booleans, floats and objects are not names."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [
            str(item)
            for item in value
            if isinstance(item, str | int) and not isinstance(item, bool)
        ]
    return []


def _profile_errors(exc: ValidationError, paths: Mapping[str, str]) -> list[FieldError]:
    """Errors named by the configured field paths, the way an integrator wrote them."""
    return [
        FieldError(
            "/" + paths.get(e.pointer.lstrip("/"), e.pointer.lstrip("/")).replace(".", "/"),
            e.detail,
        )
        for e in field_errors(exc.errors())
    ]
