"""spot-sso demo's start-up banner: the users of the configuration it runs with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.fixtures import write_toml
from service.cli.main import main
from service.demo import DEMO_SPOT_ID

GRACE = {"id": "u-grace", "email": "grace@example.com", "first_name": "G", "last_name": "H"}
ALAN = {"id": "u-alan", "email": "alan@example.com", "first_name": "A", "last_name": "T"}
ELSEWHERE = {
    "adapter": "http",
    "http": {
        "session_url": "https://host.example/api/me",
        "user_url": "https://host.example/api/users/{user_id}",
    },
}


@pytest.fixture
def banner(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Any:
    """``banner(config)``: what ``spot-sso demo`` prints over ``config`` (None: the demo's
    own); uvicorn is not started, and the environment is put back after."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: None)
    monkeypatch.setattr("service.observability.logs.configure_logging", lambda *_: None)
    for name in ("SPOT_SSO_CONFIG", "SPOT_SSO_DEMO_PORT"):
        monkeypatch.setenv(name, "")  # so that monkeypatch removes what the command sets
        monkeypatch.delenv(name)

    def printed(config: dict[str, Any] | None = None) -> str:
        args = ["demo"]
        if config is not None:
            write_toml(config, tmp_path / "demo.toml")
            args += ["--config", str(tmp_path / "demo.toml")]
        assert main(args) == 0
        return capsys.readouterr().out

    return printed


def users_line(text: str) -> str:
    return next(line for line in text.splitlines() if "users" in line.lower()).strip()


def test_the_demo_lists_the_demo_hosts_users(banner: Any) -> None:
    text = banner()
    assert users_line(text) == "Demo users  u-ada, u-marie, u-emmy"
    assert f"Spot        demo  (Spot ID {DEMO_SPOT_ID})" in text
    assert '{"userId": "u-ada"}' in text


def test_a_config_on_the_demo_host_keeps_its_users(banner: Any) -> None:
    text = banner({"spots": {"demo": {"default_lang": "de"}}})
    assert users_line(text) == "Demo users  u-ada, u-marie, u-emmy"


def test_static_users_replace_the_demo_users(banner: Any, tmp_path: Path) -> None:
    users_file = tmp_path / "users.toml"
    write_toml({"users": [ALAN]}, users_file)
    static = {"users": [GRACE], "users_file": str(users_file)}
    text = banner({"identity": {"adapter": "static", "static": static}})
    assert users_line(text) == "Users       u-alan, u-grace  (identity.static)"
    assert "u-ada" not in text
    assert '{"userId": "u-alan"}' in text


def test_no_static_users(banner: Any) -> None:
    text = banner({"identity": {"adapter": "static"}})
    assert users_line(text) == "Users       none: identity.static lists no users"
    assert "u-ada" not in text


def test_a_host_elsewhere_is_named_not_listed(banner: Any) -> None:
    text = banner({"identity": ELSEWHERE})
    assert users_line(text) == (
        "Users       the host platform's, at https://host.example (identity.http)"
    )
    assert "u-ada" not in text
    assert '{"userId": "<user id>"}' in text


def test_a_custom_adapter_is_named(banner: Any) -> None:
    identity = {"adapter": "tests.support.adapters:AnyOptions", "options": {"a": 1}}
    text = banner({"identity": identity})
    assert users_line(text) == (
        "Users       those of tests.support.adapters:AnyOptions (identity.adapter)"
    )
    assert "u-ada" not in text


def test_a_changed_spot_id_is_shown(banner: Any) -> None:
    spot_id = "0b9a7c3e-2f4d-4b1a-8e6f-1c2d3e4f5a6b"
    text = banner({"spots": {"demo": {"id": spot_id}}})
    assert f"Spot        demo  (Spot ID {spot_id})" in text


def test_many_users_are_cut_short(banner: Any) -> None:
    many = [{**GRACE, "id": f"u-{n:02}"} for n in range(25)]
    text = banner({"identity": {"adapter": "static", "static": {"users": many}}})
    assert users_line(text) == (
        "Users       u-00, u-01, u-02, u-03, u-04, u-05, u-06, u-07, u-08, u-09 "
        "and 15 more  (identity.static)"
    )


def test_an_openid_provider_is_named(banner: Any) -> None:
    oidc = {
        "issuer": "https://idp.example",
        "client_id": "sso",
        "client_secret": "oidc-secret-9f3Kq2ZpX7mV4nB8cR1tY6uW",
    }
    text = banner({"identity": {"adapter": "oidc", "oidc": oidc}})
    assert users_line(text) == (
        "Users       the OpenID provider's, at https://idp.example (identity.oidc)"
    )
    assert "u-ada" not in text


def test_the_demo_provider_has_the_demo_users() -> None:
    from service.cli.server import demo_banner
    from service.demo import DEMO_BASE
    from service.settings.model import Settings

    text = demo_banner(Settings.model_validate(DEMO_BASE), provider_url="http://127.0.0.1:9")
    assert users_line(text) == "Demo users  u-ada, u-marie, u-emmy"
    assert "Provider    http://127.0.0.1:9" in text


def test_the_demo_provider_looks_users_up_on_the_demo_host() -> None:
    """``demo --oidc``: POST /tokens by userId goes through [identity.oidc.lookup], the
    demo host's user API (the provider looks nobody up), so the banner's example and the
    host's embed page work; serve refuses the demo host's token there too."""
    from service.cli.server import demo_banner
    from service.demo import DEMO_BASE, DEMO_HOST_API_TOKEN, demo_values_in, oidc_provider
    from service.demo.host import host_identity_config
    from service.settings.model import Settings, deep_merge

    host = host_identity_config("http://127.0.0.1:8000", DEMO_HOST_API_TOKEN)
    lookup = {name: host[name] for name in ("user_url", "token", "fields")}
    env = oidc_provider.environment("http://127.0.0.1:9", lookup)
    assert env["SPOT_SSO_IDENTITY__OIDC__LOOKUP__USER_URL"] == host["user_url"]
    oidc = {
        "issuer": "http://127.0.0.1:9",
        "client_id": "demo",
        "client_secret": oidc_provider.DEMO_OIDC_CLIENT_SECRET,
        "lookup": lookup,
    }
    settings = Settings.model_validate(
        deep_merge(DEMO_BASE, {"identity": {"adapter": "oidc", "http": None, "oidc": oidc}})
    )
    assert "identity.oidc.lookup.token is the demo host's public token" in demo_values_in(settings)
    text = demo_banner(settings, provider_url="http://127.0.0.1:9")
    assert '-d \'{"userId": "u-ada"}\'' in text
