"""Spot rules through the API: two Spots with their own rules, explicit values, access."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from service.cli.main import main
from service.web.app import create_app
from tests.support.config import write_config
from tests.support.settings import (
    BILLING_KEY,
    MAIN_KEY,
    OTHER_KEY,
    PORTAL_KEY,
    bearer,
    make_settings,
)

RULES_TOML = """
[spots.main.groups]
staff = ["g-staff"]
premium = ["g-premium", "g-vip"]

[spots.main.properties]
company = "attributes.company"
plan = { value = "gold" }

[spots.main.domains.urls]
default = "https://app.example.com/community"
academy = "https://academy.example.com/community"

[spots.main.domains.by_group]
premium = ["academy"]

[spots.other]
require_groups = ["premium", "staff"]

[spots.other.groups]
staff = ["o-team"]

[spots.other.properties]
role = "title"
"""
RULES: dict[str, Any] = tomllib.loads(RULES_TOML)["spots"]

USERS: list[dict[str, Any]] = [
    {
        "id": "u-staff",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "title": "Analyst",
        "groups": ["staff"],
        "attributes": {"company": "Analytical Engines"},
    },
    {
        "id": "u-premium",
        "email": "grace@example.com",
        "first_name": "Grace",
        "last_name": "Hopper",
        "groups": ["premium"],
    },
    {"id": "u-guest", "email": "guest@example.com", "first_name": "Guest", "last_name": "User"},
]


def rules_settings() -> Any:
    return make_settings(
        spots=RULES,
        identity={"adapter": "static", "static": {"users": USERS, "trusted_header": "X-User"}},
    )


@pytest.fixture
def app() -> FastAPI:
    return create_app(rules_settings())


async def token_claims(
    client: httpx.AsyncClient, body: dict[str, Any], key: str = PORTAL_KEY, spot_key: str = MAIN_KEY
) -> dict[str, Any]:
    response = await client.post("/tokens", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    return jwt.decode(response.json()["token"], spot_key, algorithms=["HS256"])


async def test_main_spot_rules_for_a_staff_member(client: httpx.AsyncClient) -> None:
    claims = await token_claims(client, {"spot": "main", "userId": "u-staff"})
    assert claims["groups:join"] == ["g-staff"]
    assert claims["groups:leave"] == ["g-premium", "g-vip"]
    assert claims["customPropertyValue"] == {"company": "Analytical Engines", "plan": "gold"}
    assert claims["domains:set"] == {"default": "https://app.example.com/community"}
    assert claims["domains:unset"] == ["academy"]


async def test_main_spot_rules_for_a_premium_member(client: httpx.AsyncClient) -> None:
    claims = await token_claims(client, {"spot": "main", "userId": "u-premium"})
    assert claims["groups:join"] == ["g-premium", "g-vip"]
    assert claims["groups:leave"] == ["g-staff"]
    assert claims["customPropertyValue"] == {"plan": "gold"}  # no company: left out
    assert set(claims["domains:set"]) == {"default", "academy"}
    assert "domains:unset" not in claims


async def test_the_same_user_on_two_spots(client: httpx.AsyncClient) -> None:
    other = await token_claims(client, {"spot": "other", "userId": "u-staff"}, spot_key=OTHER_KEY)
    assert other["groups:join"] == ["o-team"]
    assert "groups:leave" not in other
    assert other["customPropertyValue"] == {"role": "Analyst"}
    assert "domains:set" not in other


async def test_a_client_allowed_one_spot_is_refused_the_other(client: httpx.AsyncClient) -> None:
    await token_claims(client, {"spot": "main", "userId": "u-staff"}, key=BILLING_KEY)
    refused = await client.post(
        "/tokens", json={"spot": "other", "userId": "u-staff"}, headers=bearer(BILLING_KEY)
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:spot-sso:problem:spot-not-allowed"


async def test_access_rule_refuses_on_tokens(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", json={"spot": "other", "userId": "u-guest"}, headers=bearer(PORTAL_KEY)
    )
    assert response.status_code == 403
    assert response.json()["type"] == "urn:spot-sso:problem:user-not-allowed"
    assert "premium, staff" in response.json()["detail"]
    assert "token" not in response.json()


async def test_access_rule_refuses_on_authorize(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/authorize",
        params={"spot": "other", "redirectUrl": "https://go.meltingspot.io/sso"},
        headers={"X-User": "u-guest"},
    )
    assert response.status_code == 403
    assert "location" not in response.headers
    assert "premium, staff" in response.text


async def test_authorize_applies_the_rules(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/authorize",
        params={"spot": "main", "redirectUrl": "https://go.meltingspot.io/sso"},
        headers={"X-User": "u-premium"},
    )
    token = httpx.URL(response.headers["location"]).params["token"]
    assert jwt.decode(token, MAIN_KEY, algorithms=["HS256"])["groups:join"] == [
        "g-premium",
        "g-vip",
    ]


async def test_explicit_values_win_key_by_key(client: httpx.AsyncClient) -> None:
    body = {
        "spot": "main",
        "userId": "u-staff",
        "groups": {"join": ["g-vip", "g-extra"], "leave": ["g-staff"]},
        "customProperties": {"company": "Override Ltd", "seat": "12"},
        "domains": {"set": {"academy": "https://academy.example.com/x"}, "unset": ["default"]},
    }
    claims = await token_claims(client, body)
    assert claims["groups:join"] == ["g-extra", "g-vip"]
    assert claims["groups:leave"] == ["g-premium", "g-staff"]
    assert claims["customPropertyValue"] == {
        "company": "Override Ltd",
        "plan": "gold",
        "seat": "12",
    }
    assert claims["domains:set"] == {"academy": "https://academy.example.com/x"}
    assert claims["domains:unset"] == ["default"]


async def test_a_user_body_gets_only_explicit_values(client: httpx.AsyncClient) -> None:
    user = {"sub": "x-1", "firstName": "X", "lastName": "Y", "email": "x@example.com"}
    plain = await token_claims(client, {"spot": "other", "user": user}, spot_key=OTHER_KEY)
    assert not {"groups:join", "groups:leave", "customPropertyValue", "domains:set"} & set(plain)
    given = await token_claims(
        client, {"spot": "main", "user": user, "groups": {"join": ["g-vip"]}}
    )
    assert given["groups:join"] == ["g-vip"] and "groups:leave" not in given


@pytest.mark.parametrize(
    ("extra", "pointer"),
    [
        ({"groups": {"join": ["g-1"], "leave": ["g-1"]}}, "/groups"),
        ({"domains": {"set": {"a": "https://a.example"}, "unset": ["a"]}}, "/domains"),
        ({"groups": {"join": [""]}}, "/groups/join/0"),
        ({"groups": {"enter": ["g-1"]}}, "/groups/enter"),
        ({"customProperties": {"k": "x" * 256}}, "/customProperties/k"),
        ({"customProperties": {"k": 5}}, "/customProperties/k"),
        ({"domains": {"set": {"a": "ftp://a.example"}}}, "/domains/set/a"),
    ],
    ids=[
        "join-and-leave",
        "set-and-unset",
        "empty-group",
        "unknown-key",
        "long-value",
        "not-a-string",
        "bad-url",
    ],
)
async def test_bad_explicit_values_are_422(
    client: httpx.AsyncClient, extra: dict[str, Any], pointer: str
) -> None:
    response = await client.post(
        "/tokens", json={"spot": "main", "userId": "u-staff", **extra}, headers=bearer(PORTAL_KEY)
    )
    assert response.status_code == 422, response.text
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


# --- explain agrees with the token ---------------------------------------------------------


def rules_toml(tmp_path: Path) -> Path:
    import tomllib  # noqa: F401 - the file below must stay valid TOML

    settings = rules_settings()
    data = {
        "spots": {
            alias: {"id": spot.id, "private_key": spot.key.get_secret_value(), **RULES[alias]}
            for alias, spot in settings.spots.items()
        },
        "identity": {"static": {"users": USERS}},
    }
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("spot", "user"), [("main", "u-staff"), ("main", "u-premium"), ("other", "u-staff")]
)
async def test_explain_matches_the_token(
    client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    spot: str,
    user: str,
) -> None:
    """The claims `spot-sso explain` shows are the ones a real token carries (iat/exp aside)."""
    spot_key = MAIN_KEY if spot == "main" else OTHER_KEY
    claims = await token_claims(client, {"spot": spot, "userId": user}, spot_key=spot_key)
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(next(u for u in USERS if u["id"] == user)))
    spots = {
        alias: {
            "id": s.id,
            "private_key": s.key.get_secret_value(),
            "default_lang": s.default_lang,
            "default_timezone": s.default_timezone,
            **RULES[alias],
        }
        for alias, s in rules_settings().spots.items()
    }
    config = write_config(tmp_path / "rules.toml", spots=spots, clients=None, identity=None)
    argv = ["explain", "--config", str(config), "--spot", spot, "--profile", str(profile), "--json"]
    assert await asyncio.to_thread(main, argv) == 0  # the CLI runs its own event loop
    report = json.loads(capsys.readouterr().out)
    assert report["claims"] == {k: v for k, v in claims.items() if k not in ("iat", "exp")}
    assert {r["claim"].split(".")[0] for r in report["reasons"]} >= set(report["claims"])
