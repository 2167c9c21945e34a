"""Settings: the order of sources, and every start-up refusal naming its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.errors import ConfigError
from service.runtime.clients import key_digest
from service.secrets import is_placeholder
from service.settings.model import Settings, load_settings
from tests.support.config import write_config
from tests.support.settings import MAIN_ID, MAIN_KEY, make_settings, settings_data

# The tests' configuration (tests.support.config), read from a file: its own key and
# TTL, a client named backend, no identity section.
TOML = {
    "public_url": "https://sso.example.com/",
    "spots": {
        "main": {
            "private_key": "toml-key-0123456789abcdef0123456789abcdef",
            "token_ttl_seconds": 30,
        }
    },
    "clients": {"billing": None, "backend": {"key_sha256": key_digest("sso_k"), "spots": ["main"]}},
    "identity": None,
}


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    return "\n".join(exc.value.problems)


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "spot-sso.toml", TOML)


def test_defaults() -> None:
    settings = Settings.model_validate({})
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.spots == {} and settings.clients == {}
    assert settings.identity.adapter == "static"


def test_spot_defaults() -> None:
    spot = make_settings().spots["main"]
    assert spot.token_ttl_seconds == 60
    assert spot.max_token_ttl_seconds == 300
    assert spot.redirect_origins == ["https://go.meltingspot.io"]
    assert spot.default_lang == "en"


def test_toml_file(toml_file: Path) -> None:
    settings = load_settings(toml_file)
    assert settings.public_url == "https://sso.example.com"
    assert settings.spots["main"].token_ttl_seconds == 30
    assert settings.clients["backend"].key_sha256 == [key_digest("sso_k")]


def test_config_file_from_environment(toml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOT_SSO_CONFIG", str(toml_file))
    assert load_settings().spots["main"].token_ttl_seconds == 30


def test_environment_overrides_the_file(toml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOT_SSO_SPOTS__MAIN__TOKEN_TTL_SECONDS", "45")
    monkeypatch.setenv(
        "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY", "env-key-0123456789abcdef0123456789abcdef"
    )
    monkeypatch.setenv("SPOT_SSO_PUBLIC_URL", "https://env.example.com")
    settings = load_settings(toml_file)
    assert settings.spots["main"].token_ttl_seconds == 45
    assert settings.spots["main"].key.get_secret_value().startswith("env-key")
    assert settings.public_url == "https://env.example.com"
    assert settings.spots["main"].id == MAIN_ID  # untouched values still come from the file


def test_secret_file_overrides_everything(
    toml_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "key"
    secret.write_text("file-key-0123456789abcdef0123456789abcdef\n")
    monkeypatch.setenv(
        "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY", "env-key-0123456789abcdef0123456789abcdef"
    )
    monkeypatch.setenv("SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE", str(secret))
    key = load_settings(toml_file).spots["main"].key.get_secret_value()
    assert key == "file-key-0123456789abcdef0123456789abcdef"


def test_spots_and_clients_from_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOT_SSO_SPOTS__MAIN__ID", MAIN_ID.upper())
    monkeypatch.setenv("SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY", MAIN_KEY)
    monkeypatch.setenv(
        "SPOT_SSO_SPOTS__MAIN__REDIRECT_ORIGINS",
        '["https://go.meltingspot.io", "http://127.0.0.1:9000"]',
    )
    digests = [key_digest("sso_app-key-one"), key_digest("sso_app-key-two")]
    monkeypatch.setenv("SPOT_SSO_CLIENTS__APP__KEY_SHA256", ",".join(digests))
    monkeypatch.setenv("SPOT_SSO_CLIENTS__APP__SPOTS", "main")
    settings = load_settings()
    assert settings.spots["main"].id == MAIN_ID
    assert settings.spots["main"].redirect_origins == [
        "https://go.meltingspot.io",
        "http://127.0.0.1:9000",
    ]
    assert settings.clients["app"].key_sha256 == digests
    assert settings.clients["app"].spots == ["main"]


def test_relative_file_paths_in_toml_are_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "key.txt").write_text(MAIN_KEY)
    write_config(
        tmp_path / "conf" / "spot-sso.toml",
        spots={"main": {"private_key": None, "private_key_file": "key.txt"}},
        clients=None,
        identity=None,
    )
    settings = load_settings(tmp_path / "conf" / "spot-sso.toml")
    assert settings.spots["main"].key.get_secret_value() == MAIN_KEY


@pytest.mark.parametrize(
    ("spot", "field", "message"),
    [
        ({"private_key": None}, "spots.main.private_key", "missing"),
        ({"private_key": "   "}, "spots.main.private_key", "missing"),
        ({"private_key": "short-key"}, "spots.main.private_key", "shorter than 32 bytes"),
        ({"id": "not-a-uuid"}, "spots.main.id", "UUID"),
        (
            {"redirect_origins": ["http://go.meltingspot.io"]},
            "spots.main.redirect_origins",
            "only for 127.0.0.1",
        ),
        (
            {"redirect_origins": ["https://go.meltingspot.io/spot/x"]},
            "spots.main.redirect_origins",
            "not an origin",
        ),
        ({"token_ttl_seconds": 0}, "spots.main.token_ttl_seconds", "greater than or equal to 1"),
        ({"token_ttl_seconds": 600}, "spots.main.token_ttl_seconds", "above max_token_ttl_seconds"),
        (
            {"max_token_ttl_seconds": 86_401},
            "spots.main.max_token_ttl_seconds",
            "less than or equal to 86400",
        ),
        ({"default_timezone": "Mars/Olympus"}, "spots.main.default_timezone", "IANA"),
        ({"default_lang": "es"}, "spots.main.default_lang", "'en', 'fr' or 'de'"),
        ({"privat_key": "x"}, "spots.main", "unknown setting `privat_key`; did you mean"),
        (
            {"private_key_file": "/nonexistent/key"},
            "spots.main",
            "private_key_file: cannot read /nonexistent/key (No such file or directory)",
        ),
    ],
)
def test_bad_spot_settings_name_the_field(
    spot: dict[str, object], field: str, message: str
) -> None:
    data = settings_data(spots={"main": spot})
    with pytest.raises(ConfigError) as exc:
        load_settings(base=data)
    assert field in problems(exc)
    assert message in problems(exc)


@pytest.mark.parametrize(
    "key",
    [
        "changeme",
        "CHANGE_ME",
        "<your-private-key>",
        "${SPOT_KEY}",
        "{{ spot_key }}",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "replace-me-with-the-real-key-from-meltingspot",
        "your-private-key-here-0123456789abcdef",
        "TODO: paste the key here please ok",
    ],
)
def test_placeholder_keys_are_refused(key: str) -> None:
    assert is_placeholder(key)
    with pytest.raises(ConfigError) as exc:
        load_settings(base=settings_data(spots={"main": {"private_key": key}}))
    assert "spots.main.private_key (SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY" in problems(exc)
    assert "placeholder" in problems(exc)
    assert key not in problems(exc)


@pytest.mark.parametrize("key", [MAIN_KEY, "a8F3kq9ZpX2mV7nB4cR1tY6uW0eQ5sD8gH3jK"])
def test_real_looking_keys_are_not_placeholders(key: str) -> None:
    assert not is_placeholder(key)


def test_short_key_allowed_explicitly_is_a_warning() -> None:
    settings = load_settings(
        base=settings_data(
            spots={"main": {"private_key": "short-but-real", "allow_short_key": True}}
        )
    )
    assert settings.warnings() == [
        "spots.main.private_key is shorter than 32 bytes (accepted because allow_short_key = true)"
    ]


def test_unknown_spot_alias_in_a_client() -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(base=settings_data(clients={"billing": {"spots": ["main", "mian"]}}))
    assert (
        "clients.billing.spots (SPOT_SSO_CLIENTS__BILLING__SPOTS): unknown Spot alias 'mian'"
        in problems(exc)
    )


def test_duplicate_key_digests() -> None:
    digest = key_digest("sso_shared-key-0123456789")
    data = settings_data(
        clients={"billing": {"key_sha256": [digest]}, "portal": {"key_sha256": [digest]}}
    )
    with pytest.raises(ConfigError) as exc:
        load_settings(base=data)
    assert (
        "clients.portal.key_sha256 (SPOT_SSO_CLIENTS__PORTAL__KEY_SHA256): "
        "the same key digest is used by clients.billing" in problems(exc)
    )


def test_bad_digest() -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(base=settings_data(clients={"billing": {"key_sha256": ["sso_plain_key"]}}))
    assert "clients.billing.key_sha256" in problems(exc)


def test_duplicate_spot_ids() -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(base=settings_data(spots={"other": {"id": MAIN_ID}}))
    assert "spots.other.id (SPOT_SSO_SPOTS__OTHER__ID): same Spot ID as spots.main" in problems(exc)


def test_all_problems_are_reported_together() -> None:
    data = settings_data(
        spots={"main": {"private_key": "changeme"}},
        clients={"billing": {"spots": ["nope"]}},
    )
    with pytest.raises(ConfigError) as exc:
        load_settings(base=data)
    assert "spots.main.private_key" in problems(exc) and "clients.billing.spots" in problems(exc)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[spots.main\nid=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)
    with pytest.raises(ConfigError, match="cannot read it"):
        load_settings(tmp_path / "missing.toml")


def test_bad_environment_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOT_SSO_SPOTS", "{not json")
    with pytest.raises(ConfigError, match="environment"):
        load_settings()


def test_redacted_shows_no_secret() -> None:
    settings = make_settings()
    text = json.dumps(settings.redacted())
    assert MAIN_KEY not in text
    assert '"private_key": "**********"' in text
    assert MAIN_KEY not in repr(settings) and MAIN_KEY not in str(settings)


@pytest.mark.parametrize("bad", ["lots/minute", "10 per fortnight", "", "0/minute"])
def test_bad_limits_are_refused_at_start_up(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"rate like 600/minute|at least one request"):
        load_settings(base=settings_data(limits={"tokens_per_client": bad}))
