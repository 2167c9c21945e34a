"""``spot-sso explain``: the claims a Spot's rules give a user, and why each has its value.

The tool for "why did this member land in that group?": it runs the same code as a real
token (access rule, group sync, properties, domains, language and time zone defaults),
signs nothing, and names the rule behind every claim.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from service.contract.claims import SpotClaims, normalize_lang, normalize_timezone
from service.contract.membership import Reason, member_reasons, settle
from service.errors import UserNotAllowed
from service.identity.base import UserProfile
from service.ledger.records import MemberRecord
from service.runtime.runtime import Runtime
from service.settings.spots import SpotConfig

_TIMES = ("iat", "exp")


def explain(
    runtime: Runtime, alias: str, profile: UserProfile, known: MemberRecord | None = None
) -> dict[str, Any]:
    """A report: whether the user may enter, the claims (without iat/exp), the reasons.

    ``known`` is what the member ledger remembers of the user on this Spot: the email
    sent is then the one the Spot's ``email_change`` gives.
    """
    spot = runtime.settings.spots[alias]
    try:
        member, made = settle(profile, None, spot, alias)
    except UserNotAllowed as exc:
        return {"spot": alias, "spotId": spot.id, "allowed": False, "reason": exc.detail}
    claims = runtime.claims(alias, member, made)
    reasons = member_reasons(member, profile)
    reasons = [r for r in reasons if r.claim not in ("lang", "timezone")]
    if runtime.ledger is not None:
        email = _email_reason(alias, spot, claims.email, known)
        if email.value is None:
            return {"spot": alias, "spotId": spot.id, "allowed": False, "reason": email.source}
        claims = claims.model_copy(update={"email": email.value})
        reasons = [email if r.claim == "email" else r for r in reasons]
    reasons += _settled(alias, spot, member.lang, member.timezone, claims) + made.reasons
    wire = {k: v for k, v in claims.to_wire().items() if k not in _TIMES}
    return {
        "spot": alias,
        "spotId": spot.id,
        "allowed": True,
        "claims": wire,
        "reasons": [{"claim": r.claim, "value": r.value, "source": r.source} for r in reasons],
    }


def _email_reason(alias: str, spot: SpotConfig, email: str, known: MemberRecord | None) -> Reason:
    """The email a token would carry, and why, given the ledger's record (``value`` None:
    refused)."""
    if known is None:
        return Reason("email", email, "profile.email (a new member: the ledger has no record)")
    since = datetime.fromtimestamp(known.first_seen, UTC).strftime("%Y-%m-%d")
    if known.email.casefold() == email.casefold():
        return Reason("email", email, f"profile.email (as sent since {since})")
    setting = f"spots.{alias}.email_change = {spot.email_change!r}"
    if spot.email_change == "keep-first":
        return Reason(
            "email",
            known.email,
            f"the ledger ({setting}): MeltingSpot knows this address since {since}; "
            f"the host now gives {email!r}",
        )
    if spot.email_change == "refuse":
        return Reason(
            "email",
            None,
            f"{setting}: the host's email changed from {known.email!r} to {email!r}; "
            "the sign-in would be refused (409 email-change-refused)",
        )
    return Reason(
        "email",
        email,
        f"profile.email ({setting}): changed from {known.email!r}, sent since {since}; "
        "MeltingSpot will see a new member",
    )


def _settled(
    alias: str, spot: SpotConfig, lang: str | None, timezone: str | None, claims: SpotClaims
) -> list[Reason]:
    """Why ``lang`` and ``timezone`` are what they are: the profile's, or the Spot's default."""
    reasons = []
    for claim, given, default, normal in (
        ("lang", lang, spot.default_lang, normalize_lang),
        ("timezone", timezone, spot.default_timezone, normalize_timezone),
    ):
        value = getattr(claims, claim)
        profile_field = "locale" if claim == "lang" else "timezone"
        if given and normal(given, "") == value:
            source = f"profile.{profile_field} ({given!r})"
        else:
            unusable = f" (profile.{profile_field} {given!r} is not usable)" if given else ""
            source = f"spots.{alias}.default_{claim} = {default!r}{unusable}"
        reasons.append(Reason(claim, value, source))
    return reasons


def as_text(report: dict[str, Any]) -> str:
    """The report as a table for a terminal."""
    head = f"Spot {report['spot']} ({report['spotId']})"
    if not report["allowed"]:
        return f"{head}\nDENIED: {report['reason']}\n"
    rows = [(r["claim"], _shown(r["value"]), r["source"]) for r in report["reasons"]]
    widths = [max(len(row[i]) for row in [("claim", "value", "source"), *rows]) for i in (0, 1)]
    lines = [head, ""]
    for claim, value, source in [("claim", "value", "source"), *rows]:
        lines.append(f"{claim:<{widths[0]}}  {value:<{widths[1]}}  {source}")
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> str:
    if value is None:
        return "(not sent)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
