"""``spot-sso check-config``: exit 0 only when ``serve`` would start, ``--offline`` too;
stdout the configuration, stderr the command's own lines and formatted log lines only."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from service.identity.base import AdapterBase, SessionContext, UserProfile
from tests.support.cli import run
from tests.support.config import ADA, write_config, write_users

GRACE = {"id": "u-2", "email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper"}
OIDC = {"issuer": "https://id.invalid", "client_id": "spot-sso", "client_secret": "oidc-s3cret"}
# What serve checks before it listens, check-config checks too, with or without --offline.
COMMANDS = (("check-config", "--offline"), ("check-config",), ("serve", "--port", "1"))


class Chatty(AdapterBase):
    """A host's adapter that logs a warning as it is built, through its own logger."""

    def __init__(self) -> None:
        logging.getLogger("chatty_adapter").warning("chatty: no cache configured")

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        return None

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        return None


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` returns 0 where it would start uvicorn."""
    monkeypatch.setattr("service.cli.server.run_uvicorn", lambda *_: 0)


def outcome(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], config: Path
) -> tuple[int, str]:
    status, _, err = run(capsys, *argv, "--config", str(config))
    return status, "" if status == 0 else err


def run_unconfigured(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``run``, the root logger without handlers (not even pytest's), as in a ``spot-sso``
    process: a record nobody formats goes to Python's last resort, bare on stderr."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    root.handlers[:] = []
    try:
        return run(capsys, *argv)
    finally:
        root.handlers[:] = handlers


def not_spot_sso_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("spot-sso: ")]


# --- bug: --offline passed what serve refuses --------------------------------------------


@pytest.mark.parametrize(
    ("identity", "users", "problem"),
    [
        pytest.param(
            {"adapter": "nosuch.mod:Thing"},
            None,
            "identity.adapter: cannot import 'nosuch.mod:Thing' (No module named 'nosuch')",
            id="adapter-not-importable",
        ),
        pytest.param(
            {"adapter": "tests.support.adapters:NoSuchClass"},
            None,
            "identity.adapter: cannot import 'tests.support.adapters:NoSuchClass' (module "
            "'tests.support.adapters' has no attribute 'NoSuchClass')",
            id="adapter-class-missing",
        ),
        pytest.param(
            {"adapter": "tests.support.adapters:FailingAdapter", "options": {"mode": "nope"}},
            None,
            "identity.options: tests.support.adapters:FailingAdapter refused them "
            "(ValueError: unknown mode 'nope')",
            id="adapter-refuses-options",
        ),
        pytest.param(
            {"adapter": "tests.support.adapters:Incomplete"},
            None,
            "identity.adapter: tests.support.adapters:Incomplete lacks resolve_session",
            id="adapter-incomplete",
        ),
        pytest.param(
            {},
            {**GRACE, "nickname": "amazing"},
            "users.toml: users[0].nickname: Extra inputs are not permitted",
            id="users-file-unknown-key",
        ),
        pytest.param(
            {},
            {**GRACE, "email": 42},
            "users.toml: users[0].email: Input should be a valid string",
            id="users-file-bad-email",
        ),
        pytest.param(
            {},
            {key: value for key, value in GRACE.items() if key != "last_name"},
            "users.toml: users[0].last_name: Field required",
            id="users-file-field-missing",
        ),
        pytest.param(
            {},
            ADA,
            "identity.static: duplicate user ids u-1",
            id="users-file-id-inline-too",
        ),
        pytest.param(
            {"static": {"users_file": "missing.toml"}},
            None,
            "missing.toml: cannot read it (No such file or directory)",
            id="users-file-missing",
        ),
    ],
)
def test_offline_refuses_what_serve_refuses(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_serving: None,
    identity: dict[str, Any],
    users: dict[str, Any] | None,
    problem: str,
) -> None:
    if users is not None:
        identity = {"static": {"users_file": str(write_users(tmp_path / "users.toml", users))}}
    config = write_config(tmp_path / "spot-sso.toml", identity=identity)
    refusals = {outcome(capsys, argv, config) for argv in COMMANDS}
    assert len(refusals) == 1, refusals  # the same status and stderr, word for word
    status, err = refusals.pop()
    assert status == 2
    assert err.startswith("spot-sso: invalid configuration:\n  ")
    assert problem in err


def test_the_adapter_given_in_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs: ``SPOT_SSO_IDENTITY__ADAPTER=nosuch.mod:Thing spot-sso check-config --offline``."""
    monkeypatch.setenv("SPOT_SSO_IDENTITY__ADAPTER", "nosuch.mod:Thing")
    config = write_config(tmp_path / "spot-sso.toml")
    status, out, err = run(capsys, "check-config", "--config", str(config), "--offline")
    assert (status, out) == (2, "")
    assert err == (
        "spot-sso: invalid configuration:\n"
        "  identity.adapter: cannot import 'nosuch.mod:Thing' (No module named 'nosuch')\n"
    )


@pytest.mark.parametrize(
    "identity",
    [
        pytest.param(
            {"adapter": "tests.support.adapters:FailingAdapter", "options": {"mode": "down"}},
            id="adapter-down",
        ),
        pytest.param({"adapter": "oidc", "static": None, "oidc": OIDC}, id="oidc-unreachable"),
    ],
)
def test_offline_calls_nobody(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], identity: dict[str, Any]
) -> None:
    """The adapter is built, its source never asked: a source down does not matter."""
    config = write_config(tmp_path / "spot-sso.toml", identity=identity)
    status, out, err = run(capsys, "check-config", "--config", str(config), "--offline")
    assert status == 0, err
    assert json.loads(out)["identity"]["adapter"] == identity["adapter"]
    assert err == "spot-sso: readiness: not checked (--offline)\n"


# --- bug: bare log records on stderr -----------------------------------------------------


def test_redis_down_is_said_once_by_the_readiness_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Redis's own warning ("redis unavailable, readyz degraded") is what the readiness
    line says: not printed again, and never as bare text."""
    config = write_config(tmp_path / "spot-sso.toml", redis_url=f"unix://{tmp_path}/no.sock")
    status, out, err = run_unconfigured(capsys, "check-config", "--config", str(config))
    assert status == 0, err
    assert json.loads(out)["redis_url"] == "**********"
    assert not_spot_sso_lines(err) == []
    assert "spot-sso: readiness: shared_state: not ok (readyz: ConnectionError: " in err
    assert logging.getLogger("spot_sso").level == logging.NOTSET  # put back after the checks


@pytest.mark.parametrize("offline", [True, False], ids=["offline", "online"])
def test_other_records_are_log_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], offline: bool
) -> None:
    """A record outside the readiness checks (here a host adapter's, as it is built) is
    a log line in the configured format, on stderr; stdout stays the configuration."""
    config = write_config(tmp_path / "spot-sso.toml", identity={"adapter": f"{__name__}:Chatty"})
    argv = ["check-config", "--config", str(config)] + (["--offline"] if offline else [])
    status, out, err = run_unconfigured(capsys, *argv)
    assert status == 0, err
    assert json.loads(out)["identity"]["adapter"] == f"{__name__}:Chatty"
    lines = not_spot_sso_lines(err)
    assert len(lines) == 1, err
    record = json.loads(lines[0])
    assert record["level"] == "warning"
    assert record["logger"] == "chatty_adapter"
    assert record["message"] == "chatty: no cache configured"
