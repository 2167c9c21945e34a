"""POST /tokens through the ASGI app: every status it can answer."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest

from service.web.app import create_app
from tests.support.apps import failing_app
from tests.support.assertions import assert_problem
from tests.support.settings import (
    BILLING_KEY,
    MAIN_ID,
    MAIN_KEY,
    OTHER_ID,
    OTHER_KEY,
    PORTAL_KEY,
    bearer,
    make_settings,
)

ADA = {
    "sub": "u-77",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "title": "Analyst",
    "avatarUrl": "https://cdn.example.com/ada.png",
    "lang": "de-AT",
    "timezone": "America/New_York",
}


def decode(token: str, key: str = MAIN_KEY) -> dict[str, Any]:
    return jwt.decode(token, key, algorithms=["HS256"])


async def test_user_body_gives_a_token_with_exactly_those_claims(client: httpx.AsyncClient) -> None:
    before = int(time.time())
    response = await client.post(
        "/tokens", json={"spot": "main", "user": ADA}, headers=bearer(BILLING_KEY)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    claims = decode(body["token"])
    assert claims == {
        **ADA,
        "lang": "de",
        "iat": claims["iat"],
        "exp": claims["iat"] + 60,
    }
    assert before <= claims["iat"] <= int(time.time())
    assert jwt.get_unverified_header(body["token"]) == {"alg": "HS256", "typ": "JWT"}
    assert body["tokenType"] == "JWT"
    assert body["expiresIn"] == 60
    assert datetime.fromisoformat(body["expiresAt"]).timestamp() == claims["exp"]
    assert body["spot"] == "main"
    assert body["spotId"] == MAIN_ID


async def test_token_responses_are_never_cached(client: httpx.AsyncClient) -> None:
    response = await client.post("/tokens", json={"user": ADA}, headers=bearer(BILLING_KEY))
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_user_id_is_looked_up_through_the_adapter(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", json={"spot": "main", "userId": "u-1"}, headers=bearer(BILLING_KEY)
    )
    assert response.status_code == 200, response.text
    claims = decode(response.json()["token"])
    assert claims["sub"] == "u-1"
    assert claims["email"] == "ada@example.com"
    assert (claims["firstName"], claims["lastName"], claims["title"]) == (
        "Ada",
        "Lovelace",
        "Analyst",
    )
    assert claims["lang"] == "fr"
    assert claims["timezone"] == "Europe/London"
    assert "avatarUrl" not in claims


async def test_spot_defaults_apply_when_the_user_has_none(client: httpx.AsyncClient) -> None:
    user = {k: ADA[k] for k in ("sub", "firstName", "lastName", "email")}
    main = await client.post(
        "/tokens", json={"spot": "main", "user": user}, headers=bearer(PORTAL_KEY)
    )
    other = await client.post(
        "/tokens",
        json={"spot": "other", "user": {**user, "lang": "es", "timezone": "Mars/Base"}},
        headers=bearer(PORTAL_KEY),
    )
    assert {k: decode(main.json()["token"])[k] for k in ("lang", "timezone")} == {
        "lang": "en",
        "timezone": "Europe/Berlin",
    }
    assert {k: decode(other.json()["token"], OTHER_KEY)[k] for k in ("lang", "timezone")} == {
        "lang": "de",
        "timezone": "Europe/Paris",
    }


@pytest.mark.parametrize("ref", ["other", OTHER_ID, OTHER_ID.upper()])
async def test_spot_by_alias_or_spot_id(client: httpx.AsyncClient, ref: str) -> None:
    response = await client.post(
        "/tokens", json={"spot": ref, "userId": "u-1"}, headers=bearer(PORTAL_KEY)
    )
    assert response.status_code == 200, response.text
    assert response.json()["spot"] == "other"
    decode(response.json()["token"], OTHER_KEY)
    with pytest.raises(jwt.InvalidSignatureError):
        decode(response.json()["token"], MAIN_KEY)


async def test_spot_may_be_omitted_when_the_client_has_one(client: httpx.AsyncClient) -> None:
    response = await client.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
    assert response.json()["spot"] == "main"


async def test_spot_is_required_when_the_client_has_several(client: httpx.AsyncClient) -> None:
    response = await client.post("/tokens", json={"userId": "u-1"}, headers=bearer(PORTAL_KEY))
    body = assert_problem(response, 422, "invalid-request")
    assert body["errors"][0]["pointer"] == "/spot"
    assert "main, other" in body["errors"][0]["detail"]


async def test_ttl_within_the_spot_maximum(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", json={"userId": "u-1", "ttlSeconds": 300}, headers=bearer(BILLING_KEY)
    )
    claims = decode(response.json()["token"])
    assert claims["exp"] - claims["iat"] == 300 == response.json()["expiresIn"]


@pytest.mark.parametrize("ttl", [0, -5, 301, 86_401, "sixty", 1.5])
async def test_ttl_out_of_bounds_is_refused(client: httpx.AsyncClient, ttl: object) -> None:
    response = await client.post(
        "/tokens", json={"userId": "u-1", "ttlSeconds": ttl}, headers=bearer(BILLING_KEY)
    )
    body = assert_problem(response, 422, "invalid-request")
    assert [e["pointer"] for e in body["errors"]] == ["/ttlSeconds"]


# --- 401 -------------------------------------------------------------------------------


async def test_missing_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/tokens", json={"userId": "u-1"})
    assert_problem(response, 401, "missing-api-key")
    assert response.headers["www-authenticate"] == 'Bearer realm="spot-sso"'


@pytest.mark.parametrize(
    "headers",
    [
        bearer("sso_wrong"),
        {"X-API-Key": "sso_wrong"},
        {"Authorization": f"Basic {BILLING_KEY}"},
        {"Authorization": "Bearer "},
        {"Authorization": BILLING_KEY},
        {"Authorization": f"Bearer {BILLING_KEY}", "X-API-Key": PORTAL_KEY},
        bearer(BILLING_KEY[:-1]),
    ],
    ids=[
        "wrong-bearer",
        "wrong-header",
        "basic",
        "empty-bearer",
        "no-scheme",
        "two-keys",
        "prefix",
    ],
)
async def test_bad_key(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.post("/tokens", json={"userId": "u-1"}, headers=headers)
    assert_problem(response, 401, "invalid-api-key")
    assert response.headers["www-authenticate"] == 'Bearer realm="spot-sso", error="invalid_token"'
    assert BILLING_KEY not in response.text and PORTAL_KEY not in response.text


async def test_x_api_key_header_works(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", json={"userId": "u-1"}, headers={"X-API-Key": BILLING_KEY}
    )
    assert response.status_code == 200


async def test_second_key_of_a_client_works_during_a_rollover() -> None:
    from service.runtime.clients import key_digest

    new_key = "sso_test-billing-key-after-rollover-0123456789"
    settings = make_settings(
        clients={"billing": {"key_sha256": [key_digest(BILLING_KEY), key_digest(new_key)]}}
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for key in (BILLING_KEY, new_key):
            response = await http.post("/tokens", json={"userId": "u-1"}, headers=bearer(key))
            assert response.status_code == 200


# --- 403 / 404 ---------------------------------------------------------------------------


async def test_client_may_not_use_another_spot(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", json={"spot": "other", "userId": "u-1"}, headers=bearer(BILLING_KEY)
    )
    body = assert_problem(response, 403, "spot-not-allowed")
    assert "billing" in body["detail"] and "other" in body["detail"]


async def test_client_may_not_use_another_spot_by_id(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", json={"spot": OTHER_ID, "userId": "u-1"}, headers=bearer(BILLING_KEY)
    )
    assert_problem(response, 403, "spot-not-allowed")


async def test_unknown_spot(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", json={"spot": "nope", "userId": "u-1"}, headers=bearer(BILLING_KEY)
    )
    assert_problem(response, 404, "unknown-spot")


async def test_unknown_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/tokens", json={"userId": "u-404"}, headers=bearer(BILLING_KEY))
    body = assert_problem(response, 404, "unknown-user")
    assert "u-404" in body["detail"]


# --- 422 / 415 ---------------------------------------------------------------------------


async def test_every_bad_field_is_listed(client: httpx.AsyncClient) -> None:
    user = {
        **ADA,
        "email": "nope",
        "firstName": "",
        "avatarUrl": "ftp://x.example/a.png",
        "title": "x" * 256,
    }
    response = await client.post(
        "/tokens", json={"user": user, "ttlSeconds": 0}, headers=bearer(BILLING_KEY)
    )
    body = assert_problem(response, 422, "invalid-request")
    pointers = sorted(e["pointer"] for e in body["errors"])
    assert pointers == sorted(
        ["/user/email", "/user/firstName", "/user/avatarUrl", "/user/title", "/ttlSeconds"]
    )
    assert all(e["detail"] for e in body["errors"])


@pytest.mark.parametrize(
    ("payload", "pointer"),
    [
        ({"spot": "main"}, ""),
        ({"userId": "u-1", "user": ADA}, ""),
        ({"userId": ""}, "/userId"),
        ({"userId": "u-1", "colour": "blue"}, "/colour"),
        ({"user": {**ADA, "role": "admin"}}, "/user/role"),
        ({"user": {k: v for k, v in ADA.items() if k != "email"}}, "/user/email"),
        ({"userId": 42}, "/userId"),
        ([], ""),
        ("u-1", ""),
    ],
    ids=[
        "no-user",
        "both-users",
        "empty-user-id",
        "unknown-field",
        "unknown-claim",
        "missing-email",
        "id-not-string",
        "array-body",
        "string-body",
    ],
)
async def test_invalid_bodies(client: httpx.AsyncClient, payload: object, pointer: str) -> None:
    response = await client.post("/tokens", json=payload, headers=bearer(BILLING_KEY))
    body = assert_problem(response, 422, "invalid-request")
    assert pointer in [e["pointer"] for e in body["errors"]]


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens",
        content=b'{"userId": "u-1",',
        headers={**bearer(BILLING_KEY), "content-type": "application/json"},
    )
    body = assert_problem(response, 422, "invalid-request")
    assert "not valid JSON" in body["errors"][0]["detail"]


async def test_empty_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", headers={**bearer(BILLING_KEY), "content-type": "application/json"}
    )
    body = assert_problem(response, 422, "invalid-request")
    assert body["errors"][0]["detail"] == "a JSON body is required"


async def test_form_body_is_unsupported(client: httpx.AsyncClient) -> None:
    response = await client.post("/tokens", data={"userId": "u-1"}, headers=bearer(BILLING_KEY))
    body = assert_problem(response, 415, "unsupported-media-type")
    assert "application/json" in body["detail"]


# --- 502 / 503 / 403 from the identity source ----------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "slug"),
    [
        ("down", 503, "identity-unavailable"),
        ("garbage", 502, "identity-bad-response"),
        ("denied", 403, "user-not-allowed"),
    ],
)
async def test_identity_failures(mode: str, status: int, slug: str) -> None:
    app = failing_app(mode)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        response = await http.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
        assert_problem(response, status, slug)
        healthy = await http.get("/healthz")
        assert healthy.status_code == 200


async def test_user_body_does_not_need_the_identity_source() -> None:
    app = failing_app("down")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        response = await http.post("/tokens", json={"user": ADA}, headers=bearer(BILLING_KEY))
        assert response.status_code == 200


async def test_unusable_profile_names_the_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", json={"userId": "u-bad-email"}, headers=bearer(BILLING_KEY)
    )
    body = assert_problem(response, 502, "unusable-profile")
    assert [e["pointer"] for e in body["errors"]] == ["/email"]
    assert "not-an-email" not in response.text


async def test_unexpected_error_is_a_plain_500() -> None:
    app = failing_app("crash")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post("/tokens", json={"userId": "u-1"}, headers=bearer(BILLING_KEY))
    assert_problem(response, 500, "internal-error")
    assert "Traceback" not in response.text and "main-spot-test-key" not in response.text


# --- generic HTTP errors and request ids ---------------------------------------------------


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404, "not-found")
    assert_problem(await client.get("/tokens"), 405, "method-not-allowed")


async def test_request_id_is_honoured_or_created(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\x7f" + "x" * 200})
    assert hostile.headers["x-request-id"] != "a b"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_the_key_is_checked_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 401, "missing-api-key")


async def test_json_without_content_type_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/tokens", content=b'{"userId": "u-1"}', headers=bearer(BILLING_KEY)
    )
    assert "content-type" not in response.request.headers
    assert response.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/problem+json"]
)
async def test_json_content_types(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/tokens",
        content=b'{"userId": "u-1"}',
        headers={**bearer(BILLING_KEY), "content-type": content_type},
    )
    assert response.status_code == 200
