"""From the host platform's ``UserProfile`` to the claims of a token for one Spot.

Pure functions over the Spot's rules (``service.contract.rules``): who may enter, which Spot
groups to join and leave, custom property values, domains; then the caller's explicit
values on top, key by key. Every claim comes with the reason it has its value, which
``spot-sso explain`` prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.contract.claims import MAX_TEXT, WIRE_NAMES, HttpUrl, Key, Member
from service.contract.paths import MISSING, dig
from service.contract.profile import UserProfile
from service.contract.rules import PropertyConstant, SpotRules
from service.errors import FieldError, InvalidRequest, ProfileUnusable, UserNotAllowed, field_errors

_PROFILE_FIELDS: Final = {"sub": "id", "lang": "locale"}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a claim (or one key of it) has its value."""

    claim: str
    value: Any
    source: str


@dataclass(slots=True)
class RuleClaims:
    """The rule-made claims, by ``SpotClaims`` field name, and the reasons for each."""

    groups_join: set[str] = field(default_factory=set)
    groups_leave: set[str] = field(default_factory=set)
    custom_properties: dict[str, str] = field(default_factory=dict)
    domains_set: dict[str, str] = field(default_factory=dict)
    domains_unset: set[str] = field(default_factory=set)
    reasons: list[Reason] = field(default_factory=list)

    def claims(self) -> dict[str, Any]:
        """Keyword arguments for ``SpotClaims``: empty claims left out, lists sorted."""
        values: dict[str, Any] = {
            "groups_join": sorted(self.groups_join),
            "groups_leave": sorted(self.groups_leave),
            "custom_properties": dict(sorted(self.custom_properties.items())),
            "domains_set": dict(sorted(self.domains_set.items())),
            "domains_unset": sorted(self.domains_unset),
        }
        return {name: value for name, value in values.items() if value}


class GroupChanges(BaseModel):
    """Spot groups to join or leave, as the caller says."""

    model_config = ConfigDict(extra="forbid")
    join: list[Key] = Field(default_factory=list, max_length=100)
    leave: list[Key] = Field(default_factory=list, max_length=100)


class DomainChanges(BaseModel):
    """Domains to set or unset, as the caller says."""

    model_config = ConfigDict(extra="forbid")
    set: dict[Key, HttpUrl] = Field(default_factory=dict, max_length=100)
    unset: list[Key] = Field(default_factory=list, max_length=100)


@dataclass(frozen=True, slots=True)
class Explicit:
    """Values a ``POST /tokens`` caller gives; they win over the rules, key by key."""

    groups: GroupChanges | None = None
    custom_properties: dict[str, str] | None = None
    domains: DomainChanges | None = None


def settle(
    profile: UserProfile | None,
    member: Member | None,
    rules: SpotRules,
    spot: str,
    explicit: Explicit | None = None,
) -> tuple[Member, RuleClaims]:
    """The member and rule-made claims for a Spot.

    A profile from the identity source goes through the access rule and every rule; a
    member given whole by a ``POST /tokens`` caller gets only the caller's explicit values
    (the rules need the host's groups and attributes, which a caller's profile lacks).
    """
    if profile is not None:
        check_access(profile, rules, spot)
        member, made = member_from_profile(profile), apply_rules(profile, rules)
    elif member is not None:
        made = RuleClaims()
    else:
        raise ValueError("settle needs a profile or a member")
    return member, merge_explicit(made, explicit) if explicit else made


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


def check_access(profile: UserProfile, rules: SpotRules, spot: str) -> None:
    """``UserNotAllowed`` unless the user has one of the Spot's ``require_groups``."""
    if rules.require_groups and not set(rules.require_groups) & set(profile.groups):
        raise UserNotAllowed(
            f"Spot {spot!r} admits members of {', '.join(rules.require_groups)} only; "
            "this user is in none of them."
        )


def apply_rules(profile: UserProfile, rules: SpotRules) -> RuleClaims:
    """The claims the Spot's rules give ``profile``, with their reasons."""
    result = RuleClaims()
    _sync_groups(profile, rules, result)
    _properties(profile, rules, result)
    _domains(profile, rules, result)
    return result


def _sync_groups(profile: UserProfile, rules: SpotRules, result: RuleClaims) -> None:
    has = set(profile.groups)
    granted: dict[str, list[str]] = {}
    for host_group, spot_groups in rules.groups.items():
        if host_group in has:
            for spot_group in spot_groups:
                granted.setdefault(spot_group, []).append(host_group)
    for spot_group, host_groups in sorted(granted.items()):
        result.groups_join.add(spot_group)
        result.reasons.append(Reason("groups:join", spot_group, _via("groups", host_groups)))
    for spot_group in sorted(rules.mapped_groups - set(granted)):
        result.groups_leave.add(spot_group)
        givers = sorted(h for h, ids in rules.groups.items() if spot_group in ids)
        source = f"{_via('groups', givers)}: the user has none of them"
        result.reasons.append(Reason("groups:leave", spot_group, source))


def _via(table: str, keys: list[str]) -> str:
    return " or ".join(f"{table}.{key}" for key in keys)


def _properties(profile: UserProfile, rules: SpotRules, result: RuleClaims) -> None:
    data = profile.model_dump()
    for key, source in rules.properties.items():
        claim = f"customPropertyValue.{key}"
        if isinstance(source, PropertyConstant):
            result.custom_properties[key] = source.value
            result.reasons.append(Reason(claim, source.value, f"properties.{key} (a constant)"))
            continue
        value = _render(dig(data, source))
        if value is None:
            result.reasons.append(Reason(claim, None, f"properties.{key}: {source} is empty"))
            continue
        note = " (cut to 255 characters)" if len(value) > MAX_TEXT else ""
        result.custom_properties[key] = value[:MAX_TEXT]
        result.reasons.append(
            Reason(claim, value[:MAX_TEXT], f"properties.{key} <- {source}{note}")
        )


def _render(value: Any) -> str | None:
    """A property value as MeltingSpot wants it: a string; nothing for absent values.

    Booleans are ``true``/``false``, lists are their rendered items joined with ``, ``
    (empty items dropped), objects are JSON; blank text counts as absent.
    """
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        items = [item for item in map(_render, value) if item is not None]
        return ", ".join(items) if items else None
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value).strip()
    return text or None


def _domains(profile: UserProfile, rules: SpotRules, result: RuleClaims) -> None:
    domains = rules.domains
    has = set(profile.groups)
    bound = domains.group_bound
    for key, url in domains.urls.items():
        givers = sorted(g for g, keys in domains.by_group.items() if key in keys)
        if key not in bound:
            result.domains_set[key] = url
            result.reasons.append(Reason(f"domains:set.{key}", url, f"domains.urls.{key}"))
        elif has & set(givers):
            result.domains_set[key] = url
            source = _via("domains.by_group", sorted(has & set(givers)))
            result.reasons.append(Reason(f"domains:set.{key}", url, source))
        else:
            result.domains_unset.add(key)
            source = f"{_via('domains.by_group', givers)}: the user has none of them"
            result.reasons.append(Reason("domains:unset", key, source))


def merge_explicit(rules: RuleClaims, explicit: Explicit) -> RuleClaims:
    """``rules`` with the caller's values on top; 422 when the caller contradicts itself."""
    _refuse_contradictions(explicit)
    rules.reasons = [r for r in rules.reasons if not _overridden(r, explicit)]
    if explicit.groups is not None:
        join, leave = set(explicit.groups.join), set(explicit.groups.leave)
        rules.groups_join = (rules.groups_join - leave) | join
        rules.groups_leave = (rules.groups_leave - join) | leave
        rules.reasons += [Reason("groups:join", g, "request: groups.join") for g in sorted(join)]
        rules.reasons += [Reason("groups:leave", g, "request: groups.leave") for g in sorted(leave)]
    for key, value in (explicit.custom_properties or {}).items():
        rules.custom_properties[key] = value
        rules.reasons.append(Reason(f"customPropertyValue.{key}", value, "request"))
    if explicit.domains is not None:
        unset = set(explicit.domains.unset)
        kept = {k: v for k, v in rules.domains_set.items() if k not in unset}
        rules.domains_set = kept | explicit.domains.set
        rules.domains_unset = (rules.domains_unset - set(explicit.domains.set)) | unset
        rules.reasons += [
            Reason(f"domains:set.{k}", v, "request: domains.set")
            for k, v in explicit.domains.set.items()
        ]
        rules.reasons += [
            Reason("domains:unset", k, "request: domains.unset") for k in sorted(unset)
        ]
    return rules


def _overridden(reason: Reason, explicit: Explicit) -> bool:
    """True for a rule's reason that an explicit value replaces."""
    groups, domains = explicit.groups, explicit.domains
    properties = explicit.custom_properties or {}
    claim, value = reason.claim, reason.value
    touched_domains = set(domains.set) | set(domains.unset) if domains else set()
    return (
        (groups is not None and claim.startswith("groups:") and value in groups.join + groups.leave)
        or (claim.startswith("customPropertyValue.") and claim.split(".", 1)[1] in properties)
        or (claim.startswith("domains:set.") and claim.split(".", 1)[1] in touched_domains)
        or (claim == "domains:unset" and value in touched_domains)
    )


def _refuse_contradictions(explicit: Explicit) -> None:
    errors = []
    if explicit.groups is not None:
        both = sorted(set(explicit.groups.join) & set(explicit.groups.leave))
        if both:
            errors.append(FieldError("/groups", f"both joined and left: {', '.join(both)}"))
    if explicit.domains is not None:
        both = sorted(set(explicit.domains.set) & set(explicit.domains.unset))
        if both:
            errors.append(FieldError("/domains", f"both set and unset: {', '.join(both)}"))
    if errors:
        raise InvalidRequest(errors)


def member_reasons(member: Member, profile: UserProfile | None) -> list[Reason]:
    """Where each member claim came from: the host's profile, or the request body."""
    origin = "profile" if profile is not None else "request: user"
    reasons = []
    for name, value in member.model_dump(exclude_none=True).items():
        source = f"{origin}.{_PROFILE_FIELDS.get(name, name)}" if profile else origin
        reasons.append(Reason(WIRE_NAMES[name], value, source))
    return reasons
