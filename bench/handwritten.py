"""``POST /tokens`` written by hand: the few lines an integrator would write instead.

The same request as the bench's ``tokens-user`` scenario (a ``user`` object and an API
key as a Bearer token), validated by a pydantic model whose email is pydantic's
``EmailStr`` (email-validator), signed as an HS256 JWT with python-jose, answered as
``{"token": ...}``. No logs, no metrics, no rate limits; the API key is compared with a
constant. bench/run.py serves it with the uvicorn command line of every other server and
passes the run's keys in ``BENCH_SPOT_KEY`` and ``BENCH_API_KEY``.
"""

from __future__ import annotations

import os
import time
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException
from jose import jwt
from pydantic import BaseModel, EmailStr

KEY = os.environ["BENCH_SPOT_KEY"]
AUTHORIZATION = f"Bearer {os.environ['BENCH_API_KEY']}"

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


class User(BaseModel):
    sub: str
    firstName: str  # the JSON body's names
    lastName: str
    email: EmailStr
    title: str | None = None
    lang: str | None = None
    timezone: str | None = None


class TokenRequest(BaseModel):
    spot: str | None = None
    user: User


@app.post("/tokens")
async def tokens(
    body: TokenRequest, authorization: Annotated[str, Header()] = ""
) -> dict[str, str]:
    if authorization != AUTHORIZATION:
        raise HTTPException(status_code=401, detail="unauthorized")
    now = int(time.time())
    claims = {
        "sub": body.user.sub,
        "firstName": body.user.firstName,
        "lastName": body.user.lastName,
        "email": body.user.email,
        "iat": now,
        "exp": now + 60,
    }
    return {"token": jwt.encode(claims, KEY, algorithm="HS256")}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
