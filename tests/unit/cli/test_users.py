"""spot-sso mint and explain: what each failure says, and its exit status.

Exit 2 is for the configuration and the command line only; a user the identity source
does not know, does not let in or cannot describe, and an identity source that does not
answer, exit 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run
from tests.support.config import ADA, write_config

FAILING = "tests.support.adapters:FailingAdapter"
BAD_EMAIL = {**ADA, "id": "u-bad", "email": "not-an-email"}
STAFF_ONLY = {"spots": {"main": {"require_groups": ["staff"]}}}


def config_with(tmp_path: Path, **changes: Any) -> str:
    identity = {"static": {"users": [ADA, BAD_EMAIL]}}
    return str(write_config(tmp_path / "spot-sso.toml", {"identity": identity}, **changes))


def failing(mode: str) -> dict[str, Any]:
    """The ``identity`` table of an adapter whose every lookup fails with ``mode``."""
    return {"adapter": FAILING, "static": None, "options": {"mode": mode}}


CASES = {
    "unknown-user": (
        {},
        ["--user-id", "u-nobody"],
        "spot-sso: no such user: the identity source knows no user 'u-nobody'\n",
    ),
    "identity-down": (
        {"identity": failing("down")},
        ["--user-id", "u-1"],
        "spot-sso: identity source unavailable: host.example: connection refused\n",
    ),
    "identity-garbage": (
        {"identity": failing("garbage")},
        ["--user-id", "u-1"],
        "spot-sso: the identity source answered badly: host.example: answered 500\n",
    ),
    "host-denies": (
        {"identity": failing("denied")},
        ["--user-id", "u-1"],
        "spot-sso: user not allowed: This user's plan does not include the community.\n",
    ),
    "unusable-profile": ({}, ["--user-id", "u-bad"], "spot-sso: unusable profile: "),
}


@pytest.mark.parametrize(("changes", "args", "message"), CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("command", ["mint", "explain"])
def test_a_user_or_identity_failure_exits_1(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    changes: dict[str, Any],
    args: list[str],
    message: str,
) -> None:
    config = config_with(tmp_path, **changes)
    status, out, err = run(capsys, command, "--config", config, "--spot", "main", *args)
    assert (status, out) == (1, "")
    assert err.startswith(message)
    assert "invalid configuration" not in err


def test_an_unusable_profile_names_each_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_with(tmp_path)
    status, _, err = run(capsys, "mint", "--config", config, "--spot", "main", "--user-id", "u-bad")
    assert status == 1
    assert "\n  /email: " in err


def test_a_user_the_access_rule_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_with(tmp_path, **STAFF_ONLY)
    argv = ["--config", config, "--spot", "main", "--user-id", "u-1"]
    status, out, err = run(capsys, "mint", *argv)
    assert (status, out) == (1, "")
    assert err.startswith("spot-sso: user not allowed: Spot 'main' admits members of staff only")
    status, out, _ = run(capsys, "explain", *argv)
    assert status == 1 and "DENIED" in out


@pytest.mark.parametrize("command", ["mint", "explain"])
def test_configuration_problems_still_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    config = config_with(tmp_path, spots={"main": {"private_key": "changeme"}})
    status, _, err = run(capsys, command, "--config", config, "--spot", "main", "--user-id", "u-1")
    assert status == 2 and "invalid configuration" in err
    config = config_with(tmp_path)
    status, _, err = run(capsys, command, "--config", config, "--spot", "nope", "--user-id", "u-1")
    assert status == 2 and "unknown-spot" in err


OIDC = {
    "adapter": "oidc",
    "static": None,
    "oidc": {
        "issuer": "https://idp.example",
        "client_id": "sso",
        "client_secret": "oidc-secret-9f3Kq2ZpX7mV4nB8cR1tY6uW",
    },
}
CLAIMS = '{"sub": "u-1", "email": "ada@example.com", "given_name": "Ada", "family_name": "L"'


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (CLAIMS + ', "email_verified": false}', "user not allowed: The OpenID provider has not"),
        ('{"sub": "u-1", "email_verified": true}', "unusable profile: the OpenID provider's"),
    ],
    ids=["unverified-email", "no-names"],
)
def test_explain_an_id_tokens_claims_the_provider_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], claims: str, message: str
) -> None:
    config = config_with(tmp_path, identity=OIDC)
    (tmp_path / "claims.json").write_text(claims)
    argv = ["--config", config, "--profile", str(tmp_path / "claims.json")]
    status, out, err = run(capsys, "explain", *argv)
    assert (status, out) == (1, "")
    assert err.startswith(f"spot-sso: {message}")
