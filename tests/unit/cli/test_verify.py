"""spot-sso verify: messages in the user's words, --spot when it is needed, exit statuses.

Exit 0 for a valid token, 1 for an invalid or expired one, 2 for the configuration and
the command line.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.cli import run
from tests.support.config import write_config
from tests.support.settings import MAIN_KEY, OTHER_ID, OTHER_KEY

OTHER_SPOT = {"other": {"id": OTHER_ID, "private_key": OTHER_KEY}}


@pytest.fixture
def config(tmp_path: Path) -> str:
    """One Spot, ``main``."""
    return str(write_config(tmp_path / "spot-sso.toml"))


def token(key: str = MAIN_KEY, *, age: int = 0, ttl: int = 60, **claims: Any) -> str:
    issued = int(time.time()) - age
    payload = {"sub": "u-1", "iat": issued, "exp": issued + ttl, **claims}
    return jwt.encode(payload, key, algorithm="HS256")


def test_a_malformed_token_says_what_is_wrong(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "verify", "--config", config, "--spot", "main", "eyJhbGc.e30")
    assert (status, out) == (1, "")
    assert err == (
        "spot-sso: invalid token for Spot 'main': the token is not three dot-separated parts "
        "(header.payload.signature): it has 2\n"
    )


def test_a_part_that_is_not_base64url_is_named(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    header, payload, signature = token().split(".")
    mangled = f"{header}.{payload[:5]}*{payload[5:]}.{signature}"
    status, _, err = run(capsys, "verify", "--config", config, mangled)
    assert status == 1
    assert "the payload is not valid base64url (it contains '*')" in err
    assert payload not in err and signature not in err


def test_an_expired_token_says_when_and_how_long_ago(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    expired = token(age=252, ttl=60)  # expired 192 s ago
    exp = jwt.decode(expired, options={"verify_signature": False})["exp"]
    when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, out, err = run(capsys, "verify", "--config", config, "--spot", "main", expired)
    assert (status, out) == (1, "")
    assert re.fullmatch(
        rf"spot-sso: invalid token for Spot 'main': the token expired at {when} "
        r"\(3 min 1[23] s ago\)\n",
        err,
    )


def test_spot_is_optional_with_one_spot(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "verify", "--config", config, token())
    assert status == 0, err
    assert '"sub": "u-1"' in out
    status, _, err = run(capsys, "verify", "--config", config, token(OTHER_KEY))
    assert status == 1 and "for Spot 'main'" in err


def test_with_several_spots_a_missing_spot_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "two.toml", spots=OTHER_SPOT))
    status, out, err = run(capsys, "verify", "--config", config, token())
    assert (status, out) == (2, "")
    assert "--spot: 2 Spots are configured; name one: main, other" in err
    status, _, _ = run(capsys, "verify", "--config", config, "--spot", "other", token(OTHER_KEY))
    assert status == 0


@pytest.mark.parametrize("command", ["mint", "explain"])
def test_mint_and_explain_take_the_only_spot_too(
    tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    status, out, err = run(capsys, command, "--config", config, "--user-id", "u-1")
    assert status == 0, err
    assert out
    config = str(write_config(tmp_path / "two.toml", spots=OTHER_SPOT))
    status, _, err = run(capsys, command, "--config", config, "--user-id", "u-1")
    assert status == 2 and "name one: main, other" in err


def test_without_any_spot_verify_is_a_configuration_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "none.toml", spots=None, clients=None))
    status, _, err = run(capsys, "verify", "--config", config, token())
    assert status == 2 and "no Spot is configured" in err


def test_exit_statuses(tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(write_config(tmp_path / "bad.toml", spots={"main": {"private_key": "changeme"}}))
    cases = [
        (["--config", config, token()], 0),
        (["--config", config, token(OTHER_KEY)], 1),
        (["--config", config, token(age=120)], 1),
        (["--config", config, "garbage"], 1),
        (["--config", config, "--leeway", "120", token(age=120)], 0),
        (["--config", bad, token()], 2),
        (["--config", config, "--spot", "nope", token()], 2),
    ]
    assert [run(capsys, "verify", *argv)[0] for argv, _ in cases] == [s for _, s in cases]


@pytest.mark.parametrize("leeway", ["-1", "soon"])
def test_a_bad_leeway_is_a_usage_error(
    config: str, capsys: pytest.CaptureFixture[str], leeway: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        run(capsys, "verify", "--config", config, "--spot", "main", "--leeway", leeway, token())
    assert exc.value.code == 2
    assert "--leeway" in capsys.readouterr().err
