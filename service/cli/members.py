"""``spot-sso migrate`` and ``spot-sso members list|show|forget``: the member ledger.

Each command opens the ledger the configuration names (``database_url``, or the SQLite
file in ``data_dir``), does one thing and closes it. Only ``migrate`` changes the schema;
the others refuse a database never migrated. Exit 1 when the database fails or holds no
such member, 2 when the ledger is off or the configuration or usage is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from service.cli.common import EXIT_CONFIG, EXIT_INVALID, err, settings_of
from service.errors import UnknownSpot
from service.ledger.records import LedgerError, MemberRecord
from service.ledger.store import Ledger
from service.settings.model import Settings, env_name

LEDGER_OFF: Final = "the member ledger is off (ledger.enabled = false)"
NOT_MIGRATED: Final = "the database has no ledger yet: run spot-sso migrate"
NO_MEMBERS: Final = "no member signed in yet"
LIST_MAX: Final = 1000
# An administrator's query may scan the whole table: it gets longer than a sign-in's
# deadline (ledger.timeout_seconds, at most 30 s itself).
TIMEOUT_SECONDS: Final = 10.0
COLUMNS: Final = ("spot", "sub", "email", "last sign-in", "logins", "first seen")
RIGHT_ALIGNED: Final = frozenset({"logins"})

Work = Callable[[Ledger], Awaitable[int]]


def cmd_migrate(args: argparse.Namespace) -> int:
    async def migrate(ledger: Ledger) -> int:
        before, after = await ledger.migrate()
        where = f"ledger: {ledger.dialect} database {database_name(ledger)}"
        if before == after:
            print(f"{where} already at {after}")
        else:
            print(f"{where} migrated from {before or 'nothing'} to {after}")
        return 0

    return _with_ledger(settings_of(args), migrate, migrated=False)


def cmd_members_list(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    spot_id = spot_id_of(settings, args.spot)

    async def listing(ledger: Ledger) -> int:
        records = await ledger.members(spot_id, sub=args.sub, email=args.email, limit=args.limit)
        _print(args, settings, records, lambda: table(settings, records) if records else NO_MEMBERS)
        return 0

    return _with_ledger(settings, listing)


def cmd_members_show(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    spot_id = spot_id_of(settings, args.spot)

    async def show(ledger: Ledger) -> int:
        records = await ledger.members(spot_id, sub=args.sub, limit=LIST_MAX)
        if not records:
            return _no_such_member(args)
        _print(args, settings, records, lambda: "\n\n".join(details(settings, r) for r in records))
        return 0

    return _with_ledger(settings, show)


def cmd_members_forget(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    spot_id = spot_id_of(settings, args.spot)

    async def forget(ledger: Ledger) -> int:
        forgotten = await ledger.forget(args.sub, spot_id)
        if not forgotten:
            return _no_such_member(args)
        if args.json:
            print(json.dumps({"sub": args.sub, "forgotten": forgotten}))
        else:
            print(f"forgot {_shown(args.sub)} on {forgotten} Spot{'' if forgotten == 1 else 's'}")
        return 0

    return _with_ledger(settings, forget)


def _print(
    args: argparse.Namespace,
    settings: Settings,
    records: list[MemberRecord],
    text: Callable[[], str],
) -> None:
    """The records as JSON with ``--json``, else as ``text`` says."""
    print(_json([as_json(settings, record) for record in records]) if args.json else text())


def _no_such_member(args: argparse.Namespace) -> int:
    where = "" if args.spot is None else f" on Spot {args.spot!r}"
    err(f"no such member: the ledger has no member {args.sub!r}{where}")
    return EXIT_INVALID


def _with_ledger(settings: Settings, work: Work, *, migrated: bool = True) -> int:
    """``work`` done on the configured ledger, opened and closed in one event loop; with
    ``migrated``, only once the database is known to hold the ledger's schema."""
    url = settings.ledger_url()
    if url is None:
        err(f"invalid configuration: {LEDGER_OFF}")
        return EXIT_CONFIG
    try:
        ledger = Ledger(url, timeout=TIMEOUT_SECONDS)
    except ValueError as exc:  # its words never repeat the URL
        err(f"invalid configuration: database_url ({env_name('database_url')}): {exc}")
        return EXIT_CONFIG

    async def main() -> int:
        try:
            if migrated and await ledger.revision() is None:
                raise LedgerError(NOT_MIGRATED)
            return await work(ledger)
        finally:
            await ledger.aclose()

    try:
        return asyncio.run(main())
    except LedgerError as exc:
        err(f"ledger unavailable: {exc}")
        return EXIT_INVALID


def spot_id_of(settings: Settings, ref: str | None) -> str | None:
    """The Spot ID ``--spot`` names by alias or Spot ID; None (every Spot) without it."""
    if ref is None:
        return None
    if ref in settings.spots:
        return settings.spots[ref].id
    found = settings.spot_by_id(ref)
    if found is None:
        raise UnknownSpot(f"No Spot is configured with the alias or Spot ID {ref!r}.")
    return found[1].id


def database_name(ledger: Ledger) -> str:
    """Where the ledger is, never with whom: a SQLite file's path, or PostgreSQL's host,
    port and database (no user, no password)."""
    url = ledger.url
    if ledger.dialect == "sqlite":
        return str(Path(url.database or "").resolve())
    host = f"[{url.host}]" if url.host and ":" in url.host else url.host
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database or ''}" if host else url.database or ""


def alias_of(settings: Settings, spot_id: str) -> str | None:
    found = settings.spot_by_id(spot_id)
    return found[0] if found else None


def table(settings: Settings, records: list[MemberRecord]) -> str:
    """The records as a table: a header line, then one line per member, columns aligned."""
    rows: list[tuple[str, ...]] = [COLUMNS, *(_row(settings, record) for record in records)]
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    return "\n".join(_line(row, widths) for row in rows)


def _row(settings: Settings, record: MemberRecord) -> tuple[str, ...]:
    cells = (
        alias_of(settings, record.spot_id) or record.spot_id,
        record.sub,
        record.email,
        utc(record.last_seen),
        str(record.logins),
        utc(record.first_seen),
    )
    return tuple(_shown(cell) for cell in cells)


def _line(row: tuple[str, ...], widths: list[int]) -> str:
    cells = (
        cell.rjust(width) if name in RIGHT_ALIGNED else cell.ljust(width)
        for name, cell, width in zip(COLUMNS, row, widths, strict=True)
    )
    return "  ".join(cells).rstrip()


def details(settings: Settings, record: MemberRecord) -> str:
    """One member's record on one Spot, as ``field: value`` lines."""
    fields: list[tuple[str, object]] = [
        ("spot", alias_of(settings, record.spot_id) or record.spot_id),
        ("spot ID", record.spot_id),
        ("sub", record.sub),
        ("email", record.email),
    ]
    if record.host_email != record.email:  # email_change = keep-first
        fields.append(("host email", record.host_email))
    fields += [
        ("first seen", utc(record.first_seen)),
        ("last sign-in", utc(record.last_seen)),
        ("logins", record.logins),
        ("groups join", record.groups_join),
        ("groups leave", record.groups_leave),
        ("custom properties", record.custom_properties),
        ("domains set", record.domains_set),
        ("domains unset", record.domains_unset),
    ]
    return "\n".join(f"{name}: {_shown(_text(value))}" for name, value in fields)


def as_json(settings: Settings, record: MemberRecord) -> dict[str, Any]:
    """One member's record on one Spot with the JSON output's keys; ``spot`` is null
    for a Spot no longer configured."""
    return {
        "spot": alias_of(settings, record.spot_id),
        "spotId": record.spot_id,
        "sub": record.sub,
        "email": record.email,
        "hostEmail": record.host_email,
        "firstSeen": utc(record.first_seen, iso=True),
        "lastSeen": utc(record.last_seen, iso=True),
        "logins": record.logins,
        "groupsJoin": record.groups_join,
        "groupsLeave": record.groups_leave,
        "customProperties": record.custom_properties,
        "domainsSet": record.domains_set,
        "domainsUnset": record.domains_unset,
    }


def utc(seconds: int, *, iso: bool = False) -> str:
    """Unix ``seconds`` in UTC: ``2026-11-30 04:12:00``, or ``2026-11-30T04:12:00Z``."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ" if iso else "%Y-%m-%d %H:%M:%S")


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _shown(text: str) -> str:
    """``text`` safe for a terminal: what is not printable (escape sequences) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _json(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
