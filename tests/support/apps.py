"""Apps the tests build and call in process.

``served`` runs an app in process, its lifespan included, on an event loop of its own
(an anyio portal thread), so that synchronous Hypothesis tests can call it: Hypothesis
wants a plain function per example, and function-scoped fixtures cannot be shared
between its examples.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import httpx
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI

from service.web.app import create_app
from tests.support.settings import make_settings

Call = Callable[..., httpx.Response]


@asynccontextmanager
async def lifespan_client(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in process from 127.0.0.1, its lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield http


@contextmanager
def served(app: FastAPI, client_ip: str = "127.0.0.1") -> Iterator[Call]:
    """``call(method, url, **kwargs)`` answering from ``app``, started and stopped here."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        http = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")

        def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            return portal.call(partial(http.request, method, url, **kwargs))

        try:
            yield call
        finally:
            portal.call(http.aclose)


def failing_app(mode: str) -> FastAPI:
    """The app with ``tests.support.adapters.FailingAdapter`` as its identity source,
    loaded by import path like a host's own adapter."""
    settings = make_settings(
        identity={"adapter": "tests.support.adapters:FailingAdapter", "options": {"mode": mode}}
    )
    return create_app(settings)
