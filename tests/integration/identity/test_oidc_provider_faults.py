"""The OIDC adapter against a provider's faults that are hard to produce with a real one:
keys rotated between two logins, a discovery document naming another issuer, an
HMAC-only provider, documents too large or not JSON. ``httpx.MockTransport`` plays the
provider's discovery and key set; ID tokens are signed here."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from service.errors import (
    IdentityBadResponse,
    IdentityUnavailable,
    InvalidRequest,
    LoginRefused,
    ProfileUnusable,
)
from service.identity.oidc import OidcAdapter
from service.settings.identity import OidcAdapterConfig
from tests.support.host_app import SERVICE_TOKEN, HostPlatform, serve

ISSUER = "https://id.example.com"
CLIENT = "spot-sso"


class FakeProvider:
    """Discovery and JWKS of ``ISSUER``; counts each fetch."""

    def __init__(self, *keys: RSAKey, **metadata: Any) -> None:
        self.keys = list(keys)
        self.metadata = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            **metadata,
        }
        self.fetches: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches.append(request.url.path)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.metadata)
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.keys]})
        return httpx.Response(404)


def adapter_for(provider: FakeProvider, **config: Any) -> OidcAdapter:
    settings = OidcAdapterConfig.model_validate(
        {
            "issuer": ISSUER,
            "client_id": CLIENT,
            "client_secret": "a-real-looking-secret-0123",
            **config,
        }
    )
    return OidcAdapter(settings, httpx.AsyncClient(transport=httpx.MockTransport(provider.handler)))


def key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})


def id_token(signer: RSAKey, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "u-1",
        "iat": now,
        "exp": now + 300,
        "nonce": "n",
    }
    return jwt.encode({"alg": "RS256", "kid": signer.kid}, {**claims, **changes}, signer)


async def test_a_key_rotated_in_is_fetched_once_then_kept() -> None:
    old, new = key("k1"), key("k2")
    provider = FakeProvider(old)
    adapter = adapter_for(provider)
    assert (await adapter._verify(id_token(old), "n", None))["sub"] == "u-1"
    provider.keys = [old, new]  # the provider rotates
    assert (await adapter._verify(id_token(new), "n", None))["sub"] == "u-1"
    assert (await adapter._verify(id_token(new), "n", None))["sub"] == "u-1"
    assert provider.fetches.count("/jwks") == 2  # once at first, once for the new kid


async def test_unknown_keys_refetch_the_key_set_at_most_once_a_minute() -> None:
    provider = FakeProvider(key("k1"))
    adapter = adapter_for(provider)
    stranger = key("k-unknown")
    for _ in range(3):
        with pytest.raises(LoginRefused, match="ID token was refused"):
            await adapter._verify(id_token(stranger), "n", None)
    assert provider.fetches.count("/jwks") == 2  # the first fetch, then one refresh


async def test_a_discovery_document_naming_another_issuer_is_refused() -> None:
    adapter = adapter_for(FakeProvider(key("k1"), issuer="https://evil.example"))
    with pytest.raises(IdentityBadResponse, match=r"names the issuer 'https://evil\.example'"):
        await adapter.metadata()


async def test_a_provider_signing_only_with_hmac_or_none_is_refused() -> None:
    signer = key("k1")
    adapter = adapter_for(
        FakeProvider(signer, id_token_signing_alg_values_supported=["HS256", "none"])
    )
    with pytest.raises(IdentityBadResponse, match="spot-sso accepts RS256"):
        await adapter._verify(id_token(signer), "n", None)


async def test_an_unreachable_provider_is_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    settings = OidcAdapterConfig(
        issuer=ISSUER, client_id=CLIENT, client_secret="a-real-secret-0123456"
    )
    adapter = OidcAdapter(settings, httpx.AsyncClient(transport=httpx.MockTransport(down)))
    with pytest.raises(IdentityUnavailable, match=r"id\.example\.com: cannot reach the discovery"):
        await adapter.ready()


@pytest.mark.parametrize(
    ("body", "words"),
    [(b"<html>", "not JSON"), (b"[]", "not a JSON object"), (b"{" + b" " * 1_100_000, "larger")],
)
async def test_a_broken_discovery_document_is_a_bad_response(body: bytes, words: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    settings = OidcAdapterConfig(
        issuer=ISSUER, client_id=CLIENT, client_secret="a-real-secret-0123456"
    )
    adapter = OidcAdapter(settings, httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    with pytest.raises(IdentityBadResponse, match=words):
        await adapter.metadata()


def test_claims_map_to_a_profile_by_the_configured_paths() -> None:
    adapter = adapter_for(
        FakeProvider(),
        fields={"groups": "realm_access.roles"},
        attributes={"department": "org.department"},
    )
    profile = adapter.profile(
        {
            "sub": "u-1",
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada King Lovelace",
            "picture": "https://img.example.com/ada.png",
            "realm_access": {"roles": ["staff", "admins"]},
            "org": {"department": "Research"},
        }
    )
    assert (profile.id, profile.first_name, profile.last_name) == ("u-1", "Ada King", "Lovelace")
    assert profile.groups == ["staff", "admins"]
    assert profile.avatar_url == "https://img.example.com/ada.png"
    assert profile.attributes == {"department": "Research"}


def test_claims_without_a_usable_name_name_the_missing_claims() -> None:
    adapter = adapter_for(FakeProvider())
    with pytest.raises(ProfileUnusable, match="family_name"):
        adapter.profile(
            {"sub": "u-1", "email": "a@example.com", "email_verified": True, "name": "Ada"}
        )


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"issuer": "http://id.example.com"}, "https URL"),
        ({"issuer": "https://id.example.com?x=1"}, "plain URL"),
        ({"client_secret": None}, "needs client_secret"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "needs private_key"),
        ({"scopes": ["email"]}, "openid"),
        ({"client_secret": "changeme"}, "placeholder"),
    ],
)
def test_settings_refuse_what_cannot_work(config: dict[str, Any], words: str) -> None:
    data = {
        "issuer": ISSUER,
        "client_id": CLIENT,
        "client_secret": "a-real-secret-0123456",
        **config,
    }
    with pytest.raises(ValueError, match=words):
        OidcAdapterConfig.model_validate(data)


def test_a_local_http_issuer_is_allowed_for_development() -> None:
    config = OidcAdapterConfig(
        issuer="http://127.0.0.1:9000", client_id=CLIENT, client_secret="a-real-secret-0123456"
    )
    assert config.userinfo and not config.prompt_none and not config.trust_unverified_email


# --- users by ID: the lookup ---------------------------------------------------------

SCIM_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "2819c223",
    "userName": "bjensen",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [{"value": "bjensen@example.com", "primary": True}],
    "title": "Tour Guide",
}
SCIM_LOOKUP = {
    "user_url": "http://host.test/api/users/{user_id}",
    "token": SERVICE_TOKEN,
    "fields": {
        "email": "emails.0.value",
        "first_name": "name.givenName",
        "last_name": "name.familyName",
    },
    "user_cache_ttl_seconds": 0,
}


async def test_a_configured_lookup_answers_users_by_id_from_a_scim_shaped_api() -> None:
    host = HostPlatform(users={"2819c223": SCIM_USER})
    async with serve(host) as http:
        settings = OidcAdapterConfig(
            issuer=ISSUER, client_id=CLIENT, client_secret="a-real-secret-0123456",
            lookup=SCIM_LOOKUP,
        )  # fmt: skip
        adapter = OidcAdapter(settings, http)
        profile = await adapter.fetch_user("2819c223")
        assert profile is not None
        assert (profile.id, profile.email) == ("2819c223", "bjensen@example.com")
        assert (profile.first_name, profile.last_name, profile.title) == (
            "Barbara",
            "Jensen",
            "Tour Guide",
        )
        assert await adapter.fetch_user("nobody") is None
    assert host.received[0].headers["authorization"] == f"Bearer {SERVICE_TOKEN}"


async def test_without_a_lookup_users_by_id_are_a_clear_request_error() -> None:
    adapter = adapter_for(FakeProvider())
    with pytest.raises(InvalidRequest) as caught:
        await adapter.fetch_user("u-1")
    [error] = caught.value.errors
    assert error.pointer == "/userId" and "identity.oidc.lookup" in error.detail


def test_a_lookup_with_a_session_url_is_refused() -> None:
    lookup = {**SCIM_LOOKUP, "session_url": "http://host.test/me", "forward_cookies": ["sid"]}
    with pytest.raises(ValueError, match="set user_url only"):
        OidcAdapterConfig(
            issuer=ISSUER, client_id=CLIENT, client_secret="a-real-secret-0123456", lookup=lookup
        )
