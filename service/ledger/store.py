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
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, delete, event, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.ledger.hot import EnginePath, SignInPath, SqlitePath
from service.ledger.records import (
    LIST_LIMIT,
    LastSignIn,
    LedgerError,
    LedgerSkipped,
    MemberRecord,
    SignIn,
)
from service.ledger.tables import members

MIGRATIONS: Final = Path(__file__).resolve().parent / "migrations"
COOLDOWN_SECONDS: Final = 5.0
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
        # A sign-in's read and upsert, batched; SQLite's through sqlite3 (hot.py).
        self._path: SignInPath = (
            EnginePath(self.engine, postgresql.insert, timeout)
            if self.dialect == "postgresql"
            else SqlitePath(self.url.database or "", timeout)
        )
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
        query = select(members).where(members.c.spot_id == spot_id, members.c.sub == sub)
        rows = await self._guard(lambda: self._rows(query))
        return rows[0] if rows else None

    async def last_sign_in(self, spot_id: str, sub: str) -> LastSignIn | None:
        """What a sign-in needs of the member ``sub`` of Spot ``spot_id`` (the emails, the
        first sign-in), or None if never signed in: the read of every sign-in, fast."""
        return await self._guard(lambda: self._path.last_sign_in((spot_id, sub)), deadline=False)

    async def record(self, sign_in: SignIn) -> LastSignIn | None:
        """Remember ``sign_in``: a new member, or one more login of a known one. The
        member as the ledger knew them just before (None: a new member)."""
        return await self._guard(lambda: self._path.record(sign_in), deadline=False)

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
        """Finish the batches under way, then close the connections."""
        try:
            await self._path.aclose()
        finally:
            await self.engine.dispose()

    async def _guard(self, call: Callable[[], Awaitable[T]], *, deadline: bool = True) -> T:
        """``call``, with the breaker, and its errors as ``LedgerError``; bounded by
        ``timeout`` unless the call bounds its own waits (``deadline=False``: a sign-in's
        calls, whose paths put a deadline on each batch and each wait for a thread, and
        none on SQLite's statements that never wait)."""
        if time.monotonic() < self._broken_until:
            raise LedgerSkipped("skipped: the database failed less than 5 s ago")
        try:
            if not deadline:
                return await call()
            async with asyncio.timeout(self.timeout):
                return await call()
        except TimeoutError:
            self._broken_until = time.monotonic() + COOLDOWN_SECONDS
            raise LedgerError(f"no answer within {self.timeout:g} s") from None
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            self._broken_until = time.monotonic() + COOLDOWN_SECONDS
            raise LedgerError(_reason(exc)) from None

    async def _rows(
        self, query: Any, params: Mapping[str, Any] | None = None
    ) -> list[MemberRecord]:
        async with self.engine.connect() as connection:
            result = await connection.execute(query, params)
            return [_record(row._mapping) for row in result]

    async def _execute(self, statement: Any, params: Mapping[str, Any] | None = None) -> int:
        async with self.engine.begin() as connection:
            result = await connection.execute(statement, params)
            return int(result.rowcount or 0)


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


def _record(row: Mapping[Any, Any]) -> MemberRecord:
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
