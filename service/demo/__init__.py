"""The built-in demo: a configuration with demo keys and users, run by ``spot-sso demo``.

Every secret here carries ``DEMO-ONLY``: they are public, committed on purpose, and
``spot-sso serve`` refuses to start with any of them.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI

from service.config import Settings, load_settings
from service.security import key_digest

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

DEMO_BASE: Final[dict[str, Any]] = {
    "public_url": "http://127.0.0.1:8000",
    "spots": {
        "demo": {
            "id": DEMO_SPOT_ID,
            "private_key": DEMO_PRIVATE_KEY,
            "redirect_origins": ["https://go.meltingspot.io", "http://127.0.0.1:8000"],
        }
    },
    "clients": {"demo": {"key_sha256": [key_digest(DEMO_API_KEY)], "spots": ["demo"]}},
    "identity": {"adapter": "static", "static": {"users": DEMO_USERS}},
}


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
    return found


def demo_app_from_environment() -> FastAPI:
    """Uvicorn factory for ``spot-sso demo``: the demo base under any file and env."""
    from service.app import create_app
    from service.observability import configure_logging

    settings = load_settings(base=DEMO_BASE)
    configure_logging(settings.log_level)
    return create_app(settings)
