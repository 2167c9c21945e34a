"""A real OpenID provider for the tests: panva's ``oidc-provider`` (npm, tests/support/oidc)
on 127.0.0.1, and a driver for its development login and consent pages.

``.ci/run`` installs its packages (``npm ci`` from the lockfile); elsewhere the tests skip
when Node or the packages are missing (``REQUIRE_OIDC=1`` makes that a failure).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.hosts import free_port
from tests.support.paths import ROOT

PROVIDER_DIR = ROOT / "tests" / "support" / "oidc"
CLIENT_ID = "spot-sso-tests"
CLIENT_SECRET = "a-test-client-secret-for-the-provider-0123456789"  # test value only
REDIRECT_URI = "http://127.0.0.1:8000/oidc/callback"  # tests' public_url + the callback
START_SECONDS = 20.0


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

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
    if shutil.which("node") is None:
        return "node is not installed"
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return "oidc-provider is not installed (npm ci --prefix tests/support/oidc)"
    return None


def start_provider(
    accounts: Mapping[str, Mapping[str, Any]], jwks: Mapping[str, Any] | None = None
) -> Provider:
    """The provider on a free port of 127.0.0.1, one confidential client, ``accounts``;
    ``jwks``: its signing keys (private JWKs), so a test can sign as the provider."""
    why = provider_available()
    if why is not None:
        if os.environ.get("REQUIRE_OIDC"):
            pytest.fail(f"the OpenID provider cannot run: {why}")
        pytest.skip(f"the OpenID provider cannot run: {why}")
    port = free_port()
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENT": json.dumps(client),
        "OIDC_ACCOUNTS": json.dumps(accounts),
        **({"OIDC_JWKS": json.dumps(jwks)} if jwks else {}),
    }
    process = subprocess.Popen(
        ["node", "server.mjs"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    provider = Provider(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the OpenID provider exited at start")
        try:
            if httpx.get(
                f"{provider.issuer}/.well-known/openid-configuration", timeout=1
            ).is_success:
                return provider
        except httpx.HTTPError:
            time.sleep(0.1)
    provider.stop()
    raise RuntimeError(f"the OpenID provider did not start within {START_SECONDS:g} s")


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
