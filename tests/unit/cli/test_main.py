"""The spot-sso command, called in process: mint, verify, keygen, check-config, openapi."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from openapi_spec_validator import validate

from service.cli.main import main
from service.runtime.clients import key_digest
from tests.support.cli import run
from tests.support.config import ADA, write_config
from tests.support.paths import ROOT
from tests.support.settings import MAIN_ID, MAIN_KEY, OTHER_KEY

# The tests' configuration (tests.support.config), Ada speaking Swiss German and tokens
# of up to 600 s.
CLI = {
    "spots": {"main": {"max_token_ttl_seconds": 600}},
    "identity": {"static": {"users": [{**ADA, "locale": "de-CH"}]}},
}


def cli_config(path: Path, **changes: Any) -> Path:
    return write_config(path, CLI, **changes)


@pytest.fixture
def config(tmp_path: Path) -> str:
    return str(cli_config(tmp_path / "spot-sso.toml"))


def test_mint_from_the_adapter_then_verify(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "mint", "--config", config, "--spot", "main", "--user-id", "u-1")
    assert status == 0
    token = out.strip()
    claims = jwt.decode(token, MAIN_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["lang"], claims["exp"] - claims["iat"]) == ("u-1", "de", 60)

    status, out, _ = run(capsys, "verify", "--config", config, "--spot", "main", token)
    assert status == 0
    assert json.loads(out) == claims


def test_mint_from_claims_on_the_command_line(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys,
        "mint",
        "--config",
        config,
        "--spot",
        MAIN_ID,
        "--sub",
        "42",
        "--first-name",
        "Grace",
        "--last-name",
        "Hopper",
        "--email",
        "grace@example.com",
        "--lang",
        "fr-CA",
        "--ttl",
        "600",
    )
    assert status == 0
    claims = jwt.decode(out.strip(), MAIN_KEY, algorithms=["HS256"])
    assert claims["firstName"] == "Grace" and claims["lang"] == "fr"
    assert claims["exp"] - claims["iat"] == 600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sub", "1", "--email", "bad"], "--first-name: Field required"),
        (["--user-id", "u-1", "--sub", "1"], "either --user-id or"),
        (["--user-id", "u-1", "--ttl", "601"], "/ttlSeconds"),
    ],
)
def test_mint_problems(
    config: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status, out, err = run(capsys, "mint", "--config", config, "--spot", "main", *args)
    assert status == 2
    assert out == ""
    assert message in err


def test_mint_unknown_spot(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "mint", "--config", config, "--spot", "nope", "--user-id", "u-1")
    assert status == 2 and "unknown-spot" in err


def test_verify_refuses_another_key(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    now = int(time.time())
    forged = jwt.encode({"sub": "u-1", "iat": now, "exp": now + 60}, OTHER_KEY, algorithm="HS256")
    status, out, err = run(capsys, "verify", "--config", config, "--spot", "main", forged)
    assert status == 1 and out == ""
    assert "signature" in err
    assert forged not in err


def test_verify_refuses_an_expired_token(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "u-1", "iat": now - 120, "exp": now - 60}, MAIN_KEY, algorithm="HS256"
    )
    status, _, err = run(capsys, "verify", "--config", config, "--spot", "main", expired)
    assert status == 1 and "expired" in err
    status, _, _ = run(
        capsys, "verify", "--config", config, "--spot", "main", "--leeway", "120", expired
    )
    assert status == 0


def test_verify_reads_stdin(
    config: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    now = int(time.time())
    token = jwt.encode({"sub": "u-1", "iat": now, "exp": now + 60}, MAIN_KEY, algorithm="HS256")
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    status, out, _ = run(capsys, "verify", "--config", config, "--spot", "main", "-")
    assert status == 0 and json.loads(out)["sub"] == "u-1"


def test_keygen(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "keygen")
    assert status == 0
    values = {
        k.strip(): v.strip() for k, v in (line.split("=", 1) for line in out.strip().splitlines())
    }
    assert values["api_key"].startswith("sso_") and len(values["api_key"]) >= 40
    assert values["key_sha256"] == key_digest(values["api_key"])
    status, out, _ = run(capsys, "keygen", "--json")
    data = json.loads(out)
    assert data["keySha256"] == key_digest(data["apiKey"])
    assert data["apiKey"] != values["api_key"]


def test_check_config_redacts_secrets(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "check-config", "--config", config)
    assert status == 0, err
    effective = json.loads(out)
    assert effective["spots"]["main"]["private_key"] == "**********"
    assert MAIN_KEY not in out + err


def test_check_config_fails_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cli_config(tmp_path / "bad.toml", spots={"main": {"private_key": "changeme"}})
    status, out, err = run(capsys, "check-config", "--config", str(path))
    assert status == 2 and out == ""
    assert "spots.main.private_key" in err and "placeholder" in err


def test_check_config_accepts_demo_keys_with_demo_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from service.demo import DEMO_PRIVATE_KEY

    status, out, err = run(capsys, "check-config", "--demo")
    assert status == 0, err
    assert json.loads(out)["spots"]["demo"]["private_key"] == "**********"
    assert DEMO_PRIVATE_KEY not in out + err


def test_serve_refuses_demo_keys(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from service.demo import DEMO_API_KEY, DEMO_PRIVATE_KEY

    path = cli_config(
        tmp_path / "demo-keys.toml",
        spots={"main": {"private_key": DEMO_PRIVATE_KEY}},
        clients={"billing": {"key_sha256": key_digest(DEMO_API_KEY)}},
    )
    status, _, err = run(capsys, "serve", "--config", str(path), "--port", "1")
    assert status == 2
    assert "spots.main.private_key is the public demo key" in err
    assert "clients.billing.key_sha256 is the digest of the public demo API key" in err
    status, _, err = run(capsys, "check-config", "--config", str(path))
    assert status == 2 and "public demo key" in err


def test_openapi_file_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    """Run `make openapi` (or `spot-sso openapi --output openapi/openapi.json`) when this fails."""
    status, out, _ = run(capsys, "openapi")
    assert status == 0
    committed = ROOT / "openapi" / "openapi.json"
    assert committed.read_text() == out, "openapi/openapi.json is stale: run `make openapi`"
    document = json.loads(out)
    operation_ids = sorted(
        op["operationId"] for path in document["paths"].values() for op in path.values()
    )
    assert operation_ids == [
        "authorize",
        "healthz",
        "issueToken",
        "metrics",
        "oidcCallback",
        "readyz",
    ]
    assert "DEMO-ONLY" not in out
    assert "422" not in document["paths"]["/authorize"]["get"]["responses"]
    validate(document)  # a valid OpenAPI 3.1 document, for every client generator
    assert document["servers"] == [
        {"url": "http://127.0.0.1:8000", "description": "this spot-sso (public_url)"}
    ]


def test_the_served_document_names_the_deployments_public_url() -> None:
    from service.web.app import create_app
    from tests.support.settings import make_settings

    document = create_app(make_settings(public_url="https://sso.example.com")).openapi()
    validate(document)
    assert document["servers"][0]["url"] == "https://sso.example.com"


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_bad_port_from_the_environment_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("SPOT_SSO_PORT", value)
    with pytest.raises(SystemExit) as exc:
        main(["serve"])
    assert exc.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_serve_refuses_to_start_without_a_spot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.toml"
    path.write_text('public_url = "https://sso.example.com"\n')
    status, _, err = run(capsys, "serve", "--config", str(path))
    assert status == 2 and "no Spot is configured" in err


def test_check_config_masks_secret_looking_adapter_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    identity = {
        "adapter": "tests.support.adapters:AnyOptions",
        "static": None,
        "options": {
            "base_url": "https://host.example",
            "api_token": "hunter2-secret",
            "author": "Ada",
            "upstream": {"client_secret": "nested-secret"},
        },
    }
    path = cli_config(tmp_path / "custom.toml", identity=identity)
    status, out, err = run(capsys, "check-config", "--config", str(path))
    assert status == 0, err
    options = json.loads(out)["identity"]["options"]
    assert options == {
        "base_url": "https://host.example",
        "api_token": "**********",
        "author": "Ada",
        "upstream": {"client_secret": "**********"},
    }
    assert "hunter2-secret" not in out + err and "nested-secret" not in out + err
