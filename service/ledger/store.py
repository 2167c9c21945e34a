"""The member ledger: what spot-sso last told MeltingSpot about each member, per Spot.

SQLAlchemy 2 (async): SQLite through aiosqlite by default, PostgreSQL through asyncpg when
``database_url`` says so; the schema comes from Alembic migrations
(``service/ledger/migrations``). Every call has a deadline (``timeout_seconds``). Any
failure is a ``LedgerError``; after one, calls fail at once for ``COOLDOWN_SECONDS``, so a
database that is down costs a sign-in nothing (the caller fails open). Errors name the
driver's reason, never a statement or its parameters (they hold personal data).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, bindparam, delete, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.contract.claims import SpotClaims
from service.ledger.tables import members

MIGRATIONS: Final = Path(__file__).resolve().parent / "migrations"
COOLDOWN_SECONDS: Final = 5.0
LIST_LIMIT: Final = 50
# pg_advisory_xact_lock key: one migration at a time, whatever the number of replicas.
MIGRATION_LOCK: Final = 0x5B07_550D
_DRIVERS: Final = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}

T = TypeVar("T")
# Alembic narrates each step at info; the Runtime says in one line what changed.
logging.getLogger("alembic").setLevel(logging.WARNING)
# Alembic's context is global to the process: one migration at a time in it.
_MIGRATING = threading.Lock()


class LedgerError(Exception):
    """The ledger's database failed, or did not answer in time."""


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


def database_url(url: str) -> URL:
    """``url`` with the async driver spot-sso uses: ``sqlite:///x`` becomes
    ``sqlite+aiosqlite:///x``, ``postgres(ql)://`` becomes ``postgresql+asyncpg://``.

    A ``ValueError`` for anything else (the message never repeats the URL: it may hold
    a password).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError("not a database URL (sqlite:///path or postgresql://…)") from None
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(f"{backend!r} is not supported: use sqlite:/// or postgresql://")
    if parsed.drivername not in (backend, _DRIVERS[backend]):
        raise ValueError(f"use {backend}:// without a driver, or {_DRIVERS[backend]}://")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        # One shared connection would mix concurrent sign-ins' transactions (and lose
        # rows); and a ledger that forgets at each restart protects nobody.
        raise ValueError("SQLite needs a file (sqlite:///path/ledger.sqlite3), not memory")
    return parsed.set(drivername=_DRIVERS[backend])


class Ledger:
    """The ledger at ``url`` (see ``database_url``); ``timeout`` bounds every call."""

    def __init__(self, url: str, *, timeout: float = 1.0) -> None:
        self.url = database_url(url)
        self.dialect = self.url.get_backend_name()
        self.timeout = timeout
        self.engine = _engine(self.url, timeout)
        # Built once: each sign-in only binds its values (building the statement cost
        # more than running it).
        self._upsert = _upsert(postgresql.insert if self.dialect == "postgresql" else sqlite.insert)
        self._broken_until = 0.0

    async def migrate(self) -> tuple[str | None, str | None]:
        """Bring the schema to the newest migration (a new SQLite file and its folder are
        created): the revisions before and after. Not bounded by ``timeout``: it runs at
        start-up or from the CLI."""
        await asyncio.to_thread(_MIGRATING.acquire)
        try:
            with self._file_lock():
                async with self.engine.begin() as connection:
                    return await connection.run_sync(_upgrade)
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerError(f"migration failed: {_reason(exc)}") from None
        except CommandError as exc:  # e.g. a revision a newer spot-sso wrote
            raise LedgerError(f"migration failed: {exc}") from None
        finally:
            _MIGRATING.release()

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """For a SQLite file: its folder created, and a lock that makes the processes
        sharing it (workers) migrate one after the other. PostgreSQL locks in the database."""
        if self.dialect != "sqlite" or not self.url.database:
            yield
            return
        path = Path(self.url.database)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (path.parent / f"{path.name}.migrating").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # held for the whole (short) migration
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    async def revision(self) -> str | None:
        """The schema's migration, None when the database was never migrated (a SQLite
        file that does not exist is left so, not created)."""
        if self.dialect == "sqlite" and not await self._sqlite_file_exists():
            return None

        async def read() -> str | None:
            async with self.engine.connect() as connection:
                return await connection.run_sync(_revision)

        return await self._guard(read)

    @staticmethod
    def head() -> str | None:
        """The newest migration this version knows."""
        return ScriptDirectory(str(MIGRATIONS)).get_current_head()

    async def member(self, spot_id: str, sub: str) -> MemberRecord | None:
        """The member ``sub`` of Spot ``spot_id``, or None if never signed in."""
        params = {"spot_id": spot_id, "sub": sub}
        rows = await self._guard(lambda: self._rows(_MEMBER, params))
        return rows[0] if rows else None

    async def record(self, sign_in: SignIn) -> None:
        """Remember ``sign_in``: a new member, or one more login of a known one."""
        values = {
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
        await self._guard(lambda: self._execute(self._upsert, values))

    async def members(
        self,
        spot_id: str | None = None,
        *,
        sub: str | None = None,
        email: str | None = None,
        limit: int = LIST_LIMIT,
    ) -> list[MemberRecord]:
        """The most recent sign-ins first, filtered by Spot, ``sub`` and email (exact,
        any case; the email sent or the host's)."""
        query = select(members).order_by(members.c.last_seen.desc()).limit(limit)
        if spot_id is not None:
            query = query.where(members.c.spot_id == spot_id)
        if sub is not None:
            query = query.where(members.c.sub == sub)
        if email is not None:
            wanted = email.lower()
            query = query.where(
                (func.lower(members.c.email) == wanted)
                | (func.lower(members.c.host_email) == wanted)
            )
        return await self._guard(lambda: self._rows(query))

    async def forget(self, sub: str, spot_id: str | None = None) -> int:
        """Erase the member ``sub`` (on one Spot, or on all): how many rows went."""
        statement = delete(members).where(members.c.sub == sub)
        if spot_id is not None:
            statement = statement.where(members.c.spot_id == spot_id)
        return await self._guard(lambda: self._execute(statement))

    async def purge(self, before: int) -> int:
        """Erase every member not signed in since ``before`` (Unix seconds): the count."""
        statement = delete(members).where(members.c.last_seen < before)
        return await self._guard(lambda: self._execute(statement))

    async def ping(self) -> None:
        """One round trip, whatever happened before: for readiness. A SQLite file not
        there yet is left so (``migrate`` creates it), not created empty."""
        self._broken_until = 0.0
        if self.dialect == "sqlite" and not await self._sqlite_file_exists():
            return
        await self._guard(lambda: self._execute(text("SELECT 1")))

    async def _sqlite_file_exists(self) -> bool:
        return await asyncio.to_thread(Path(self.url.database or "").is_file)

    @staticmethod
    def known(revision: str) -> bool:
        """Whether ``revision`` is one of this version's migrations."""
        try:
            return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
        except CommandError:  # a revision it cannot place: a newer version's
            return False

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def _guard(self, call: Callable[[], Awaitable[T]]) -> T:
        if time.monotonic() < self._broken_until:
            raise LedgerError("skipped: the database failed less than 5 s ago")
        try:
            async with asyncio.timeout(self.timeout):
                return await call()
        except TimeoutError:
            self._broken_until = time.monotonic() + COOLDOWN_SECONDS
            raise LedgerError(f"no answer within {self.timeout:g} s") from None
        except (SQLAlchemyError, OSError) as exc:
            self._broken_until = time.monotonic() + COOLDOWN_SECONDS
            raise LedgerError(_reason(exc)) from None

    async def _rows(
        self, query: Any, params: Mapping[str, Any] | None = None
    ) -> list[MemberRecord]:
        async with self.engine.connect() as connection:
            result = await connection.execute(query, params)
            return [_record(dict(row._mapping)) for row in result]

    async def _execute(self, statement: Any, params: Mapping[str, Any] | None = None) -> int:
        async with self.engine.begin() as connection:
            result = await connection.execute(statement, params)
            return int(result.rowcount or 0)


# The statements of a sign-in, with bound parameters: the read, and the upsert.
_MEMBER: Final = select(members).where(
    members.c.spot_id == bindparam("spot_id"), members.c.sub == bindparam("sub")
)
_KEPT: Final = ("spot_id", "sub", "first_seen", "logins")  # set by the first sign-in


def _upsert(insert_of: Callable[[Any], Any]) -> Any:
    insert = insert_of(members)
    changed = {c.name: insert.excluded[c.name] for c in members.columns if c.name not in _KEPT}
    return insert.on_conflict_do_update(
        index_elements=[members.c.spot_id, members.c.sub],
        set_={**changed, "logins": members.c.logins + 1},
    )


def _engine(url: URL, timeout: float) -> AsyncEngine:
    if url.get_backend_name() == "postgresql":
        return create_async_engine(
            url,
            pool_size=5,
            max_overflow=5,
            pool_timeout=timeout,
            pool_recycle=1800,
            connect_args={"timeout": timeout, "command_timeout": timeout},
        )
    engine = create_async_engine(url, connect_args={"timeout": timeout})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(connection: Any, _: Any) -> None:
        # WAL: readers never wait for the writer; NORMAL: no fsync per commit (WAL keeps
        # the file consistent); several workers share one file, each waiting its turn.
        cursor = connection.cursor()
        busy = f"busy_timeout={timeout * 1000:.0f}"
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", busy):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


def _upgrade(connection: Connection) -> tuple[str | None, str | None]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    return before, MigrationContext.configure(connection).get_current_revision()


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _record(row: Mapping[str, Any]) -> MemberRecord:
    return MemberRecord(**{name: row[name] for name in MemberRecord.__dataclass_fields__})


def _reason(exc: BaseException) -> str:
    """The driver's words for ``exc``: never SQLAlchemy's text, which quotes the
    statement and its parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause: BaseException = exc.orig
    elif isinstance(exc, SQLAlchemyError):
        return type(exc).__name__
    else:
        cause = exc
    words = " ".join(str(cause).split())[:200]
    return f"{type(cause).__name__}: {words}" if words else type(cause).__name__


def rows_as_dicts(records: Sequence[MemberRecord]) -> list[dict[str, Any]]:
    return [record.as_dict() for record in records]
