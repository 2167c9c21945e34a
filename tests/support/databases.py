"""The ledger's databases in tests: a SQLite file, and a PostgreSQL database of the test
session's own on the machine's server (127.0.0.1:5432, database ``test``, trust auth),
created at the first use and dropped at the end.

Without PostgreSQL its tests are skipped, saying why; ``REQUIRE_POSTGRES=1`` (CI) makes
that a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
ADMIN_DATABASE = "test"
CONNECT_SECONDS = 3.0


def _admin(statement: str) -> None:
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(
            host=POSTGRES_HOST,
            port=POSTGRES_PORT,
            user="postgres",
            database=ADMIN_DATABASE,
            timeout=CONNECT_SECONDS,
        )
        try:
            await connection.execute(statement, timeout=30)
        finally:
            await connection.close(timeout=CONNECT_SECONDS)

    # In a thread of its own: the first test to ask may be running an event loop already.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards (skips, or fails
    under ``REQUIRE_POSTGRES``, when the server does not answer)."""
    name = f"spot_sso_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except (OSError, TimeoutError) as exc:  # asyncpg's connection errors are OSErrors
        reason = f"PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT} is not answering ({exc!r})"
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(f"{reason}; REQUIRE_POSTGRES is set")
        pytest.skip(reason)
    try:
        yield f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a PostgreSQL database of this session's own."""
    with new_postgres_database() as url:
        yield url


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'ledger.sqlite3'}"


async def emptied_ledger(url: str) -> None:
    """The ledger at ``url`` migrated and without members (a session's PostgreSQL
    database is shared by its tests)."""
    from sqlalchemy import delete

    from service.ledger.store import Ledger
    from service.ledger.tables import members

    store = Ledger(url, timeout=5.0)
    try:
        await store.migrate()
        async with store.engine.begin() as connection:
            await connection.execute(delete(members))
    finally:
        await store.aclose()
