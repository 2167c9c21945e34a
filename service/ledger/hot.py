"""The two calls of every sign-in: what the ledger knows of the member (``last_sign_in``)
and the sign-in recorded (``record``, which answers what it knew just before).

Both go in batches: the sign-ins that arrive while one batch is written go together in
the next, in one transaction, so a database's fixed costs (a round trip, a commit) are
paid once per batch. ``record`` reads the batch's members inside its own transaction,
before the upsert: a Spot whose ``email_change`` is ``follow`` needs no read before the
token (the email sent does not depend on it), and the change it reports is the one the
database saw, whatever the other workers and replicas wrote meanwhile.

``EnginePath`` runs them through SQLAlchemy's async engine (PostgreSQL through asyncpg).
``SqlitePath`` runs SQLite's through the standard library's ``sqlite3`` on the event
loop, with the SQL that SQLAlchemy compiles from the same statements: through SQLAlchemy
and aiosqlite, a read cost 480 µs of CPU and an upsert 700 µs (four thread hops and
SQLAlchemy's execution path each), against about 10 and 40 µs for the statements
themselves, and 400 µs for a whole ``POST /tokens`` without the ledger (docs/members.md).
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import JSON, bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from service.ledger.batches import Batches
from service.ledger.records import (
    Key,
    LastSignIn,
    SignIn,
    before_each,
    keys_of,
    merged,
)
from service.ledger.tables import members

In = TypeVar("In")
Out = TypeVar("Out")

CLOSE_SECONDS: Final = 5.0
CHECKPOINT_EVERY: Final = 200  # SQLite: commits on the event loop between two checkpoints

_LAST_COLUMNS: Final = (members.c.email, members.c.host_email, members.c.first_seen)
# What a sign-in needs of one member, by primary key; of a batch's members (PostgreSQL).
_LAST: Final = select(*_LAST_COLUMNS).where(
    members.c.spot_id == bindparam("spot_id"), members.c.sub == bindparam("sub")
)
_LASTS: Final = (
    select(members.c.spot_id, members.c.sub, *_LAST_COLUMNS)
    .where(
        members.c.spot_id == bindparam("spot_id"),
        members.c.sub.in_(bindparam("subs", expanding=True)),
    )
    .order_by(members.c.sub)
)
_KEPT: Final = ("spot_id", "sub", "first_seen", "logins")  # set by the first sign-in


def upsert(insert_of: Any) -> Any:
    """A sign-in recorded: inserted, or the member's row updated (``logins`` added)."""
    insert = insert_of(members)
    changed = {c.name: insert.excluded[c.name] for c in members.columns if c.name not in _KEPT}
    return insert.on_conflict_do_update(
        index_elements=[members.c.spot_id, members.c.sub],
        set_={**changed, "logins": members.c.logins + insert.excluded.logins},
    )


class SignInPath(Protocol):
    async def last_sign_in(self, key: Key) -> LastSignIn | None: ...

    async def record(self, sign_in: SignIn) -> LastSignIn | None: ...

    async def aclose(self) -> None: ...


class EnginePath:
    """Through SQLAlchemy's async engine, in batches: one statement per Spot of a batch
    for the reads; for the writes, in one transaction, the batch's members read and
    locked (``FOR UPDATE``, in key order, so two replicas never deadlock), then one
    ``executemany`` of the upsert (in the same order)."""

    def __init__(self, engine: AsyncEngine, insert_of: Any, timeout: float) -> None:
        self.engine = engine
        self._upsert = upsert(insert_of)  # built once: building it cost more than running it
        self._reads: Batches[Key, LastSignIn | None] = Batches(self._read, deadline=timeout)
        self._writes: Batches[SignIn, LastSignIn | None] = Batches(self._write, deadline=timeout)

    async def last_sign_in(self, key: Key) -> LastSignIn | None:
        return await self._reads.call(key)

    async def record(self, sign_in: SignIn) -> LastSignIn | None:
        return await self._writes.call(sign_in)

    async def _read(self, keys: list[Key]) -> list[LastSignIn | None]:
        async with self.engine.connect() as connection:
            found = await _lasts(connection, keys, lock=False)
        return [found.get(key) for key in keys]

    async def _write(self, sign_ins: list[SignIn]) -> list[LastSignIn | None]:
        async with self.engine.begin() as connection:
            stored = await _lasts(connection, keys_of(sign_ins), lock=True)
            await connection.execute(self._upsert, merged(sign_ins))
        return before_each(sign_ins, stored)

    async def aclose(self) -> None:
        await self._reads.aclose()
        await self._writes.aclose()


async def _lasts(connection: Any, keys: list[Key], *, lock: bool) -> dict[Key, LastSignIn]:
    subs: defaultdict[str, list[str]] = defaultdict(list)
    for spot_id, sub in sorted(set(keys)):
        subs[spot_id].append(sub)
    found: dict[Key, LastSignIn] = {}
    for spot_id in sorted(subs):
        query = _LASTS.with_for_update() if lock else _LASTS
        result = await connection.execute(query, {"spot_id": spot_id, "subs": subs[spot_id]})
        for row in result:
            found[row.spot_id, row.sub] = LastSignIn(row.email, row.host_email, row.first_seen)
    return found


class SqlitePath:
    """Through ``sqlite3``, on the event loop: a read by primary key takes about 10 µs
    and a batch's transaction about 40 plus a few per sign-in, where a hop to a thread
    and back costs the loop 25 to 45 µs and, in a busy worker, the GIL handed back and
    forth. The loop's connection never waits (busy timeout 0) and never runs a
    checkpoint (the disk's fsync): a read or a write that finds the database locked by
    another worker goes to a thread of its own, whose connection waits up to
    ``timeout``; every ``CHECKPOINT_EVERY`` commits that thread copies the WAL into the
    database. The file must exist (the migrations create it): a missing file is an
    error, never a new empty database."""

    def __init__(self, database: str, timeout: float) -> None:
        self._database = database
        self._timeout = timeout
        self._loop_db: sqlite3.Connection | None = None  # the event loop's
        self._thread_db: sqlite3.Connection | None = None  # the thread's
        self._thread = _Thread("ledger-sqlite")
        self._writes: Batches[SignIn, LastSignIn | None] = Batches(self._write)
        self._commits = 0
        self._checkpoint: asyncio.Future[None] | None = None
        self._last, self._last_order = _compiled(_LAST)
        self._upsert, self._upsert_order = _compiled(upsert(sqlite.insert))

    async def last_sign_in(self, key: Key) -> LastSignIn | None:
        try:
            return self._read(self._loop_connection(), key)
        except sqlite3.OperationalError as exc:
            if not _locked(exc):
                raise
        async with asyncio.timeout(self._timeout):
            return await self._thread.run(self._read_waiting, key)

    async def record(self, sign_in: SignIn) -> LastSignIn | None:
        return await self._writes.call(sign_in)

    def _read_waiting(self, key: Key) -> LastSignIn | None:
        return self._read(self._thread_connection(), key)

    def _read(self, connection: sqlite3.Connection, key: Key) -> LastSignIn | None:
        params = {"spot_id": key[0], "sub": key[1]}
        cursor = connection.execute(self._last, [params[name] for name in self._last_order])
        rows = cursor.fetchall()  # to the end: the read transaction ends with the statement
        return LastSignIn(*rows[0]) if rows else None

    async def _write(self, sign_ins: list[SignIn]) -> list[LastSignIn | None]:
        try:
            before = self._write_now(self._loop_connection(), sign_ins)
        except sqlite3.OperationalError as exc:
            if not _locked(exc):
                raise
            async with asyncio.timeout(self._timeout):
                before = await self._thread.run(self._write_waiting, sign_ins)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and self._checkpoint is None:
            self._checkpoint = asyncio.ensure_future(self._thread.run(self._copy_wal, None))
            self._checkpoint.add_done_callback(self._checkpointed)
        return before

    def _write_now(
        self, connection: sqlite3.Connection, sign_ins: list[SignIn]
    ) -> list[LastSignIn | None]:
        """One transaction: the batch's members read, then the upsert."""
        rows = [[row[name] for name in self._upsert_order] for row in map(_json, merged(sign_ins))]
        connection.execute("BEGIN IMMEDIATE")  # the write lock first: what is read stays so
        try:
            stored = {
                key: last for key in keys_of(sign_ins) if (last := self._read(connection, key))
            }
            connection.executemany(self._upsert, rows)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return before_each(sign_ins, stored)

    def _write_waiting(self, sign_ins: list[SignIn]) -> list[LastSignIn | None]:
        return self._write_now(self._thread_connection(), sign_ins)

    def _copy_wal(self, _: None) -> None:
        # PASSIVE: copies what no reader still needs, and never waits for anyone.
        self._thread_connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        # A checkpoint that failed is tried again after the next CHECKPOINT_EVERY commits
        # (SQLite keeps the WAL consistent meanwhile; only its file grows).
        self._checkpoint = None
        if not done.cancelled():
            done.exception()  # retrieved: a failed checkpoint is not a crash

    def _loop_connection(self) -> sqlite3.Connection:
        if self._loop_db is None:
            self._loop_db = self._connect(busy_seconds=0.0)
            self._loop_db.execute("PRAGMA wal_autocheckpoint=0")
        return self._loop_db

    def _thread_connection(self) -> sqlite3.Connection:
        if self._thread_db is None:
            # Its wait for a lock ends before the caller's deadline: the statement fails
            # rather than goes on unseen.
            self._thread_db = self._connect(busy_seconds=self._timeout * 0.8)
        return self._thread_db

    def _connect(self, *, busy_seconds: float) -> sqlite3.Connection:
        if not Path(self._database).is_file():
            raise sqlite3.OperationalError(
                f"no database file {self._database} (spot-sso migrate creates it)"
            )
        connection = sqlite3.connect(
            f"file:{self._database}?mode=rw",
            uri=True,
            timeout=busy_seconds,
            isolation_level=None,  # transactions are begun and ended explicitly
        )
        connection.execute("PRAGMA synchronous=NORMAL")  # as the engine's (store.py)
        return connection

    async def aclose(self) -> None:
        await self._writes.aclose()
        if self._loop_db is not None:
            self._loop_db.close()
            self._loop_db = None
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self._thread.run(self._close_thread_connection, None)
        except TimeoutError:
            pass  # a statement still stuck: the thread ends with it
        finally:
            self._thread.stop()

    def _close_thread_connection(self, _: None) -> None:
        if self._thread_db is not None:
            self._thread_db.close()
            self._thread_db = None


def _locked(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` says another connection holds the lock (worth waiting for)."""
    code = getattr(exc, "sqlite_errorcode", None)  # absent from errors raised here
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Thread:
    """One daemon thread running functions for the event loop: a queue in, a callback
    out (half the loop's time of ``run_in_executor``, which wraps two futures)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[tuple[Callable[[Any], Any], Any, _Waiter] | None]
        self._calls = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, function: Callable[[In], Out], argument: In) -> Out:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._calls.put((function, argument, (loop, future)))
        return await future

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            function, argument, (loop, future) = call
            try:
                result = function(argument)
            except BaseException as exc:  # handed to the caller, whatever it is
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

    def stop(self) -> None:
        if self._thread is not None:
            self._calls.put(None)
            self._thread = None


_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # its caller stopped waiting
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _compiled(statement: Any) -> tuple[str, tuple[str, ...]]:
    """SQLAlchemy's SQL for ``statement`` in SQLite, and its parameters' names in order."""
    compiled = statement.compile(dialect=sqlite.dialect())
    return str(compiled), tuple(compiled.positiontup or ())


def _json(row: dict[str, Any]) -> dict[str, Any]:
    # The JSON columns as SQLAlchemy's JSON type stores them in SQLite (json.dumps).
    return {name: json.dumps(value) if name in _JSON else value for name, value in row.items()}


_JSON: Final = frozenset(c.name for c in members.columns if isinstance(c.type, JSON))
