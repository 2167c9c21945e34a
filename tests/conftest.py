"""Shared fixtures: a two-Spot app per test, a clean environment, the session's logs.

The suite has three levels, one folder each: ``tests/unit`` (pure functions and models),
``tests/integration`` (the app in process, Redis, small servers on 127.0.0.1) and
``tests/e2e`` (real ``spot-sso`` processes, Chromium, the bench). Every test is marked
with its level (``pytest -m unit``); what the tests share lives in ``tests/support``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import FastAPI

from service.observability.logs import configure_events
from service.settings.model import Settings
from service.web.app import create_app
from tests.support.apps import lifespan_client
from tests.support.logs import LogCapture
from tests.support.settings import make_settings

TESTS = Path(__file__).resolve().parent
LEVELS = ("unit", "integration", "e2e")


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
    async with lifespan_client(app) as http:
        yield http


@pytest.fixture(scope="session", autouse=True)
def log_capture() -> Iterator[LogCapture]:
    """Keeps every log line of the session, the structlog events and the stdlib records;
    tests/integration/test_zz_log_capture.py checks them."""
    root = logging.getLogger()
    capture, level, events = LogCapture(), root.level, structlog.get_config()
    root.addHandler(capture.handler)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    configure_events("info", "json", stream=capture)
    yield capture
    structlog.configure(**events)
    root.removeHandler(capture.handler)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _logging_put_back(log_capture: LogCapture) -> Iterator[None]:
    """A test that configures logging (``configure_logging``, ``spot-sso mint`` run in
    process) leaves the session's configuration as it found it."""
    root = logging.getLogger()
    handlers, level, events = root.handlers[:], root.level, structlog.get_config()
    yield
    if root.handlers != handlers or structlog.get_config() != events:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**events)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its level (its folder); the session's log check runs
    last, once every other test has logged."""
    for item in items:
        path = item.path.resolve()
        level = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None
        if level in LEVELS:
            item.add_marker(level)
    last = [item for item in items if item.path.name == "test_zz_log_capture.py"]
    items[:] = [item for item in items if item not in last] + last
