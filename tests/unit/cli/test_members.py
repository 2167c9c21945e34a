"""``spot-sso migrate`` and ``members``: what they refuse before opening any database, and
how they name one. Against real databases: tests/integration/cli/test_members.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli.members import database_name, utc
from service.ledger.store import Ledger
from tests.support.cli import run
from tests.support.config import write_config

LEDGER_OFF = "spot-sso: invalid configuration: the member ledger is off (ledger.enabled = false)\n"
COMMANDS = [
    ["migrate"],
    ["members", "list"],
    ["members", "list", "--json"],
    ["members", "show", "u-ada"],
    ["members", "forget", "u-ada", "--json"],
]


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def config(tmp_path: Path, **changes: object) -> str:
    return str(write_config(tmp_path / "spot-sso.toml", **changes))


@pytest.mark.parametrize("command", COMMANDS)
def test_the_ledger_off_is_a_configuration_problem(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # The tests' configuration turns the ledger off.
    assert run(capsys, *command, "--config", config(tmp_path)) == (2, "", LEDGER_OFF)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_url_the_ledger_cannot_use(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    on = config(tmp_path, ledger={"enabled": True}, database_url="sqlite:///:memory:")
    assert run(capsys, *command, "--config", on) == (
        2,
        "",
        "spot-sso: invalid configuration: database_url (SPOT_SSO_DATABASE_URL): SQLite "
        "needs a file (sqlite:///path/ledger.sqlite3), not memory\n",
    )


@pytest.mark.parametrize(
    "command",
    [
        ["members", "list", "--spot", "nope"],
        ["members", "show", "u-ada", "--spot", "nope"],
        ["members", "forget", "u-ada", "--spot", "nope"],
    ],
)
def test_an_unknown_spot_is_refused_before_the_database_is_opened(
    tmp_path: Path, ledger_dir: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    on = config(tmp_path, ledger={"enabled": True}, data_dir=str(ledger_dir))
    assert run(capsys, *command, "--config", on) == (
        2,
        "",
        "spot-sso: unknown-spot: No Spot is configured with the alias or Spot ID 'nope'.\n",
    )
    assert not ledger_dir.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["members", "list", "--limit", "0"], "argument --limit: 0 is not between 1 and 1000"),
        (["members", "list", "--limit", "1001"], "1001 is not between 1 and 1000"),
        (["members", "list", "--limit", "ten"], "'ten' is not a whole number"),
        (["members"], "the following arguments are required: ACTION"),
        (["members", "show"], "the following arguments are required: SUB"),
        (["members", "forget"], "the following arguments are required: SUB"),
        (["members", "purge"], "invalid choice: 'purge'"),
    ],
)
def test_usage_problems(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(capsys, *argv)
    assert exited.value.code == 2
    _, err = capsys.readouterr()
    assert message in err


def test_forget_says_a_member_back_is_recorded_again(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "members", "forget", "--help")
    out, _ = capsys.readouterr()
    assert "A member who signs in again is recorded again." in " ".join(out.split())


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("postgresql://sso:hunter2@db.example:5432/spot_sso", "db.example:5432/spot_sso"),
        ("postgres://sso:hunter2@db.example/spot_sso", "db.example/spot_sso"),
        ("postgresql://sso:hunter2@[::1]:6432/spot_sso", "[::1]:6432/spot_sso"),
        ("postgresql:///spot_sso", "spot_sso"),
        ("sqlite:////var/lib/spot-sso/ledger.sqlite3", "/var/lib/spot-sso/ledger.sqlite3"),
    ],
)
def test_a_database_is_named_without_its_user_or_password(url: str, name: str) -> None:
    assert database_name(Ledger(url)) == name


def test_a_relative_sqlite_file_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ledger = Ledger("sqlite:///data/ledger.sqlite3")
    assert database_name(ledger) == str(tmp_path.resolve() / "data" / "ledger.sqlite3")


def test_times_are_utc() -> None:
    assert utc(1_796_011_920) == "2026-11-30 04:12:00"
    assert utc(1_796_011_920, iso=True) == "2026-11-30T04:12:00Z"
