"""``ledger``: a migrated, empty ledger on a real SQLite file and on the machine's real
PostgreSQL (``ledger_url``: its URL); every test using it runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.ledger.store import Ledger
from tests.support.databases import emptied_ledger, postgres_database, sqlite_url

__all__ = ["postgres_database"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new SQLite file, or the session's PostgreSQL database, migrated and emptied."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = str(request.getfixturevalue("postgres_database"))
    await emptied_ledger(url)
    return url


@pytest.fixture
async def ledger(ledger_url: str) -> AsyncIterator[Ledger]:
    store = Ledger(ledger_url, timeout=5.0)
    try:
        yield store
    finally:
        await store.aclose()
