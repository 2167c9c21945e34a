"""The built-in demo: a configuration with demo keys and users, run by ``spot-sso demo``.

Every secret here carries ``DEMO-ONLY``: they are public, committed on purpose, and
``spot-sso serve`` refuses to start with any of them.
"""

from __future__ import annotations

import os
from typing import Any, Final

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from service.demo.host import MOUNT_PATH as HOST_PATH
from service.demo.host import create_host_app, host_identity_config
from service.demo.spot import MOUNT_PATH as SPOT_PATH
from service.demo.spot import Explain, Reasons, callback_url, create_spot_app, widget_script_url
from service.errors import ServiceError
from service.runtime.clients import key_digest
from service.runtime.explain import explain
from service.runtime.runtime import Runtime
from service.settings.model import Settings, load_settings

DEMO_MARKER: Final = "DEMO-ONLY"
DEMO_SPOT_ID: Final = "7d1e5c4a-0d3b-4e8a-9c2f-5a6b7c8d9e01"
DEMO_PRIVATE_KEY: Final = "DEMO-ONLY-spot-private-key-public-and-not-secret"
DEMO_API_KEY: Final = "sso_DEMO-ONLY-api-key-public-and-not-secret"
DEMO_USERS: Final[list[dict[str, Any]]] = [
    {
        "id": "u-ada",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "title": "Analyst",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "groups": ["staff"],
    },
    {
        "id": "u-marie",
        "email": "marie@example.org",
        "first_name": "Marie",
        "last_name": "Curie",
        "title": "Researcher",
        "locale": "fr-FR",
        "timezone": "Europe/Paris",
        "groups": ["premium"],
    },
    {
        "id": "u-emmy",
        "email": "emmy@example.net",
        "first_name": "Emmy",
        "last_name": "Noether",
        "locale": "de",
        "timezone": "Europe/Berlin",
    },
]

DEMO_HOST_API_TOKEN: Final = "DEMO-ONLY-host-api-token-public-and-not-secret"  # noqa: S105 (public)
DEMO_PORT_ENV: Final = "SPOT_SSO_DEMO_PORT"
DEFAULT_PORT: Final = 8000


def demo_url(port: int = DEFAULT_PORT) -> str:
    """Where the demo serves: MeltingSpot wants 127.0.0.1, never localhost."""
    return f"http://127.0.0.1:{port}"


def demo_base(port: int = DEFAULT_PORT) -> dict[str, Any]:
    """The demo's configuration: one Spot, one client, the HTTP adapter on the demo host."""
    public_url = demo_url(port)
    return {
        "public_url": public_url,
        "spots": {
            "demo": {
                "id": DEMO_SPOT_ID,
                "private_key": DEMO_PRIVATE_KEY,
                "redirect_origins": ["https://go.meltingspot.io", public_url],
                "entry_url": callback_url(public_url),
                # Rules, so the mock Spot shows group sync and a custom property at work.
                "groups": {"staff": ["demo-group-staff"], "premium": ["demo-group-premium"]},
                "properties": {"job": "title", "source": {"value": "spot-sso demo"}},
            }
        },
        "clients": {"demo": {"key_sha256": [key_digest(DEMO_API_KEY)], "spots": ["demo"]}},
        "identity": {
            "adapter": "http",
            "http": host_identity_config(public_url, DEMO_HOST_API_TOKEN),
        },
    }


DEMO_BASE: Final[dict[str, Any]] = demo_base()


def demo_values_in(settings: Settings) -> list[str]:
    """The demo secrets ``settings`` still uses; production must use none."""
    demo_digest = key_digest(DEMO_API_KEY)
    found = [
        f"spots.{alias}.private_key is the public demo key"
        for alias, spot in settings.spots.items()
        if DEMO_MARKER in spot.key.get_secret_value()
    ]
    found += [
        f"clients.{name}.key_sha256 is the digest of the public demo API key"
        for name, client in settings.clients.items()
        if demo_digest in client.key_sha256
    ]
    http = settings.identity.http
    if http is not None and http.token is not None and DEMO_MARKER in http.token.get_secret_value():
        found.append("identity.http.token is the demo host's public token")
    oidc = settings.identity.oidc
    secret = oidc.client_secret if oidc is not None else None
    if secret is not None and DEMO_MARKER in secret.get_secret_value():
        found.append("identity.oidc.client_secret is the demo provider's public secret")
    lookup = oidc.lookup if oidc is not None else None
    if lookup is not None and lookup.token and DEMO_MARKER in lookup.token.get_secret_value():
        found.append("identity.oidc.lookup.token is the demo host's public token")
    return found


def create_demo_app(settings: Settings) -> FastAPI:
    """The service for ``settings`` with the demo host platform and mock Spot mounted."""
    from service.web.app import create_app

    app = create_app(settings)
    public_url = settings.public_url
    spot = settings.spots["demo"]
    host = create_host_app(
        DEMO_USERS,
        DEMO_HOST_API_TOKEN,
        public_url,
        sso_api_key=DEMO_API_KEY,
        widget_script=widget_script_url(public_url),
    )
    app.mount(HOST_PATH, host)
    community = f"{public_url.rstrip('/')}{HOST_PATH}/community"
    app.mount(
        SPOT_PATH,
        create_spot_app(
            spot.id,
            spot.key.get_secret_value(),
            public_url,
            embed_page=community,
            explain=_explainer(app.state.runtime, "demo"),
        ),
    )

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{SPOT_PATH}/", status_code=302)

    return app


def _explainer(runtime: Runtime, alias: str) -> Explain:
    """What the mock Spot's welcome page shows of each claim: ``spot-sso explain``'s
    reasons for the token's user, looked up again by its ``sub`` (none if that fails)."""

    async def reasons(claims: dict[str, Any]) -> Reasons:
        try:
            profile = await runtime.adapter.fetch_user(str(claims.get("sub", "")))
        except ServiceError:
            return ()
        if profile is None:
            return ()
        report = explain(runtime, alias, profile)
        return list(report.get("reasons", ()))

    return reasons


def demo_app_from_environment() -> FastAPI:
    """Uvicorn factory for ``spot-sso demo``: the demo base under any file and env."""
    from service.observability.logs import configure_logging

    settings = load_settings(base=demo_base(int(os.environ.get(DEMO_PORT_ENV, DEFAULT_PORT))))
    configure_logging(settings.log_level, settings.log_format, settings.credential_names())
    return create_demo_app(settings)
