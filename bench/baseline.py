"""The framework ceiling: a bare FastAPI app, served with the same uvicorn settings.

``POST /tokens`` reads the request body and answers a small JSON body (what spot-sso's
``POST /tokens`` answers, minus everything spot-sso does); ``GET /authorize`` answers a
302 to a fixed URL (what spot-sso's ``GET /authorize`` answers). No middleware, no
validation, no logging: every scenario's req/s is divided by this app's.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJl"  # noqa: S105 - a fake, unsigned token
_LOCATION = (
    "https://go.meltingspot.io/spot/129487c9-6acc-43d9-ab96-182ded763538/sso?token=" + _TOKEN
)


@app.post("/tokens")
async def tokens(request: Request) -> dict[str, object]:
    await request.body()
    return {"token": _TOKEN, "tokenType": "JWT", "expiresIn": 60, "spot": "main"}


@app.get("/authorize")
async def authorize() -> RedirectResponse:
    return RedirectResponse(_LOCATION, status_code=302)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
