"""The demo's OpenID provider, for ``spot-sso demo --oidc``: panva's ``oidc-provider`` on
Node (``service/demo/oidc``), on 127.0.0.1, with the demo users as its accounts. The tests
run the same server.

It needs Node.js (18 or later) and npm: the first run installs its packages from the
lockfile (``npm ci``). Its client secret is a public demo value, refused by ``serve``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import httpx

PROVIDER_DIR: Final = Path(__file__).resolve().parent / "oidc"
DEMO_OIDC_CLIENT_ID: Final = "spot-sso-demo"
DEMO_OIDC_CLIENT_SECRET: Final = "DEMO-ONLY-oidc-client-secret-public-and-not-secret"  # noqa: S105 (public)
INSTALL_SECONDS: Final = 180
START_SECONDS: Final = 20.0


class ProviderUnavailable(Exception):
    """The provider cannot run here; the message says why and what to do."""


def installed() -> bool:
    return (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir()


def prepare(*, install: bool = True) -> None:
    """Node is here and the provider's packages are installed (``npm ci`` when not)."""
    if shutil.which("node") is None:
        raise ProviderUnavailable("Node.js is not installed: the OpenID provider runs on Node")
    if installed():
        return
    npm = shutil.which("npm")
    if not install or npm is None:
        raise ProviderUnavailable(f"oidc-provider is not installed: npm ci --prefix {PROVIDER_DIR}")
    done = subprocess.run(  # noqa: S603 - a fixed command, no user input
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(PROVIDER_DIR)],
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
        check=False,
    )
    if done.returncode != 0 or not installed():
        raise ProviderUnavailable(f"npm ci failed: {done.stderr.strip()[-300:]}")


def accounts_of(users: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The provider's accounts: each user's profile as standard OpenID claims."""
    names = {
        "email": "email",
        "first_name": "given_name",
        "last_name": "family_name",
        "title": "title",
        "locale": "locale",
        "timezone": "zoneinfo",
        "groups": "groups",
    }
    return {
        user["id"]: {
            "email_verified": True,
            **{claim: user[field] for field, claim in names.items() if field in user},
        }
        for user in users
    }


def start(
    port: int,
    redirect_uri: str,
    accounts: Mapping[str, Mapping[str, Any]],
    *,
    client_id: str = DEMO_OIDC_CLIENT_ID,
    client_secret: str = DEMO_OIDC_CLIENT_SECRET,
    jwks: Mapping[str, Any] | None = None,
    auth_method: str = "client_secret_basic",
    client_keys: Mapping[str, Any] | None = None,
) -> subprocess.Popen[bytes]:
    """The provider on ``127.0.0.1:port``, answering; its own process group. It exits by
    itself when this process ends, whatever ends it."""
    client = {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
        **({"jwks": client_keys} if client_keys else {}),  # private_key_jwt: the public key
    }
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENT": json.dumps(client),
        "OIDC_ACCOUNTS": json.dumps(accounts),
        "OIDC_PARENT_PID": str(os.getpid()),  # it exits when this process is gone
        **({"OIDC_JWKS": json.dumps(jwks)} if jwks else {}),
    }
    node = shutil.which("node") or "node"
    process = subprocess.Popen(  # noqa: S603 - a fixed command, no user input
        [node, "server.mjs"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProviderUnavailable(f"the OpenID provider exited ({process.returncode})")
        try:
            if httpx.get(url, timeout=1).is_success:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(process)
    raise ProviderUnavailable(f"the OpenID provider did not answer within {START_SECONDS:g} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ends the provider: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def environment(issuer: str, lookup: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The settings, as environment variables, that make the demo sign in at ``issuer``;
    ``lookup`` is ``[identity.oidc.lookup]`` (``POST /tokens`` by ``userId``)."""
    variables = {
        "SPOT_SSO_IDENTITY__ADAPTER": "oidc",
        "SPOT_SSO_IDENTITY__OIDC__ISSUER": issuer,
        "SPOT_SSO_IDENTITY__OIDC__CLIENT_ID": DEMO_OIDC_CLIENT_ID,
        "SPOT_SSO_IDENTITY__OIDC__CLIENT_SECRET": DEMO_OIDC_CLIENT_SECRET,
        "SPOT_SSO_IDENTITY__OIDC__SCOPES": json.dumps(["openid", "email", "profile", "groups"]),
    }
    for name, value in (lookup or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        variables[f"SPOT_SSO_IDENTITY__OIDC__LOOKUP__{name.upper()}"] = text
    return variables
