"""The spot-sso command, called in process: mint, verify, keygen, check-config, openapi."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import jwt
import pytest

from service.cli.main import main
from service.runtime.clients import key_digest
from tests.conftest import BILLING_KEY, MAIN_ID, MAIN_KEY, OTHER_KEY

CONFIG = f"""
[spots.main]
id = "{MAIN_ID}"
private_key = "{MAIN_KEY}"
max_token_ttl_seconds = 600

[clients.billing]
key_sha256 = "{key_digest(BILLING_KEY)}"
spots = ["main"]

[[identity.static.users]]
id = "u-1"
email = "ada@example.com"
first_name = "Ada"
last_name = "Lovelace"
locale = "de-CH"
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "spot-sso.toml"
    path.write_text(CONFIG)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


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
        (["--user-id", "nobody"], "knows no user 'nobody'"),
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
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace(MAIN_KEY, "changeme"))
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

    path = tmp_path / "demo-keys.toml"
    path.write_text(
        CONFIG.replace(MAIN_KEY, DEMO_PRIVATE_KEY).replace(
            key_digest(BILLING_KEY), key_digest(DEMO_API_KEY)
        )
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
    committed = Path(__file__).parent.parent / "openapi" / "openapi.json"
    assert committed.read_text() == out, "openapi/openapi.json is stale: run `make openapi`"
    document = json.loads(out)
    operation_ids = sorted(
        op["operationId"] for path in document["paths"].values() for op in path.values()
    )
    assert operation_ids == ["authorize", "healthz", "issueToken", "metrics", "readyz"]
    assert "DEMO-ONLY" not in out
    assert "422" not in document["paths"]["/authorize"]["get"]["responses"]


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
    path = tmp_path / "custom.toml"
    path.write_text(
        CONFIG.split("[[identity.static.users]]")[0]
        + '[identity]\nadapter = "tests.api.fake_adapters:AnyOptions"\n'
        + '[identity.options]\nbase_url = "https://host.example"\napi_token = "hunter2-secret"\n'
        + 'author = "Ada"\n[identity.options.upstream]\nclient_secret = "nested-secret"\n'
    )
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


# --- mint and explain through the HTTP adapter, against a real host ---------------------


class _HostUsers(http.server.BaseHTTPRequestHandler):
    """A host platform's user API on a real socket, keeping connections alive."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[set[tuple[str, int]]] = set()

    def do_GET(self) -> None:
        _HostUsers.connections.add(self.client_address)
        known = self.path == "/api/users/u-7" and self.headers["authorization"] == "Bearer h-tok"
        body = json.dumps(
            {
                "id": "u-7",
                "email": "grace@example.com",
                "first_name": "Grace",
                "last_name": "Hopper",
            }
            if known
            else {"error": "no such user"}
        ).encode()
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def host_users() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostUsers)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_mint_and_explain_look_the_user_up_on_the_host(
    tmp_path: Path, host_users: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The runtime's kept connection is closed in the loop that opened it: no error."""
    path = tmp_path / "http.toml"
    path.write_text(
        f'[spots.main]\nid = "{MAIN_ID}"\nprivate_key = "{MAIN_KEY}"\n'
        f'[identity]\nadapter = "http"\n'
        f'[identity.http]\nuser_url = "{host_users}/api/users/{{user_id}}"\ntoken = "h-tok"\n'
        "read_timeout_seconds = 2\nconnect_timeout_seconds = 2\n"
    )
    status, out, err = run(
        capsys, "mint", "--config", str(path), "--spot", "main", "--user-id", "u-7"
    )
    assert (status, err) == (0, "")
    claims = jwt.decode(out.strip(), MAIN_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["email"]) == ("u-7", "grace@example.com")
    status, out, err = run(
        capsys, "explain", "--config", str(path), "--spot", "main", "--user-id", "u-7", "--json"
    )
    assert (status, err) == (0, "")
    assert json.loads(out)["claims"]["firstName"] == "Grace"
    status, _, err = run(
        capsys, "mint", "--config", str(path), "--spot", "main", "--user-id", "u-8"
    )
    assert status != 0 and "u-8" in err


def test_check_config_masks_url_credentials_and_prints_readiness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "urls.toml"
    path.write_text(
        'redis_url = "redis://:r-hunter2@127.0.0.1:9/0"\n'
        + CONFIG.split("[[identity.static.users]]")[0]
        + '[identity]\nadapter = "http"\n[identity.http]\n'
        'session_url = "https://svc:pw-hunter2@host.example/me?api_key=k-hunter2"\n'
        'user_url = "https://host.example/users/{user_id}?sig=s-hunter2"\n'
        'login_url = "https://host.example/login?next={return_to}"\n'
        'forward_cookies = ["sid"]\n'
    )
    status, out, err = run(capsys, "check-config", "--config", str(path))
    assert status == 0, err
    http = json.loads(out)["identity"]["http"]
    assert http["session_url"] == "https://svc:****@host.example/me?api_key=****"
    assert http["user_url"] == "https://host.example/users/{user_id}?sig=****"
    assert http["login_url"] == "https://host.example/login?next=****"
    assert "hunter2" not in out
    assert "readiness: spots: ok" in err and "readiness: identity: ok" in err
    assert "readiness: shared_state: not ok (" in err and "hunter2" not in err
