"""What a new user sees when ``check-config`` or ``serve`` refuses a configuration: the
placeholder key from the deployment guide, a guessable API key, a typo."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run
from tests.support.config import write_config

PLACEHOLDER = (
    "  spots.main.private_key (SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY or "
    "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE): looks like a placeholder, not the Spot's real "
    "key: paste the private key from the Spot's SSO settings (MeltingSpot → Spot settings → "
    "SSO)\n"
)


def refusal(*lines: str) -> str:
    return "spot-sso: invalid configuration:\n" + "".join(f"  {line}\n" for line in lines)


@pytest.fixture(params=["check-config", "serve"])
def command(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each command; ``serve`` fails the test instead of serving what it should refuse."""
    monkeypatch.setattr("service.cli.server.run_uvicorn", _must_not_serve)
    name: str = request.param
    return name


def _must_not_serve(*_: object) -> int:
    raise AssertionError("spot-sso serve accepted the configuration and would serve")


def refused(capsys: pytest.CaptureFixture[str], command: str, path: Path) -> str:
    status, out, err = run(capsys, command, "--config", str(path))
    assert (status, out) == (2, "")
    return err


def test_the_deployment_guides_placeholder_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """docs/deployment.md: ``printf '%s' 'THE-SPOT-PRIVATE-KEY' > secrets/spot_private_key``."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "spot_private_key").write_text("THE-SPOT-PRIVATE-KEY")
    for allow_short_key in (False, True):
        spot = {
            "private_key": None,
            "private_key_file": "secrets/spot_private_key",
            "allow_short_key": allow_short_key,
        }
        path = write_config(tmp_path / "spot-sso.toml", spots={"main": spot})
        assert refused(capsys, command, path) == "spot-sso: invalid configuration:\n" + PLACEHOLDER


def test_a_guessable_api_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    digest = hashlib.sha256(b"password").hexdigest()
    path = write_config(tmp_path / "spot-sso.toml", clients={"billing": {"key_sha256": digest}})
    err = refused(capsys, command, path)
    assert err.startswith(
        "spot-sso: invalid configuration:\n"
        "  clients.billing.key_sha256 (SPOT_SSO_CLIENTS__BILLING__KEY_SHA256): "
    )
    assert "generate a key with `spot-sso keygen`" in err


def test_keygen_output_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "keygen")
    assert status == 0
    digest = out.split("key_sha256 = ", 1)[1].strip()
    path = write_config(tmp_path / "spot-sso.toml", clients={"billing": {"key_sha256": digest}})
    status, _, err = run(capsys, "check-config", "--offline", "--config", str(path))
    assert status == 0, err


@pytest.mark.parametrize(
    ("spot", "lines"),
    [
        (
            {"token_ttl_secs": 30},
            ["spots.main: unknown setting `token_ttl_secs`; did you mean `token_ttl_seconds`?"],
        ),
        (
            {"private_key": None, "privat_key_file": "key.txt"},
            [
                "spots.main: unknown setting `privat_key_file`; did you mean `private_key_file`?",
                "spots.main.private_key (SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY or "
                "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE): missing; copy it from the Spot's SSO "
                "settings in MeltingSpot",
            ],
        ),
    ],
)
def test_a_typo_in_the_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    spot: dict[str, Any],
    lines: list[str],
) -> None:
    path = write_config(tmp_path / "spot-sso.toml", spots={"main": spot})
    assert refused(capsys, command, path) == refusal(*lines)


def test_a_typo_in_the_environment(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    monkeypatch.setenv("SPOT_SSO_SPOTS__MAIN__TOKEN_TTL_SECS", "30")
    path = write_config(tmp_path / "spot-sso.toml")
    assert refused(capsys, command, path) == refusal(
        "environment: unknown setting `SPOT_SSO_SPOTS__MAIN__TOKEN_TTL_SECS`; "
        "did you mean `SPOT_SSO_SPOTS__MAIN__TOKEN_TTL_SECONDS`?"
    )


def test_an_unreadable_key_file_names_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    spot = {"private_key": None, "private_key_file": "secrets/spot_private_key"}
    path = write_config(tmp_path / "spot-sso.toml", spots={"main": spot})
    assert refused(capsys, command, path) == refusal(
        "spots.main (SPOT_SSO_SPOTS__MAIN): private_key_file: cannot read "
        f"{tmp_path / 'secrets' / 'spot_private_key'} (No such file or directory)"
    )
