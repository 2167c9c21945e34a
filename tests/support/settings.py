"""The tests' two-Spot settings, their API keys and users, built in process."""

from __future__ import annotations

from typing import Any

from service.runtime.clients import key_digest
from service.settings.model import Settings, deep_merge

# The member ledger is off in the tests' settings and written configs, so that no test
# sees another's members; the ledger's own tests turn it on, with a database of their own.
LEDGER_OFF: dict[str, Any] = {"enabled": False}

MAIN_ID = "129487c9-6acc-43d9-ab96-182ded763538"
OTHER_ID = "5f0c6a34-2b7e-4d0a-9d51-0a8b7c6d5e4f"
MAIN_KEY = "main-spot-test-key-0123456789abcdef-XYZ"
OTHER_KEY = "other-spot-test-key-0123456789abcdef-XYZ"
BILLING_KEY = "sso_test-billing-key-abcdefghijklmnopqrstuvwxyz"
PORTAL_KEY = "sso_test-portal-key-abcdefghijklmnopqrstuvwxyz"

USERS: list[dict[str, Any]] = [
    {
        "id": "u-1",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "title": "Analyst",
        "locale": "fr-FR",
        "timezone": "europe/london",
        "groups": ["staff"],
    },
    {"id": "u-bad-email", "email": "not-an-email", "first_name": "Bad", "last_name": "Mail"},
]


def settings_data(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "public_url": "http://127.0.0.1:8000",
        "spots": {
            "main": {"id": MAIN_ID, "private_key": MAIN_KEY, "default_timezone": "Europe/Berlin"},
            "other": {"id": OTHER_ID, "private_key": OTHER_KEY, "default_lang": "de"},
        },
        "clients": {
            "billing": {"key_sha256": [key_digest(BILLING_KEY)], "spots": ["main"]},
            "portal": {"key_sha256": [key_digest(PORTAL_KEY)], "spots": ["main", "other"]},
        },
        "identity": {"adapter": "static", "static": {"users": USERS}},
        "ledger": LEDGER_OFF,
    }
    return deep_merge(base, overrides)


def make_settings(**overrides: Any) -> Settings:
    return Settings.model_validate(settings_data(**overrides))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def http_identity(host: str, **http: Any) -> dict[str, Any]:
    """The ``identity`` settings of the HTTP adapter against the host platform at ``host``:
    its session at /api/me, its users at /api/users/{user_id}, and ``http`` besides."""
    return {
        "adapter": "http",
        "http": {
            "session_url": f"{host}/api/me",
            "user_url": f"{host}/api/users/{{user_id}}",
            **http,
        },
    }
