"""Keys a template left behind or anyone could guess: refused at start-up, naming the field.

Placeholders (the Spot's private key, the host's API token, the OpenID client secret) and
the digests of guessable API keys (common passwords, words, one repeated character).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.demo import DEMO_BASE, DEMO_PRIVATE_KEY
from service.errors import ConfigError
from service.runtime.clients import key_digest, new_api_key
from service.secrets import is_placeholder
from service.settings.identity import HttpAdapterConfig, OidcAdapterConfig
from service.settings.model import Settings, load_settings
from service.settings.spots import ClientConfig
from tests.support.settings import (
    BILLING_KEY,
    MAIN_KEY,
    OTHER_KEY,
    PORTAL_KEY,
    make_settings,
    settings_data,
)

KEY_FIELD = (
    "spots.main.private_key (SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY or "
    "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE)"
)
PLACEHOLDER_KEY = (
    "looks like a placeholder, not the Spot's real key: paste the private key from the "
    "Spot's SSO settings (MeltingSpot → Spot settings → SSO)"
)

PLACEHOLDERS = [
    "THE-SPOT-PRIVATE-KEY",  # docs/deployment.md's example
    "SPOT_PRIVATE_KEY",
    "THE-HOST-API-TOKEN",
    "MELTINGSPOT_SSO_KEY",
    "REPLACE-WITH-YOUR-PRIVATE-KEY",
    "<key>",
    "<paste the private key here>",
    "${SPOT_KEY}",
    "{{ spot_key }}",
    "changeme",
    "CHANGE_ME",
    "change me",
    "xxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "XXXX-XXXX-XXXX-XXXX",
    "xxxxxxxx_xxxx_xxxx",
    "your-key-here",
    "your-spot-private-key-here",
    "YOUR_API_TOKEN_HERE",
    "your sso key here",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "0000000000000000000000000000000000000000",
    "TODO: paste the key here please ok",
    "  changeme  ",
]

REAL_LOOKING = [
    MAIN_KEY,
    OTHER_KEY,
    DEMO_PRIVATE_KEY,  # refused as the demo's, not as a placeholder
    "a8F3kq9ZpX2mV7nB4cR1tY6uW0eQ5sD8gH3jK",
    "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
    "K7Q2-ZP4X-9MWB-3RTA-LC8V-6HNE-Y5DJ-F1SU",
    "sso_R_UVxOhfw-M0zKpejCq6N7T1s5tKucAizsm_SeCQ_Pc",
    "short-but-real",
]


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return exc.value.problems


@pytest.mark.parametrize("key", PLACEHOLDERS)
def test_placeholders(key: str) -> None:
    assert is_placeholder(key)


@pytest.mark.parametrize("key", REAL_LOOKING)
def test_real_looking_values_are_not_placeholders(key: str) -> None:
    assert not is_placeholder(key)


@pytest.mark.parametrize("allow_short_key", [False, True])
@pytest.mark.parametrize("key", PLACEHOLDERS)
def test_placeholder_keys_are_refused_whatever_allow_short_key_says(
    key: str, allow_short_key: bool
) -> None:
    spot = {"private_key": key, "allow_short_key": allow_short_key}
    with pytest.raises(ConfigError) as exc:
        load_settings(base=settings_data(spots={"main": spot}))
    assert problems(exc) == [f"{KEY_FIELD}: {PLACEHOLDER_KEY}"]


def test_the_deployment_guides_placeholder_is_refused_with_the_new_message() -> None:
    spot = {"private_key": "THE-SPOT-PRIVATE-KEY", "allow_short_key": True}
    with pytest.raises(ConfigError) as exc:
        load_settings(base=settings_data(spots={"main": spot}))
    assert "shorter than" not in exc.value.detail
    assert "MeltingSpot → Spot settings → SSO" in exc.value.detail


@pytest.mark.parametrize("token", PLACEHOLDERS)
def test_placeholder_host_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token: looks like a placeholder"):
        HttpAdapterConfig(user_url="https://host.test/users/{user_id}", token=token)


@pytest.mark.parametrize("secret", PLACEHOLDERS)
def test_placeholder_oidc_client_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="client_secret: looks like a placeholder"):
        OidcAdapterConfig(issuer="https://id.example.com", client_id="spot", client_secret=secret)


@pytest.mark.parametrize("value", REAL_LOOKING)
def test_real_looking_tokens_and_secrets_are_accepted(value: str) -> None:
    HttpAdapterConfig(user_url="https://host.test/users/{user_id}", token=value)
    OidcAdapterConfig(issuer="https://id.example.com", client_id="spot", client_secret=value)


# --- API-key digests -------------------------------------------------------------------


def client(api_key: str) -> ClientConfig:
    """A client whose one API key is ``api_key``."""
    return ClientConfig(key_sha256=[key_digest(api_key)], spots=["main"])


GUESSABLE_KEYS = [
    "password",
    "123456",
    "qwerty",
    "letmein",
    "dragon",
    "london",  # english_wikipedia
    "smith",  # surnames
    "same",
    "a",
    "aaaaaaaa",
    "0" * 32,
    "!" * 7,
    "~" * 128,
    " " * 3,
]


@pytest.mark.parametrize("key", GUESSABLE_KEYS)
def test_guessable_key_digests_are_refused_naming_the_client(key: str) -> None:
    digest = hashlib.sha256(key.encode()).hexdigest()
    for given_digest in (digest, digest.upper()):
        data = settings_data(
            clients={"billing": {"key_sha256": [key_digest(BILLING_KEY), given_digest]}}
        )
        with pytest.raises(ConfigError) as exc:
            load_settings(base=data)
        (problem,) = problems(exc)
        assert problem.startswith(
            "clients.billing.key_sha256 (SPOT_SSO_CLIENTS__BILLING__KEY_SHA256): "
        )
        assert "generate a key with `spot-sso keygen`" in problem


@given(
    char=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    length=st.integers(min_value=1, max_value=128),
)
def test_keys_of_one_repeated_printable_character_are_refused(char: str, length: int) -> None:
    with pytest.raises(ValueError, match="spot-sso keygen"):
        client(char * length)


@pytest.mark.parametrize("word", ["Password", "PASSWORD", "password1!", "dragon-fly-2024"])
def test_only_the_listed_words_count(word: str) -> None:
    """Lower-case and as listed: a variation is a weak key, but not one in the lists."""
    client(word)


def test_keygen_keys_always_pass() -> None:
    for _ in range(200):
        make_settings(clients={"billing": {"key_sha256": [key_digest(new_api_key())]}})


def test_the_demo_and_test_keys_still_pass() -> None:
    Settings.model_validate(DEMO_BASE)
    for key in (BILLING_KEY, PORTAL_KEY, "sso_k", "sso_test-billing-key-after-rollover-0123456789"):
        client(key)
