"""The ledger's store against real SQLite and PostgreSQL: the same tests on both."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.ledger.records import LastSignIn, LedgerError, SignIn
from service.ledger.store import Ledger, database_url
from service.ledger.tables import metadata
from tests.support.databases import emptied_ledger, new_postgres_database, sqlite_url
from tests.support.hosts import free_port

SPOT = "129487c9-6acc-43d9-ab96-182ded763538"
OTHER = "5f0c6a34-2b7e-4d0a-9d51-0a8b7c6d5e4f"
T0 = 1_796_000_000


def ada(
    when: int = T0, *, spot: str = SPOT, email: str = "ada@example.com", **more: object
) -> SignIn:
    return SignIn(spot_id=spot, sub="u-ada", email=email, host_email=email, when=when, **more)  # type: ignore[arg-type]


async def test_a_first_sign_in_is_remembered(ledger: Ledger) -> None:
    assert await ledger.member(SPOT, "u-ada") is None
    await ledger.record(ada(groups_join=["staff"], custom_properties={"job": "Analyst"}))
    member = await ledger.member(SPOT, "u-ada")
    assert member is not None
    assert (member.email, member.first_seen, member.last_seen, member.logins) == (
        "ada@example.com",
        T0,
        T0,
        1,
    )
    assert member.groups_join == ["staff"] and member.custom_properties == {"job": "Analyst"}
    assert (member.groups_leave, member.domains_set, member.domains_unset) == ([], {}, [])


async def test_each_sign_in_counts_and_replaces_what_was_sent(ledger: Ledger) -> None:
    await ledger.record(ada(groups_join=["staff"]))
    await ledger.record(
        SignIn(
            spot_id=SPOT,
            sub="u-ada",
            email="ada@example.com",
            host_email="ada@new.example",
            when=T0 + 60,
            groups_leave=["staff"],
            domains_set={"default": "https://app.example.com/"},
            domains_unset=["old"],
        )
    )
    member = await ledger.member(SPOT, "u-ada")
    assert member is not None
    assert (member.first_seen, member.last_seen, member.logins) == (T0, T0 + 60, 2)
    assert (member.email, member.host_email) == ("ada@example.com", "ada@new.example")
    assert (member.groups_join, member.groups_leave) == ([], ["staff"])
    assert member.domains_set == {"default": "https://app.example.com/"}
    assert member.domains_unset == ["old"]


async def test_members_are_kept_per_spot(ledger: Ledger) -> None:
    await ledger.record(ada())
    await ledger.record(ada(T0 + 5, spot=OTHER, email="ada@other.example"))
    here, there = await ledger.member(SPOT, "u-ada"), await ledger.member(OTHER, "u-ada")
    assert here is not None and there is not None
    assert (here.email, there.email, here.logins, there.logins) == (
        "ada@example.com",
        "ada@other.example",
        1,
        1,
    )


async def test_sign_ins_at_once_each_count_and_each_reader_gets_its_own_member(
    ledger: Ledger,
) -> None:
    # Concurrent calls share batches: one upsert for many sign-ins (the same member
    # several times among them), one read for many members.
    subs = [f"u-{n}" for n in range(40)]
    await asyncio.gather(
        *(
            ledger.record(SignIn(SPOT, sub, f"{sub}@example.com", f"{sub}@example.com", T0))
            for sub in subs
        ),
        *(ledger.record(ada(T0 + n, email=f"ada{n}@example.com")) for n in range(30)),
    )
    members = await asyncio.gather(*(ledger.member(SPOT, sub) for sub in [*subs, "u-ada"]))
    assert [(m.sub, m.email, m.logins) for m in members if m is not None][:40] == [
        (sub, f"{sub}@example.com", 1) for sub in subs
    ]
    ada_now = members[-1]
    assert ada_now is not None
    assert (ada_now.first_seen, ada_now.last_seen, ada_now.logins) == (T0, T0 + 29, 30)
    assert await asyncio.gather(ledger.member(SPOT, "u-nobody"), ledger.member(OTHER, "u-1")) == [
        None,
        None,
    ]


async def test_a_record_answers_the_member_as_the_ledger_knew_them_before(
    ledger: Ledger,
) -> None:
    assert await ledger.record(ada(T0)) is None  # a new member
    # Three sign-ins at once share a batch: each gets what the one before it left.
    before = await asyncio.gather(
        ledger.record(ada(T0 + 1, email="ada@two.example")),
        ledger.record(ada(T0 + 2, email="ada@three.example")),
        ledger.record(SignIn(SPOT, "u-bob", "bob@example.com", "bob@example.com", T0 + 2)),
    )
    assert before == [
        LastSignIn("ada@example.com", "ada@example.com", T0),
        LastSignIn("ada@two.example", "ada@two.example", T0),
        None,
    ]
    assert await ledger.last_sign_in(SPOT, "u-ada") == LastSignIn(
        "ada@three.example", "ada@three.example", T0
    )
    assert await ledger.last_sign_in(SPOT, "u-nobody") is None


async def test_replicas_writing_the_same_members_at_once_count_every_sign_in(
    ledger_url: str,
) -> None:
    # Two ledgers on one database, each batch holding the same members in another order:
    # the rows are locked in one order, so neither waits for the other forever.
    replicas = [Ledger(ledger_url, timeout=10.0) for _ in range(2)]
    subs = [f"u-{n}" for n in range(12)]
    try:
        await asyncio.gather(
            *(
                replica.record(SignIn(SPOT, sub, "m@example.com", "m@example.com", T0 + round_))
                for round_ in range(5)
                for index, replica in enumerate(replicas)
                for sub in (subs if index == 0 else subs[::-1])
            )
        )
        counted = await replicas[0].members(SPOT, limit=100)
    finally:
        for replica in replicas:
            await replica.aclose()
    assert sorted((m.sub, m.logins) for m in counted) == sorted((sub, 10) for sub in subs)


async def test_members_lists_recent_first_and_filters(ledger: Ledger) -> None:
    for index, sub in enumerate(["u-1", "u-2", "u-3"]):
        await ledger.record(
            SignIn(SPOT, sub, f"{sub}@example.com", f"{sub}@example.com", T0 + index)
        )
    await ledger.record(SignIn(OTHER, "u-9", "u-9@example.com", "U-9@Host.example", T0 + 9))
    assert [m.sub for m in await ledger.members(SPOT)] == ["u-3", "u-2", "u-1"]
    assert [m.sub for m in await ledger.members()] == ["u-9", "u-3", "u-2", "u-1"]
    assert [m.sub for m in await ledger.members(SPOT, limit=2)] == ["u-3", "u-2"]
    assert [m.sub for m in await ledger.members(sub="u-2")] == ["u-2"]
    assert [m.sub for m in await ledger.members(email="U-1@EXAMPLE.com")] == ["u-1"]
    assert [m.sub for m in await ledger.members(email="u-9@host.example")] == ["u-9"]
    assert await ledger.members(SPOT, email="u-9@example.com") == []


async def test_forget_erases_a_member_on_one_spot_or_all(ledger: Ledger) -> None:
    await ledger.record(ada())
    await ledger.record(ada(spot=OTHER))
    await ledger.record(SignIn(SPOT, "u-bob", "bob@example.com", "bob@example.com", T0))
    assert await ledger.forget("u-ada", OTHER) == 1
    assert await ledger.member(OTHER, "u-ada") is None
    assert await ledger.forget("u-ada") == 1
    assert await ledger.forget("u-ada") == 0
    assert [m.sub for m in await ledger.members()] == ["u-bob"]


async def test_purge_erases_members_not_seen_since(ledger: Ledger) -> None:
    await ledger.record(ada(T0))
    await ledger.record(SignIn(SPOT, "u-bob", "bob@example.com", "bob@example.com", T0 + 100))
    assert await ledger.purge(T0 + 50) == 1
    assert [m.sub for m in await ledger.members()] == ["u-bob"]


async def test_migrations_build_exactly_the_tables_of_the_code(ledger: Ledger) -> None:
    def differences(connection: object) -> list[object]:
        context = MigrationContext.configure(connection)  # type: ignore[arg-type]
        return list(compare_metadata(context, metadata))

    await ledger.migrate()  # again: nothing to do
    async with ledger.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_replicas_migrating_a_new_database_at_once_agree(backend: str, tmp_path: Path) -> None:
    """Three processes (replicas, or workers sharing one SQLite file) start at once on a
    database nobody has migrated yet."""
    script = "import asyncio, sys; from service.ledger.store import Ledger; " + (
        "asyncio.run(Ledger(sys.argv[1], timeout=10).migrate())"
    )
    with ExitStack() as stack:
        if backend == "sqlite":
            url = sqlite_url(tmp_path)
        else:
            url = stack.enter_context(new_postgres_database())
        runs = [
            subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        errors = [run.communicate(timeout=60)[1].decode() for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], errors


async def test_errors_name_the_reason_never_the_data(tmp_path: Path) -> None:
    (tmp_path / "empty.sqlite3").touch()  # a database never migrated: no table
    store = Ledger(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with pytest.raises(LedgerError) as caught:
            await store.record(ada(email="secret.person@example.com"))
        assert "no such table: members" in str(caught.value)
        assert "secret.person" not in str(caught.value) and "INSERT" not in str(caught.value)
    finally:
        await store.aclose()


async def test_a_sqlite_file_that_is_not_there_is_named_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    store = Ledger(f"sqlite:///{path}")
    try:
        with pytest.raises(LedgerError, match=f"no database file {path} .spot-sso migrate"):
            await store.last_sign_in(SPOT, "u-ada")
        store._broken_until = 0.0  # the breaker would skip the next call
        with pytest.raises(LedgerError, match=f"no database file {path} .spot-sso migrate"):
            await store.record(ada())
        assert not path.exists()
    finally:
        await store.aclose()


async def test_a_database_that_is_down_fails_fast_then_is_skipped() -> None:
    store = Ledger(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", timeout=2.0)
    try:
        with pytest.raises(LedgerError) as first:
            await store.member(SPOT, "u-ada")
        assert "skipped" not in str(first.value)
        with pytest.raises(LedgerError, match="skipped: the database failed"):
            await store.record(ada())
        with pytest.raises(LedgerError) as probed:  # readiness always tries again
            await store.ping()
        assert "skipped" not in str(probed.value)
    finally:
        await store.aclose()


async def test_a_call_past_its_deadline_fails(tmp_path: Path) -> None:
    store = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", timeout=0.05)
    try:
        with pytest.raises(LedgerError, match=r"no answer within 0.05 s"):
            await store._guard(lambda: asyncio.sleep(1))
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///data/ledger.sqlite3", "sqlite+aiosqlite:///data/ledger.sqlite3"),
        ("sqlite+aiosqlite:////var/lib/x.db", "sqlite+aiosqlite:////var/lib/x.db"),
        ("postgres://u:p@db:5432/sso", "postgresql+asyncpg://u:***@db:5432/sso"),
        ("postgresql://u@db/sso", "postgresql+asyncpg://u@db/sso"),
        ("postgresql+asyncpg://u@db/sso", "postgresql+asyncpg://u@db/sso"),
    ],
)
def test_database_urls_get_the_async_driver(given: str, used: str) -> None:
    assert database_url(given).render_as_string() == used


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("mysql://u:hunter2@db/sso", "'mysql' is not supported"),
        ("postgresql+psycopg2://u:hunter2@db/sso", "use postgresql:// without a driver"),
        ("not a url hunter2", "not a database URL"),
        ("sqlite:///:memory:", "SQLite needs a file"),
        ("sqlite://", "SQLite needs a file"),
    ],
)
def test_other_database_urls_are_refused_without_repeating_them(given: str, said: str) -> None:
    with pytest.raises(ValueError, match=said) as caught:
        database_url(given)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sqlite:///:memory:", "SQLite needs a file"),
        ("postgresql+psycopg2://u:hunter2@db/sso", "use postgresql:// without a driver"),
    ],
)
def test_a_database_url_the_ledger_cannot_use_stops_the_start(url: str, said: str) -> None:
    from service.errors import ConfigError
    from service.runtime.runtime import Runtime
    from tests.support.settings import make_settings

    with pytest.raises(ConfigError) as caught:
        Runtime(make_settings(database_url=url, ledger={"enabled": True}))
    (problem,) = caught.value.problems
    assert problem.startswith("database_url (SPOT_SSO_DATABASE_URL): ") and said in problem
    assert "hunter2" not in problem


async def ledger_readiness(database_url: str, **ledger: object) -> str | None:
    """The ``ledger`` readiness problem of a runtime started on ``database_url``."""
    from service.runtime.runtime import Runtime
    from tests.support.settings import make_settings

    settings = make_settings(database_url=database_url, ledger={"enabled": True, **ledger})
    runtime = Runtime(settings)
    try:
        await runtime.start(maintain=False)
        return (await runtime.readiness(log_changes=False))["ledger"]
    finally:
        await runtime.aclose()


async def test_a_database_a_newer_version_migrated_fails_open(ledger: Ledger) -> None:
    """A rollback: the schema is at a revision this version does not know. Migrating
    says so (no traceback), and readiness names it; sign-ins are not stopped."""
    from sqlalchemy import text

    async with ledger.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(LedgerError, match=r"migration failed: .*9999"):
        await ledger.migrate()
    problem = await ledger_readiness(ledger.url.render_as_string(hide_password=False))
    assert problem == (
        f"{ledger.dialect}: the schema is at 9999, which this version does not know "
        "(a newer spot-sso migrated it)"
    )


async def test_without_migrations_at_start_readiness_says_the_schema_is_missing(
    tmp_path: Path,
) -> None:
    problem = await ledger_readiness(sqlite_url(tmp_path), migrate_on_start=False)
    assert problem == (
        f"sqlite: the schema is at nothing, this version needs {Ledger.head()}: "
        "run spot-sso migrate"
    )
    assert not (tmp_path / "ledger.sqlite3").exists()  # readiness created nothing


async def test_a_sqlite_write_waits_for_another_workers_lock_then_gives_up(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    await emptied_ledger(url)
    store = Ledger(url, timeout=1.0)
    other = sqlite3.connect(database_url(url).database or "", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another worker writing
        release = asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        assert await store.last_sign_in(SPOT, "u-ada") is None  # readers never wait
        assert await store.record(ada()) is None  # waited for the lock, then wrote
        release.cancel()
        member = await store.member(SPOT, "u-ada")
        assert member is not None and member.logins == 1
        other.execute("BEGIN IMMEDIATE")  # held past the timeout: the write gives up
        with pytest.raises(LedgerError, match="OperationalError: database is locked"):
            await store.record(ada(T0 + 1))
        other.execute("COMMIT")
    finally:
        other.close()
        await store.aclose()
