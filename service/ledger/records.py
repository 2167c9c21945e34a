"""What the ledger keeps, in plain Python: a sign-in, a member, and the ledger's error.

No database code here: the Runtime and the CLI import this module at start-up, and
``service.ledger.store`` (SQLAlchemy, Alembic and the drivers) only when the ledger is on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

from service.contract.claims import SpotClaims

LIST_LIMIT: Final = 50


class LedgerError(Exception):
    """The ledger's database failed, or did not answer in time."""


class LedgerSkipped(LedgerError):
    """A call not made: the database failed a moment ago (it is already logged)."""


@dataclass(frozen=True, slots=True)
class SignIn:
    """What one token told MeltingSpot about a member."""

    spot_id: str
    sub: str
    email: str  # as sent in the token
    host_email: str  # as the identity source gave it (differs under email_change = keep-first)
    when: int
    groups_join: list[str] = field(default_factory=list)
    groups_leave: list[str] = field(default_factory=list)
    custom_properties: dict[str, str] = field(default_factory=dict)
    domains_set: dict[str, str] = field(default_factory=dict)
    domains_unset: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, spot_id: str, claims: SpotClaims, host_email: str | None = None) -> SignIn:
        return cls(
            spot_id=spot_id,
            sub=claims.sub,
            email=claims.email,
            host_email=host_email or claims.email,
            when=claims.iat,
            groups_join=list(claims.groups_join or []),
            groups_leave=list(claims.groups_leave or []),
            custom_properties=dict(claims.custom_properties or {}),
            domains_set={key: str(url) for key, url in (claims.domains_set or {}).items()},
            domains_unset=list(claims.domains_unset or []),
        )


@dataclass(frozen=True, slots=True)
class LastSignIn:
    """What MeltingSpot was last told of a member's email, and since when it knows them:
    all a sign-in needs to keep the member one member."""

    email: str  # as last sent in a token
    host_email: str  # as the identity source last gave it
    first_seen: int


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member as the ledger remembers them on one Spot."""

    spot_id: str
    sub: str
    email: str
    host_email: str
    first_seen: int
    last_seen: int
    logins: int
    groups_join: list[str]
    groups_leave: list[str]
    custom_properties: dict[str, str]
    domains_set: dict[str, str]
    domains_unset: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Key = tuple[str, str]  # Spot ID, sub


def keys_of(sign_ins: list[SignIn]) -> list[Key]:
    """The members of ``sign_ins``, each once, in the order the database locks them."""
    return sorted({(sign_in.spot_id, sign_in.sub) for sign_in in sign_ins})


def before_each(sign_ins: list[SignIn], stored: dict[Key, LastSignIn]) -> list[LastSignIn | None]:
    """For each sign-in of a batch, the member as the ledger knew them just before it:
    as ``stored`` (read in the batch's transaction), then as the batch's earlier sign-ins
    of the same member left them."""
    known = dict(stored)
    before: list[LastSignIn | None] = []
    for sign_in in sign_ins:
        key = (sign_in.spot_id, sign_in.sub)
        last = known.get(key)
        before.append(last)
        first_seen = sign_in.when if last is None else last.first_seen
        known[key] = LastSignIn(sign_in.email, sign_in.host_email, first_seen)
    return before


def merged(sign_ins: list[SignIn]) -> list[dict[str, Any]]:
    """One row per member for the upsert, in the order of ``keys_of``: what the newest
    sign-in sent, the first sign-in's time as ``first_seen`` and the count of sign-ins as
    ``logins`` (a batch may hold the same member twice; the upsert adds ``logins`` to the
    stored count)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for sign_in in sign_ins:
        key = (sign_in.spot_id, sign_in.sub)
        earlier = rows.get(key)
        row = {
            "spot_id": sign_in.spot_id,
            "sub": sign_in.sub,
            "email": sign_in.email,
            "host_email": sign_in.host_email,
            "first_seen": sign_in.when,
            "last_seen": sign_in.when,
            "logins": 1,
            "groups_join": sign_in.groups_join,
            "groups_leave": sign_in.groups_leave,
            "custom_properties": sign_in.custom_properties,
            "domains_set": sign_in.domains_set,
            "domains_unset": sign_in.domains_unset,
        }
        if earlier is not None:
            row["first_seen"] = min(earlier["first_seen"], sign_in.when)
            row["last_seen"] = max(earlier["last_seen"], sign_in.when)
            row["logins"] = earlier["logins"] + 1
        rows[key] = row
    return [rows[key] for key in sorted(rows)]
