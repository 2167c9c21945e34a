"""``GET /docs``: Swagger UI for the OpenAPI document, from assets shipped in a Python
package (``swagger-ui-py``'s copy of swagger-ui-dist 5), never from a CDN: the page works
on a machine without internet."""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH: Final = "/docs"
ASSETS_PATH: Final = "/docs/assets"
ASSETS: Final = files("swagger_ui") / "static"


def install(app: FastAPI, title: str) -> None:
    """``/docs`` and its assets on ``app`` (FastAPI's own CDN-backed page stays off)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")  # behind a proxy's path prefix too
        assets = root + ASSETS_PATH
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{title} - API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )
