"""The member ledgers the bench's spot-sso servers write, and what they recorded.

Every spot-sso server gets a ledger of its own: none (``off``), a SQLite file in the run's
temporary folder (``sqlite``, production's default), or a PostgreSQL database of the run's
own on the machine's server (``postgres``: 127.0.0.1:5432, user ``postgres``, trust auth),
created before the server starts and dropped after it stops (every statement bounded in
time; ``Postgres.drop_all`` runs from the bench's ``finally``).

spot-sso fails open: a ledger that times out or errs is skipped for 5 s, which makes the
server faster, not slower. So the bench counts the sign-ins each ledger recorded (the sum
of ``logins``) around every scenario, and the report compares them with the tokens answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

HOST: Final = "127.0.0.1"
PORT: Final = 5432
USER: Final = "postgres"
ADMIN_DATABASE: Final = "test"  # where CREATE and DROP DATABASE run from
CONNECT_SECONDS: Final = 3.0
STATEMENT_SECONDS: Final = 30.0
# service/settings/ledger.py's LEDGER_FILE: service/ is imported only from the run's copy.
LEDGER_FILE: Final = "ledger.sqlite3"
SIGN_INS: Final = "SELECT count(*), coalesce(sum(logins), 0) FROM members"

Kind = Literal["off", "sqlite", "postgres"]
T = TypeVar("T")


@dataclass(frozen=True)
class BenchLedger:
    """One server's ledger: off, the SQLite file in ``data_dir``, or the database at ``url``."""

    kind: Kind
    data_dir: Path
    url: str | None = None  # PostgreSQL's

    def sign_ins(self) -> int | None:
        """Sign-ins recorded so far (every member's logins); None when the ledger is off;
        0 before the schema exists."""
        if self.kind == "off":
            return None
        if self.kind == "postgres":
            assert self.url is not None
            return _run(_postgres_sign_ins(self.url))
        path = self.data_dir / LEDGER_FILE
        if not path.is_file():
            return 0
        with contextlib.closing(sqlite3.connect(path, timeout=STATEMENT_SECONDS)) as connection:
            try:
                return int(connection.execute(SIGN_INS).fetchone()[1])
            except sqlite3.OperationalError:  # no table yet
                return 0


class Postgres:
    """The run's own databases on 127.0.0.1:5432: ``bench_<pid>_<n>``, one per server."""

    def __init__(self) -> None:
        self.prefix = f"bench_{os.getpid()}"
        self.created: list[str] = []
        self._numbers = itertools.count()  # servers may start in threads (--quick)

    def unavailable(self) -> str | None:
        """Why the bench cannot use PostgreSQL, or None when it can."""
        try:
            _run(_admin("SELECT 1"))
        except (OSError, TimeoutError, ImportError) as exc:  # asyncpg's connect errors are OSErrors
            return f"PostgreSQL on {HOST}:{PORT} (user {USER}) is not answering ({exc!r})"
        except Exception as exc:
            return f"PostgreSQL on {HOST}:{PORT} refused the bench ({exc!r})"
        return None

    def create(self) -> str:
        """A new, empty database: its URL (spot-sso's migrations make the schema)."""
        name = f"{self.prefix}_{next(self._numbers)}"
        self.created.append(name)  # before: a CREATE that times out may still have run
        _run(_admin(f'CREATE DATABASE "{name}"'))
        return f"postgresql://{USER}@{HOST}:{PORT}/{name}"

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> list[str]:
        """Drop every database still there; the problems met (the run goes on)."""
        problems = []
        for name in list(self.created):
            try:
                self.drop(f"/{name}")
            except Exception as exc:
                problems.append(f"{name}: {exc!r}")
        return problems


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    # The bench's threads run no event loop between their runs: one of its own, bounded.
    return asyncio.run(asyncio.wait_for(coroutine, STATEMENT_SECONDS + CONNECT_SECONDS))


async def _admin(statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(
        host=HOST, port=PORT, user=USER, database=ADMIN_DATABASE, timeout=CONNECT_SECONDS
    )
    try:
        await connection.execute(statement, timeout=STATEMENT_SECONDS)
    finally:
        await connection.close(timeout=CONNECT_SECONDS)


async def _postgres_sign_ins(url: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=CONNECT_SECONDS)
    try:
        try:
            row = await connection.fetchrow(SIGN_INS, timeout=STATEMENT_SECONDS)
        except asyncpg.UndefinedTableError:
            return 0
        return int(row[1])
    finally:
        await connection.close(timeout=CONNECT_SECONDS)
