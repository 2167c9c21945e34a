"""The app factory: ``create_app(settings)`` builds one FastAPI app around one Runtime."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service import __version__
from service.identity.base import IdentityAdapter
from service.observability.logs import configure_logging
from service.runtime.runtime import Runtime
from service.settings.model import Settings, load_settings
from service.web import docs, problems
from service.web.middleware import RequestContext
from service.web.routes import authorize, oidc, ops, tokens

GC_YOUNG_THRESHOLD = 10_000  # allocations between two young collections (CPython: 700)

log = logging.getLogger("spot_sso")

DESCRIPTION = """\
Single sign-on tokens for MeltingSpot communities (Spots).

`POST /tokens` issues a signed token for a user over a server-to-server call holding
an API key. Errors are RFC 9457 `application/problem+json` documents with a stable `type`.
"""


def create_app(
    settings: Settings,
    *,
    adapter: IdentityAdapter | None = None,
    http: httpx.AsyncClient | None = None,
    freeze_heap: bool = False,
) -> FastAPI:
    """A FastAPI app serving ``settings``; its lifespan starts the runtime (the ledger's
    migrations and purge) and closes it on shutdown. ``freeze_heap`` (a server's worker,
    which serves one app for its whole life) puts what exists once the app has started
    out of the cyclic garbage collector's sight (``gc.freeze``)."""
    runtime = Runtime(settings, adapter=adapter, http=http)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for warning in settings.warnings():
            log.warning(warning)
        await runtime.start()
        if freeze_heap:
            # Modules, the app and its schemas live as long as the worker: left in sight,
            # each full collection walked them all (about 100 ms with the ledger's
            # SQLAlchemy). bench/: with the ledger on, 1,235 req/s before, 1,690 after.
            gc.collect()
            gc.freeze()
            # Requests waiting for the ledger's commit hold their objects across
            # collections: at 700 allocations, 1,800 young collections in 8 s under wrk
            # (4% of the CPU); at 10,000, 51.
            gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        log.info("spot-sso %s ready", __version__, extra={"spots": sorted(settings.spots)})
        try:
            yield
        finally:
            await runtime.aclose()

    app = FastAPI(
        title="spot-sso",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # web/docs.py serves it, without a CDN
        redoc_url=None,
    )
    for routes in (tokens, authorize, oidc, ops):
        app.include_router(routes.router)
    app.state.runtime = runtime
    docs.install(app, app.title)
    problems.install(app)
    app.add_middleware(
        RequestContext,
        metrics=runtime.metrics,
        on_error=problems.unexpected,
        client_ip=runtime.client_ip,
    )
    app.openapi = lambda: _openapi(app, settings.public_url)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, public_url: str) -> dict[str, Any]:
    """The OpenAPI document, its ``servers`` the deployment's ``public_url`` (so that a
    generated client or Swagger UI's "Try it out" calls the service where it is)."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            servers=[{"url": public_url, "description": "this spot-sso (public_url)"}],
        )
        app.openapi_schema = problems.fix_openapi(document)
    return app.openapi_schema


def app_from_environment() -> FastAPI:
    """Uvicorn factory for ``spot-sso serve``: settings from ``SPOT_SSO_CONFIG`` and env."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, settings.credential_names())
    return create_app(settings, freeze_heap=True)
