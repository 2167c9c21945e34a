"""A real OpenID provider for the tests: panva's ``oidc-provider`` (npm, the demo's, in
service/demo/oidc) on 127.0.0.1, and a driver for its development login and consent pages.

``make test`` installs its packages (``npm ci`` from the lockfile) when npm is here; without
them the tests skip and say why (``REQUIRE_OIDC=1``, as in CI, makes that a failure).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from service.demo import oidc_provider
from tests.support.hosts import free_port

CLIENT_ID = "spot-sso-tests"
CLIENT_SECRET = "a-test-client-secret-for-the-provider-0123456789"  # test value only
REDIRECT_URI = "http://127.0.0.1:8000/oidc/callback"  # tests' public_url + the callback
# The provider's accounts: ada (verified, in staff), bob (email not verified), cy (no
# groups, a full name only).
ACCOUNTS: dict[str, dict[str, Any]] = {
    "ada": {
        "email": "ada@example.com",
        "email_verified": True,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "groups": ["staff"],
        "locale": "fr-FR",
        "zoneinfo": "Europe/London",
    },
    "bob": {"email": "bob@example.com", "email_verified": False, "name": "Bob Stone"},
    "cy": {"email": "cy@example.com", "email_verified": True, "name": "Cy Young"},
}


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        oidc_provider.stop(self.process)

    def settings(self, **oidc: Any) -> dict[str, Any]:
        """The ``identity`` settings of spot-sso against this provider."""
        return {
            "adapter": "oidc",
            "oidc": {
                "issuer": self.issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scopes": ["openid", "email", "profile", "groups"],
                **oidc,
            },
        }


def provider_available() -> str | None:
    """Why the provider cannot run here, or None when it can."""
    try:
        oidc_provider.prepare(install=False)
    except oidc_provider.ProviderUnavailable as exc:
        return str(exc)
    return None


def start_provider(
    accounts: Mapping[str, Mapping[str, Any]],
    jwks: Mapping[str, Any] | None = None,
    *,
    port: int | None = None,
    redirect_uri: str = REDIRECT_URI,
    auth_method: str = "client_secret_basic",
    client_keys: Mapping[str, Any] | None = None,
) -> Provider:
    """The provider on 127.0.0.1 (``port``, or a free one), one confidential client
    whose redirect URI is ``redirect_uri``, ``accounts``; ``jwks``: its signing keys
    (private JWKs), so a test can sign as the provider."""
    why = provider_available()
    if why is not None:
        if os.environ.get("REQUIRE_OIDC"):
            pytest.fail(f"the OpenID provider cannot run: {why}")
        pytest.skip(f"the OpenID provider cannot run: {why}")
    port = port or free_port()
    process = oidc_provider.start(
        port,
        redirect_uri,
        accounts,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        jwks=jwks,
        auth_method=auth_method,
        client_keys=client_keys,
    )
    return Provider(f"http://127.0.0.1:{port}", process)


def _inputs(form: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
        if name:
            values[name.group(1)] = value.group(1) if value else ""
    return values


async def sign_in(
    browser: httpx.AsyncClient, url: str, login: str | None, *, max_steps: int = 12
) -> httpx.URL:
    """Follow the provider from ``url`` (its authorization URL) as a browser would: the
    login page (as ``login``, any password), the consent page, until it sends the browser
    to spot-sso's callback; that URL. ``login=None``: no page may be needed on the way."""
    response = await browser.get(url)
    for _ in range(max_steps):
        if response.is_redirect:
            target = response.url.join(response.headers["location"])
            if str(target).startswith(REDIRECT_URI):
                return target
            response = await browser.get(target)
            continue
        form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', response.text, re.S)
        assert form is not None, f"no form on the provider's page: {response.text[:300]}"
        fields = _inputs(form.group(2))
        if "login" in fields:
            assert login is not None, "the provider asked for a login"
            fields.update(login=login, password="any")
        response = await browser.post(response.url.join(form.group(1)), data=fields)
    raise AssertionError("the provider never sent the browser back")
