"""``spot-sso migrate`` and ``spot-sso members list|show|forget``, called in process,
against a real ledger: a SQLite file and the machine's PostgreSQL, every test on both.

The PostgreSQL URLs carry a password (the test server trusts, and ignores it): no output
of any command may show it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from service.ledger.records import SignIn
from service.ledger.store import MIGRATIONS, Ledger
from tests.support.cli import run
from tests.support.config import write_config
from tests.support.databases import (
    emptied_ledger,
    new_postgres_database,
    postgres_database,
    sqlite_url,
)
from tests.support.hosts import free_port
from tests.support.settings import MAIN_ID, OTHER_ID, OTHER_KEY

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()  # the newest migration

__all__ = ["postgres_database"]

PASSWORD = "pw-never-shown-7f3a"
GONE_ID = "0b5e2d8a-1c3f-4e5a-9b7c-6d5e4f3a2b1c"  # a Spot no longer configured
T0 = 1_796_011_920  # 2026-11-30 04:12:00 UTC
HOUR, DAY = 3600, 86_400
NOT_MIGRATED = (
    "spot-sso: ledger unavailable: the database has no ledger yet: run spot-sso migrate\n"
)
LEDGER_ON = {
    "ledger": {"enabled": True},
    "spots": {"other": {"id": OTHER_ID, "private_key": OTHER_KEY}},
}


def sign_in(
    spot_id: str, sub: str, when: int, email: str, host_email: str | None = None, **more: object
) -> SignIn:
    return SignIn(spot_id, sub, email, host_email or email, when, **more)  # type: ignore[arg-type]


# u-bob on a Spot no longer configured, u-ada on two Spots (twice on main; under
# keep-first on other: the host now gives another email), u-cy on main.
MEMBERS = (
    sign_in(MAIN_ID, "u-ada", T0 - DAY, "ada@example.com"),
    sign_in(
        MAIN_ID,
        "u-ada",
        T0,
        "ada@example.com",
        groups_join=["staff"],
        custom_properties={"job": "Analyst"},
        domains_set={"default": "https://app.example.com/"},
    ),
    sign_in(OTHER_ID, "u-ada", T0 - HOUR, "ada@other.example", "Ada@New.example"),
    sign_in(MAIN_ID, "u-cy", T0 - 600, "cy@example.com", groups_leave=["beta"]),
    sign_in(GONE_ID, "u-bob", T0 + 60, "bob@example.com", domains_unset=["old"]),
)

TABLE = """\
spot                                  sub    email              last sign-in         logins  first seen
0b5e2d8a-1c3f-4e5a-9b7c-6d5e4f3a2b1c  u-bob  bob@example.com    2026-11-30 04:13:00       1  2026-11-30 04:13:00
main                                  u-ada  ada@example.com    2026-11-30 04:12:00       2  2026-11-29 04:12:00
main                                  u-cy   cy@example.com     2026-11-30 04:02:00       1  2026-11-30 04:02:00
other                                 u-ada  ada@other.example  2026-11-30 03:12:00       1  2026-11-30 03:12:00
"""  # noqa: E501

ADA_SHOWN = """\
spot: main
spot ID: 129487c9-6acc-43d9-ab96-182ded763538
sub: u-ada
email: ada@example.com
first seen: 2026-11-29 04:12:00
last sign-in: 2026-11-30 04:12:00
logins: 2
groups join: ["staff"]
groups leave: []
custom properties: {"job": "Analyst"}
domains set: {"default": "https://app.example.com/"}
domains unset: []

spot: other
spot ID: 5f0c6a34-2b7e-4d0a-9d51-0a8b7c6d5e4f
sub: u-ada
email: ada@other.example
host email: Ada@New.example
first seen: 2026-11-30 03:12:00
last sign-in: 2026-11-30 03:12:00
logins: 1
groups join: []
groups leave: []
custom properties: {}
domains set: {}
domains unset: []
"""


def spot_sso(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``spot-sso *argv``, checked never to show the database's password."""
    status, out, err = run(capsys, *argv)
    assert PASSWORD not in out + err
    return status, out, err


def with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


async def _recorded(url: str, *sign_ins: SignIn) -> None:
    ledger = Ledger(url, timeout=5.0)
    try:
        for one in sign_ins:
            await ledger.record(one)
    finally:
        await ledger.aclose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database nobody has migrated: a SQLite file not yet there, or a new PostgreSQL
    database."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path / "new")
    else:
        with new_postgres_database() as url:
            yield with_password(url)


@pytest.fixture
def ledger_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated ledger holding ``MEMBERS``."""
    if backend == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = with_password(str(request.getfixturevalue("postgres_database")))
    asyncio.run(emptied_ledger(url))
    asyncio.run(_recorded(url, *MEMBERS))
    return url


def config_for(tmp_path: Path, url: str) -> str:
    return str(write_config(tmp_path / "spot-sso.toml", LEDGER_ON, database_url=url))


@pytest.fixture
def config(tmp_path: Path, ledger_url: str) -> str:
    return config_for(tmp_path, ledger_url)


# --- migrate ------------------------------------------------------------------------------


def test_migrate_a_new_database_then_again(
    backend: str, new_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(tmp_path, new_url)
    if backend == "sqlite":
        where = f"sqlite database {(tmp_path / 'new' / 'ledger.sqlite3').resolve()}"
    else:
        where = f"postgresql database 127.0.0.1:5432/{new_url.rsplit('/', 1)[1]}"
    assert spot_sso(capsys, "migrate", "--config", config) == (
        0,
        f"ledger: {where} migrated from nothing to {HEAD}\n",
        "",
    )
    assert spot_sso(capsys, "migrate", "--config", config) == (
        0,
        f"ledger: {where} already at {HEAD}\n",
        "",
    )
    assert spot_sso(capsys, "members", "list", "--config", config) == (
        0,
        "no member signed in yet\n",
        "",
    )


def test_migrate_the_demo_ledger_in_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = spot_sso(capsys, "migrate", "--demo")
    path = tmp_path.resolve() / "data" / "ledger.sqlite3"
    assert (status, out, err) == (
        0,
        f"ledger: sqlite database {path} migrated from nothing to {HEAD}\n",
        "",
    )


@pytest.mark.parametrize(
    "command",
    [
        ["members", "list"],
        ["members", "list", "--json"],
        ["members", "show", "u-ada"],
        ["members", "forget", "u-ada", "--json"],
    ],
)
def test_a_database_never_migrated_is_left_alone(
    backend: str,
    new_url: str,
    tmp_path: Path,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_for(tmp_path, new_url)
    assert spot_sso(capsys, *command, "--config", config) == (1, "", NOT_MIGRATED)
    assert not (tmp_path / "new").exists()  # no SQLite file (nor folder) made on the way


# --- members list -------------------------------------------------------------------------


def test_list_shows_the_most_recent_first(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert spot_sso(capsys, "members", "list", "--config", config) == (0, TABLE, "")


def test_list_as_json(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = spot_sso(capsys, "members", "list", "--config", config, "--json")
    assert (status, err) == (0, "")
    listed = json.loads(out)
    assert [(m["spot"], m["sub"]) for m in listed] == [
        (None, "u-bob"),
        ("main", "u-ada"),
        ("main", "u-cy"),
        ("other", "u-ada"),
    ]
    assert listed[1] == {
        "spot": "main",
        "spotId": MAIN_ID,
        "sub": "u-ada",
        "email": "ada@example.com",
        "hostEmail": "ada@example.com",
        "firstSeen": "2026-11-29T04:12:00Z",
        "lastSeen": "2026-11-30T04:12:00Z",
        "logins": 2,
        "groupsJoin": ["staff"],
        "groupsLeave": [],
        "customProperties": {"job": "Analyst"},
        "domainsSet": {"default": "https://app.example.com/"},
        "domainsUnset": [],
    }
    assert (listed[0]["spotId"], listed[0]["domainsUnset"]) == (GONE_ID, ["old"])
    assert (listed[2]["groupsLeave"], listed[3]["hostEmail"]) == (["beta"], "Ada@New.example")


@pytest.mark.parametrize(
    ("options", "subs"),
    [
        (["--limit", "2"], ["u-bob", "u-ada"]),
        (["--limit", "1000"], ["u-bob", "u-ada", "u-cy", "u-ada"]),
        (["--spot", "main"], ["u-ada", "u-cy"]),
        (["--spot", OTHER_ID.upper()], ["u-ada"]),
        (["--sub", "u-ada"], ["u-ada", "u-ada"]),
        (["--spot", "main", "--sub", "u-ada"], ["u-ada"]),
        (["--email", "ADA@Example.COM"], ["u-ada"]),
        (["--email", "ada@new.example"], ["u-ada"]),  # the host's email, under keep-first
        (["--spot", "main", "--limit", "1"], ["u-ada"]),
        (["--spot", "other", "--email", "bob@example.com"], []),
        (["--sub", "u-nobody"], []),
    ],
)
def test_list_filters_and_limits(
    config: str, options: list[str], subs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = spot_sso(capsys, "members", "list", "--config", config, "--json", *options)
    assert status == 0
    assert [member["sub"] for member in json.loads(out)] == subs


def test_list_filtered_as_text(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    email = ["--email", "ada@new.example"]
    assert spot_sso(capsys, "members", "list", "--config", config, *email) == (
        0,
        "spot   sub    email              last sign-in         logins  first seen\n"
        "other  u-ada  ada@other.example  2026-11-30 03:12:00       1  2026-11-30 03:12:00\n",
        "",
    )
    nobody = ["--spot", "other", "--sub", "u-cy"]
    assert spot_sso(capsys, "members", "list", "--config", config, *nobody) == (
        0,
        "no member signed in yet\n",
        "",
    )
    assert spot_sso(capsys, "members", "list", "--config", config, "--json", *nobody) == (
        0,
        "[]\n",
        "",
    )


# --- members show -------------------------------------------------------------------------


def test_show_every_spot_of_a_member(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert spot_sso(capsys, "members", "show", "u-ada", "--config", config) == (
        0,
        ADA_SHOWN,
        "",
    )


def test_show_one_spot_and_a_spot_gone(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = spot_sso(
        capsys, "members", "show", "u-ada", "--config", config, "--spot", OTHER_ID, "--json"
    )
    assert status == 0
    assert [(m["spot"], m["email"], m["hostEmail"]) for m in json.loads(out)] == [
        ("other", "ada@other.example", "Ada@New.example")
    ]
    status, out, _ = spot_sso(capsys, "members", "show", "u-bob", "--config", config)
    assert status == 0
    assert out.splitlines()[:2] == [f"spot: {GONE_ID}", f"spot ID: {GONE_ID}"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["u-x"], "the ledger has no member 'u-x'"),
        (["u-x", "--json"], "the ledger has no member 'u-x'"),
        (["u-cy", "--spot", "other"], "the ledger has no member 'u-cy' on Spot 'other'"),
    ],
)
def test_show_no_such_member(
    config: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert spot_sso(capsys, "members", "show", *argv, "--config", config) == (
        1,
        "",
        f"spot-sso: no such member: {message}\n",
    )


def test_show_escapes_what_a_terminal_would_run(
    config: str, ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = sign_in(MAIN_ID, "u-\x1b[2J", T0, "eve@example.com", custom_properties={"x": "\x9b"})
    asyncio.run(_recorded(ledger_url, hostile))
    status, out, _ = spot_sso(capsys, "members", "show", "u-\x1b[2J", "--config", config)
    assert status == 0
    assert "\x1b" not in out and "\x9b" not in out
    assert "sub: u-\\x1b[2J\n" in out and 'custom properties: {"x": "\\x9b"}\n' in out


# --- members forget -----------------------------------------------------------------------


def test_forget_on_one_spot_then_on_all(
    config: str, ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    forget = ("members", "forget", "u-ada", "--config", config)
    assert spot_sso(capsys, *forget, "--spot", "other") == (0, "forgot u-ada on 1 Spot\n", "")
    assert spot_sso(capsys, *forget, "--spot", "other") == (
        1,
        "",
        "spot-sso: no such member: the ledger has no member 'u-ada' on Spot 'other'\n",
    )
    asyncio.run(_recorded(ledger_url, sign_in(OTHER_ID, "u-ada", T0, "ada@other.example")))
    assert spot_sso(capsys, *forget) == (0, "forgot u-ada on 2 Spots\n", "")
    assert spot_sso(capsys, *forget, "--json") == (
        1,
        "",
        "spot-sso: no such member: the ledger has no member 'u-ada'\n",
    )
    status, out, _ = spot_sso(capsys, "members", "list", "--config", config, "--json")
    assert (status, [member["sub"] for member in json.loads(out)]) == (0, ["u-bob", "u-cy"])


def test_forget_as_json(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert spot_sso(capsys, "members", "forget", "u-ada", "--config", config, "--json") == (
        0,
        '{"sub": "u-ada", "forgotten": 2}\n',
        "",
    )
    assert spot_sso(capsys, "members", "forget", "u-bob", "--config", config, "--json") == (
        0,
        '{"sub": "u-bob", "forgotten": 1}\n',
        "",
    )


# --- a database that is down --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "failure"),
    [
        (["migrate"], "migration failed: "),
        (["members", "list"], ""),
        (["members", "show", "u-ada"], ""),
        (["members", "forget", "u-ada", "--spot", "main"], ""),
    ],
)
def test_a_database_that_is_down(
    tmp_path: Path, command: list[str], failure: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    url = f"postgresql://sso:{PASSWORD}@127.0.0.1:{port}/spot_sso"
    config = config_for(tmp_path, url)
    assert spot_sso(capsys, *command, "--config", config) == (
        1,
        "",
        f"spot-sso: ledger unavailable: {failure}ConnectionRefusedError: "
        f"[Errno 111] Connect call failed ('127.0.0.1', {port})\n",
    )


def test_mint_refused_by_email_change_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user problem, not a configuration one: exit 1, in plain words."""
    url = sqlite_url(tmp_path)
    asyncio.run(emptied_ledger(url))
    old = "ada.old@example.com"
    asyncio.run(_recorded(url, SignIn(MAIN_ID, "u-1", old, old, T0)))
    config = write_config(
        tmp_path / "refuse.toml",
        LEDGER_ON,
        database_url=url,
        spots={"main": {"email_change": "refuse"}},
    )
    argv = ("mint", "--config", str(config), "--spot", "main", "--user-id", "u-1")
    status, out, err = spot_sso(capsys, *argv)
    assert (status, out) == (1, ""), err
    event, refusal = err.splitlines()  # the audit event, then the refusal
    assert '"event":"member.email_changed"' in event and '"mode":"refuse"' in event
    assert refusal.startswith("spot-sso: email change refused: This account's email address")
