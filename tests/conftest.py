"""Shared test fixtures: a two-Spot configuration, its API keys, an app per test."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.observability.logs import JsonFormatter, Redactor
from service.runtime.clients import key_digest
from service.settings.model import Settings, deep_merge
from service.web.app import create_app

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
    }
    return deep_merge(base, overrides)


def make_settings(**overrides: Any) -> Settings:
    return Settings.model_validate(settings_data(**overrides))


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SPOT_SSO_* variable of the machine leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("SPOT_SSO_"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in process, its lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class LogCapture(logging.Handler):
    """Every log record of the session, redacted and formatted as in production."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(Redactor())
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as exc:
            self.failures.append(f"{record.name}: {exc!r}")


@pytest.fixture(scope="session", autouse=True)
def log_capture() -> Iterator[LogCapture]:
    """Keeps every log line of the session; tests/test_zz_log_capture.py checks them."""
    root = logging.getLogger()
    handler, level = LogCapture(), root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The session's log check runs last, once every other test has logged."""
    last = [item for item in items if item.path.name == "test_zz_log_capture.py"]
    items[:] = [item for item in items if item not in last] + last
