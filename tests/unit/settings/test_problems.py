"""How a configuration problem reads: unknown names with the closest known one, in the
TOML file and in ``SPOT_SSO_*`` variables, and what a typo leaves missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.errors import ConfigError
from service.settings.model import load_settings
from tests.support.config import write_config
from tests.support.settings import settings_data

MISSING_KEY = (
    "spots.main.private_key (SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY or "
    "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE): missing; copy it from the Spot's SSO settings "
    "in MeltingSpot"
)


def problems_of(data: dict[str, Any] | None = None, path: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_settings(path, base=data)
    return exc.value.problems


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"spots": {"main": {"token_ttl_secs": 5}}},
            "spots.main: unknown setting `token_ttl_secs`; did you mean `token_ttl_seconds`?",
        ),
        (
            {"pubic_url": "https://sso.example.com"},
            "unknown setting `pubic_url`; did you mean `public_url`?",
        ),
        ({"colour": "blue"}, "unknown setting `colour`"),
        (
            {"limits": {"tokens_per_clent": "5/minute"}},
            "limits: unknown setting `tokens_per_clent`; did you mean `tokens_per_client`?",
        ),
        (
            {"clients": {"billing": {"rate_limt": "5/minute"}}},
            "clients.billing: unknown setting `rate_limt`; did you mean `rate_limit`?",
        ),
        (
            {"spots": {"main": {"domains": {"url": {}}}}},
            "spots.main.domains: unknown setting `url`; did you mean `urls`?",
        ),
        (
            {"spots": {"main": {"properties": {"plan": {"valu": "gold"}}}}},
            "spots.main.properties.plan.PropertyConstant: unknown setting `valu`; "
            "did you mean `value`?",
        ),
        (
            {"identity": {"static": {"trusted_headr": "X-User"}}},
            "identity.static: unknown setting `trusted_headr`; did you mean `trusted_header`?",
        ),
        (
            {"identity": {"static": {"users": [{"id": "u", "emial": "a@example.com"}]}}},
            "identity.static.users[0]: unknown setting `emial`; did you mean `email`?",
        ),
    ],
)
def test_unknown_names_in_the_file_suggest_the_closest(
    tmp_path: Path, changes: dict[str, Any], problem: str
) -> None:
    path = write_config(tmp_path / "spot-sso.toml", changes)
    found = problems_of(path=path)
    assert problem in found
    assert not any("Extra inputs" in line for line in found)


def test_without_a_close_name_nothing_is_suggested(tmp_path: Path) -> None:
    path = write_config(tmp_path / "spot-sso.toml", colour="blue")
    assert problems_of(path=path) == ["unknown setting `colour`"]


@pytest.mark.parametrize(
    ("variable", "problem"),
    [
        (
            "SPOT_SSO_SPOTS__MAIN__TOKEN_TTL_SECS",
            "environment: unknown setting `SPOT_SSO_SPOTS__MAIN__TOKEN_TTL_SECS`; "
            "did you mean `SPOT_SSO_SPOTS__MAIN__TOKEN_TTL_SECONDS`?",
        ),
        (
            "spot_sso_limits__enabeld",
            "environment: unknown setting `SPOT_SSO_LIMITS__ENABELD`; "
            "did you mean `SPOT_SSO_LIMITS__ENABLED`?",
        ),
        (
            "SPOT_SSO_IDENTITY__STATIC__NOTHING_LIKE_IT",
            "environment: unknown setting `SPOT_SSO_IDENTITY__STATIC__NOTHING_LIKE_IT`",
        ),
    ],
)
def test_unknown_environment_variables_suggest_the_closest_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, problem: str
) -> None:
    monkeypatch.setenv(variable, "5")
    assert problems_of(settings_data()) == [problem]


def test_a_misspelt_key_file_also_leaves_the_key_missing(tmp_path: Path) -> None:
    spot = {"private_key": None, "privat_key_file": "key.txt"}
    path = write_config(tmp_path / "spot-sso.toml", spots={"main": spot})
    assert problems_of(path=path) == [
        "spots.main: unknown setting `privat_key_file`; did you mean `private_key_file`?",
        MISSING_KEY,
    ]


def test_a_misspelt_key_file_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOT_SSO_SPOTS__MAIN__PRIVAT_KEY_FILE", "/run/secrets/key")
    data = settings_data(spots={"main": {"private_key": None}})
    assert problems_of(data) == [
        "environment: unknown setting `SPOT_SSO_SPOTS__MAIN__PRIVAT_KEY_FILE`; "
        "did you mean `SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE`?",
        MISSING_KEY,
    ]


def test_a_typo_beside_a_key_reports_the_typo_only() -> None:
    data = settings_data(spots={"main": {"token_ttl_secs": 5}})
    assert problems_of(data) == [
        "spots.main: unknown setting `token_ttl_secs`; did you mean `token_ttl_seconds`?"
    ]


def test_other_malformed_values_report_a_missing_key_too() -> None:
    data = settings_data(spots={"main": {"private_key": None, "id": "not-a-uuid"}})
    found = problems_of(data)
    assert MISSING_KEY in found
    assert any(line.startswith("spots.main.id (SPOT_SSO_SPOTS__MAIN__ID): ") for line in found)


def test_an_unreadable_key_file_names_the_path_it_tried(tmp_path: Path) -> None:
    tried = tmp_path / "secrets" / "spot_key"
    data = settings_data(spots={"main": {"private_key_file": str(tried)}})
    assert problems_of(data) == [
        f"spots.main (SPOT_SSO_SPOTS__MAIN): private_key_file: cannot read {tried} "
        "(No such file or directory)"
    ]


def test_a_relative_key_file_is_named_as_resolved_from_the_toml_file(tmp_path: Path) -> None:
    spot = {"private_key": None, "private_key_file": "secrets/key"}
    path = write_config(tmp_path / "spot-sso.toml", spots={"main": spot})
    (problem,) = problems_of(path=path)
    assert f"cannot read {tmp_path / 'secrets' / 'key'} (No such file or directory)" in problem
