"""The OpenID Connect adapter against a real OpenID provider (oidc-provider on Node).

spot-sso runs in process; the provider on 127.0.0.1. A browser is played by an httpx
client that signs in on the provider's development pages; the provider's answer to
spot-sso's callback is handed to the app as the browser would bring it. Tampered ID
tokens are signed with the provider's own key (the tests give it its keys), or with
another, and swapped into the token endpoint's real answer.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from fastapi import FastAPI
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from service.web.app import create_app
from tests.support.cli import run
from tests.support.config import write_config
from tests.support.hosts import free_port
from tests.support.oidc_provider import (
    ACCOUNTS,
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    sign_in,
    start_provider,
)
from tests.support.settings import MAIN_ID, MAIN_KEY, make_settings

MS = "https://go.meltingspot.io"
CALLBACK = f"{MS}/spot/{MAIN_ID}/sso"
PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key-1", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key-1", "use": "sig"})
RULES = {"groups": {"staff": ["g-staff"]}}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    running = start_provider(ACCOUNTS, jwks={"keys": [PROVIDER_KEY.as_dict(private=True)]})
    yield running
    running.stop()


Tamper = Callable[[dict[str, Any], dict[str, Any]], str]


class TokenTamperer(httpx.AsyncBaseTransport):
    """The real transport, with the token endpoint's ``id_token`` replaced by
    ``tamper(header, claims)`` of the real one, when a test sets it."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self.tamper: Tamper | None = None
        self.token_requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            self.token_requests.append(request)
        response = await self._real.handle_async_request(request)
        if self.tamper is None or not request.url.path.endswith("/token"):
            return response
        body = json.loads(await response.aread())
        header, claims = _parts(body["id_token"])
        body["id_token"] = self.tamper(header, claims)
        return httpx.Response(response.status_code, json=body)

    async def aclose(self) -> None:
        await self._real.aclose()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, payload, _ = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(head + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
    )


def signed(key: RSAKey, **changes: Any) -> Tamper:
    """A tamper: the real claims with ``changes`` (None removes), signed with ``key``."""

    def tamper(header: dict[str, Any], claims: dict[str, Any]) -> str:
        claims = {**claims, **changes}
        claims = {k: v for k, v in claims.items() if v is not None}
        return jose_jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, key)

    return tamper


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")  # noqa: E731
    return (encode({"alg": "none"}) + b"." + encode(claims) + b".").decode()


class Flow:
    """spot-sso in process (a browser's cookies kept) and the browser at the provider."""

    def __init__(self, app: FastAPI, spot: httpx.AsyncClient, tamperer: TokenTamperer) -> None:
        self.app, self.spot, self.tamperer = app, spot, tamperer
        self.browser = httpx.AsyncClient(timeout=10)

    async def start(self, **params: str) -> httpx.Response:
        return await self.spot.get("/authorize", params={"redirectUrl": CALLBACK, **params})

    async def at_provider(self, response: httpx.Response, login: str | None) -> httpx.URL:
        assert response.status_code == 302, response.text
        return await sign_in(self.browser, response.headers["location"], login)

    async def back(self, url: httpx.URL, **headers: str) -> httpx.Response:
        return await self.spot.get(f"{url.path}?{url.query.decode()}", headers=headers)

    async def login(self, login: str) -> httpx.Response:
        return await self.back(await self.at_provider(await self.start(), login))


@pytest.fixture
async def flow(provider: Provider) -> AsyncIterator[Flow]:
    async with _flow(provider) as running:
        yield running


class _flow:
    def __init__(self, provider: Provider, spots: dict[str, Any] | None = None, **oidc: Any):
        self.tamperer = TokenTamperer()
        http = httpx.AsyncClient(transport=self.tamperer, timeout=10)
        settings = make_settings(identity=provider.settings(**oidc), spots={"main": spots or RULES})
        self.app = create_app(settings, http=http)

    async def __aenter__(self) -> Flow:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 50000))
        self._spot = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")
        self.flow = Flow(self.app, self._spot, self.tamperer)
        return self.flow

    async def __aexit__(self, *exc: object) -> None:
        await self.flow.browser.aclose()
        await self._spot.aclose()
        await self._lifespan.__aexit__(None, None, None)


def token_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 302, response.text
    location = httpx.URL(response.headers["location"])
    assert str(location).startswith(CALLBACK)
    token = location.params["token"]
    return pyjwt.decode(token, MAIN_KEY, algorithms=["HS256"])


def refused(response: httpx.Response, slug: str = "login-refused", status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "token=" not in response.text
    return response.text


# --- the flow ------------------------------------------------------------------------


async def test_a_browser_signs_in_at_the_provider_and_lands_on_the_spot(flow: Flow) -> None:
    start = await flow.start()
    assert start.status_code == 302
    location = httpx.URL(start.headers["location"])
    assert location.params["code_challenge_method"] == "S256"
    assert location.params["client_id"] == CLIENT_ID
    assert {"state", "nonce", "code_challenge"} <= set(location.params)
    cookie = start.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    claims = token_of(await flow.back(await flow.at_provider(start, "ada")))
    assert (claims["sub"], claims["email"]) == ("ada", "ada@example.com")
    assert (claims["firstName"], claims["lastName"]) == ("Ada", "Lovelace")
    assert (claims["lang"], claims["timezone"]) == ("fr", "Europe/London")
    assert claims["groups:join"] == ["g-staff"]
    [request] = flow.tamperer.token_requests  # client_secret_basic by default, with PKCE
    assert request.headers["authorization"].startswith("Basic ")
    assert "code_verifier=" in request.content.decode()


async def test_a_second_login_goes_through_without_a_page(flow: Flow) -> None:
    token_of(await flow.login("ada"))
    again = await flow.at_provider(await flow.start(), login=None)  # the provider's session
    assert token_of(await flow.back(again))["sub"] == "ada"


async def test_a_name_is_split_when_given_and_family_names_are_missing(flow: Flow) -> None:
    claims = token_of(await flow.login("cy"))
    assert (claims["firstName"], claims["lastName"]) == ("Cy", "Young")


async def test_an_unverified_email_is_refused(flow: Flow) -> None:
    assert "email_verified" in refused(await flow.login("bob"))


async def test_trusted_provider_emails_may_be_unverified(provider: Provider) -> None:
    async with _flow(provider, trust_unverified_email=True) as flow:
        assert token_of(await flow.login("bob"))["email"] == "bob@example.com"


async def test_a_user_outside_the_required_groups_gets_the_access_denied_page(
    provider: Provider,
) -> None:
    async with _flow(provider, spots={"require_groups": ["staff"]}) as flow:
        assert token_of(await flow.login("ada"))["sub"] == "ada"
        flow.browser.cookies.clear()  # signed out at the provider: cy signs in next
        assert "staff" in refused(await flow.login("cy"), status=403)


async def test_prompt_none_falls_back_to_an_interactive_login(provider: Provider) -> None:
    async with _flow(provider, prompt_none=True) as flow:
        start = await flow.start()
        assert httpx.URL(start.headers["location"]).params["prompt"] == "none"
        answer = await flow.at_provider(start, login=None)
        assert answer.params["error"] == "login_required"
        again = await flow.back(answer)  # sent to the provider again, interactively
        assert again.status_code == 302
        assert "prompt" not in httpx.URL(again.headers["location"]).params
        assert token_of(await flow.back(await flow.at_provider(again, "ada")))["sub"] == "ada"


# --- refusals ----------------------------------------------------------------------


async def test_a_replayed_state_is_refused(flow: Flow) -> None:
    answer = await flow.at_provider(await flow.start(), "ada")
    token_of(await flow.back(answer))
    assert "already used" in refused(await flow.back(answer))


async def test_a_tampered_state_is_refused(flow: Flow) -> None:
    answer = await flow.at_provider(await flow.start(), "ada")
    state = answer.params["state"]
    forged = answer.copy_set_param("state", state[:-1] + ("y" if state.endswith("x") else "x"))
    assert forged.params["state"] != state
    refused(await flow.back(forged))


async def test_a_replayed_code_is_refused(flow: Flow) -> None:
    """The same code brought back with another login of the same browser."""
    first = await flow.at_provider(await flow.start(), "ada")
    second = await flow.at_provider(await flow.start(), login=None)
    token_of(await flow.back(first))
    replay = second.copy_set_param("code", first.params["code"])
    assert "refused to complete" in refused(await flow.back(replay))


async def test_another_browser_cannot_finish_the_login(flow: Flow) -> None:
    answer = await flow.at_provider(await flow.start(), "ada")
    flow.spot.cookies.clear()
    assert "another browser" in refused(await flow.back(answer))


async def test_a_redirect_url_swapped_in_the_pending_login_is_checked_again(
    flow: Flow,
) -> None:
    answer = await flow.at_provider(await flow.start(), "ada")
    logins = flow.app.state.runtime.logins
    pending = await logins.take(answer.params["state"])
    await logins.put(pending.state, replace(pending, redirect_url="https://evil.example/x"))
    assert "not allowed" in refused(await flow.back(answer), status=400)


async def test_an_error_from_the_provider_is_a_page(flow: Flow) -> None:
    answer = await flow.at_provider(await flow.start(), "ada")
    denied = httpx.URL(answer, params={"state": answer.params["state"], "error": "access_denied"})
    assert "access_denied" in refused(await flow.back(denied))


@pytest.mark.parametrize(
    ("name", "tamper", "words"),
    [
        ("wrong nonce", signed(PROVIDER_KEY, nonce="another-nonce"), "nonce"),
        ("wrong aud", signed(PROVIDER_KEY, aud="another-client"), "aud"),
        ("expired", signed(PROVIDER_KEY, exp=int(time.time()) - 3600), "exp"),
        ("wrong iss", signed(PROVIDER_KEY, iss="https://evil.example"), "iss"),
        ("unknown key", signed(OTHER_KEY), "refused"),
        ("alg none", unsigned, "refused"),
    ],
)
async def test_a_tampered_id_token_is_refused(
    flow: Flow, name: str, tamper: Tamper, words: str
) -> None:
    flow.tamperer.tamper = tamper
    page = refused(await flow.login("ada"))
    assert "ID token was refused" in page and words in page, (name, page)


async def test_the_tamperer_itself_passes_a_token_signed_with_the_provider_key(
    flow: Flow,
) -> None:
    """The control for the cases above: the provider's key and unchanged claims pass."""
    flow.tamperer.tamper = signed(PROVIDER_KEY)
    assert token_of(await flow.login("ada"))["sub"] == "ada"


async def test_user_id_lookups_are_a_clear_problem(flow: Flow) -> None:
    from tests.support.settings import BILLING_KEY, bearer

    response = await flow.spot.post("/tokens", json={"userId": "ada"}, headers=bearer(BILLING_KEY))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["pointer"] == "/userId" and "cannot look users up by ID" in error["detail"]


# --- the command line --------------------------------------------------------------


def oidc_config(tmp_path: Path, provider: Provider, **oidc: Any) -> str:
    identity = {**provider.settings(**oidc), "static": None}
    return str(write_config(tmp_path / "oidc.toml", identity=identity, spots={"main": RULES}))


def test_check_config_fetches_the_discovery_document(
    tmp_path: Path, provider: Provider, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "check-config", "--config", oidc_config(tmp_path, provider))
    assert status == 0 and "readiness: identity: ok" in err
    assert CLIENT_SECRET not in out + err
    down = provider.settings()["oidc"] | {"issuer": f"http://127.0.0.1:{free_port()}"}
    path = write_config(
        tmp_path / "down.toml", identity={"adapter": "oidc", "oidc": down, "static": None}
    )
    status, _, err = run(capsys, "check-config", "--config", str(path))
    assert "readiness: identity: not ok (127.0.0.1:" in err and "cannot reach the discovery" in err
    status, _, err = run(capsys, "check-config", "--config", str(path), "--offline")
    assert status == 0 and "readiness: not checked (--offline)" in err


def test_explain_reads_an_id_tokens_claims(
    tmp_path: Path, provider: Provider, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"sub": "ada", **ACCOUNTS["ada"]}), encoding="utf-8")
    config = oidc_config(tmp_path, provider)
    args = ("explain", "--config", config, "--spot", "main", "--profile", str(claims), "--json")
    status, out, _ = run(capsys, *args)
    report = json.loads(out)
    assert status == 0 and report["claims"]["sub"] == "ada"
    assert report["claims"]["groups:join"] == ["g-staff"]
    claims.write_text(json.dumps({"sub": "bob", **ACCOUNTS["bob"]}), encoding="utf-8")
    status, _, err = run(capsys, *args)
    assert status != 0 and "email_verified" in err


CLIENT_KEY = RSAKey.generate_key(2048, parameters={"kid": "spot-sso-client", "use": "sig"})


@pytest.mark.parametrize(
    ("method", "settings"),
    [
        ("client_secret_post", {}),
        (
            "private_key_jwt",
            {"client_secret": None, "private_key": CLIENT_KEY.as_pem(private=True).decode()},
        ),
    ],
)
async def test_each_client_authentication_method_at_the_token_endpoint(
    method: str, settings: dict[str, Any]
) -> None:
    keys = {"keys": [CLIENT_KEY.as_dict(private=False)]} if method == "private_key_jwt" else None
    provider = start_provider(ACCOUNTS, auth_method=method, client_keys=keys)
    try:
        async with _flow(provider, token_endpoint_auth_method=method, **settings) as flow:
            assert token_of(await flow.login("ada"))["sub"] == "ada"
            [request] = flow.tamperer.token_requests
            body = request.content.decode()
            assert "authorization" not in request.headers  # no client_secret_basic
            if method == "client_secret_post":
                assert f"client_secret={CLIENT_SECRET}" in body
            else:
                assert "client_assertion=" in body and CLIENT_SECRET not in body
        if method == "private_key_jwt":  # this client has no secret: a secret is refused
            async with _flow(provider, token_endpoint_auth_method="client_secret_basic") as flow:
                assert "refused to complete" in refused(await flow.login("ada"))
    finally:
        provider.stop()
