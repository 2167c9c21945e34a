"""The browser flow's steps shared by ``GET /authorize`` and ``GET /oidc/callback``: the
start of an OpenID Connect login (``/authorize`` sends the browser to the provider; the
callback sends it again, interactively, when a ``prompt=none`` attempt finds no session
there), and the end of every sign-in: a token, and the browser sent on with it."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Final

from authlib.common.security import generate_token
from fastapi import Request
from fastapi.responses import RedirectResponse

from service.contract.membership import settle
from service.contract.redirects import with_token
from service.errors import ServiceError
from service.identity.base import UserProfile
from service.runtime.runtime import Runtime
from service.settings.spots import SpotConfig
from service.web.deps import Caller

CALLBACK_PATH: Final = "/oidc/callback"
LOGIN_COOKIE: Final = "spot_sso_login"
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9]{32,128}$")


async def signed_in(
    caller: Caller,
    alias: str,
    config: SpotConfig,
    profile: UserProfile,
    destination: str,
    referrer: str | None,
) -> RedirectResponse:
    """``302`` to ``destination`` with the token of ``profile`` (the Spot's rules applied):
    the end of both browser flows."""
    member, made = settle(profile, None, config, alias)
    issued = await caller.runtime.issue(
        alias,
        member,
        flow="authorize",
        made=made,
        audit=caller.access,
        request_id=caller.request_id,
    )
    return RedirectResponse(with_token(destination, issued.token, referrer), status_code=302)


def callback_url(runtime: Runtime) -> str:
    """The redirect URI to register at the provider: ``public_url`` + ``/oidc/callback``."""
    return runtime.settings.public_url + CALLBACK_PATH


async def begin(
    request: Request,
    runtime: Runtime,
    alias: str,
    redirect_url: str | None,
    referrer_url: str | None,
    *,
    interactive: bool,
) -> RedirectResponse:
    """``302`` to the provider's login, the pending login kept, the browser bound."""
    assert runtime.oidc is not None and runtime.logins is not None
    browser = request.cookies.get(LOGIN_COOKIE, "")
    if not _COOKIE_VALUE.match(browser):
        browser = generate_token(48)
    url, pending = await runtime.oidc.begin_login(
        redirect_uri=callback_url(runtime),
        browser=browser,
        spot=alias,
        redirect_url=redirect_url,
        referrer_url=referrer_url,
        interactive=interactive,
    )
    await runtime.logins.put(pending.state, pending)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        LOGIN_COOKIE,
        browser,
        max_age=int(runtime.oidc.config.login_ttl_seconds),
        path="/",  # /authorize reads it too: every login of a browser shares one value
        secure=runtime.settings.public_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


async def counted(
    runtime: Runtime, step: Awaitable[tuple[RedirectResponse, str]]
) -> RedirectResponse:
    """A browser step's answer, its outcome counted in ``authorize_outcomes``: the one it
    names (``redirected``, ``login_bounce``), or the problem that refused it."""
    outcomes = runtime.metrics.authorize_outcomes
    try:
        response, outcome = await step
    except ServiceError as exc:
        outcomes.labels(exc.slug).inc()
        raise
    outcomes.labels(outcome).inc()
    return response
