"""``GET /authorize``: the browser flow, the page MeltingSpot's "Log in with SSO" opens.

Find the Spot and where to send the browser, check both, find the host platform's user
from the browser's session, mint, and answer ``302`` to the Spot with the token. A
browser that is not logged in goes to the host's login page first, with a ``return_to``
built from ``public_url`` that brings it back here. Anything wrong gets a small page,
never a redirect.
"""

from __future__ import annotations

import logging
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from service.contract.redirects import (
    RedirectRefused,
    check_redirect_url,
    check_referrer,
    spot_id_in,
)
from service.errors import (
    InvalidRedirect,
    NoDestination,
    NotLoggedIn,
    ServiceError,
    SpotMismatch,
    SpotRequired,
)
from service.identity.base import SessionContext
from service.identity.forwarding import refused_entry
from service.runtime.runtime import Runtime
from service.settings.spots import SpotConfig
from service.web.deps import Caller, CallerDep
from service.web.login import begin, counted, signed_in
from service.web.routes import operation_id

router = APIRouter(tags=["browser"], generate_unique_id_function=operation_id)
log = logging.getLogger("spot_sso.authorize")

AFTER_LOGIN: Final = "afterLogin"
_PARAMS: Final = ("redirectUrl", "referrerUrl", "spot", AFTER_LOGIN)


@router.get(
    "/authorize",
    name="authorize",
    summary="Sign a browser in to a Spot (redirect flow)",
    response_class=RedirectResponse,
    status_code=302,
    responses={
        302: {"description": "To the Spot with `token`, or to the host platform's login page."},
        400: {"description": "An HTML page: the link cannot be used (redirectUrl refused...)."},
        401: {"description": "An HTML page: not signed in on the host platform."},
        403: {"description": "An HTML page: the host platform does not let this user in."},
        404: {"description": "An HTML page: unknown Spot."},
        429: {"description": "An HTML page: too many sign-ins from this address; Retry-After."},
        502: {"description": "An HTML page: the host platform answered badly."},
        503: {"description": "An HTML page: the host platform is unavailable."},
    },
)
async def authorize(
    request: Request,
    caller: CallerDep,
    redirect_url: Annotated[
        str | None, Query(alias="redirectUrl", description="MeltingSpot's callback URL.")
    ] = None,
    referrer_url: Annotated[
        str | None, Query(alias="referrerUrl", description="Force the page to land on.")
    ] = None,
    spot: Annotated[str | None, Query(description="Spot alias or Spot ID.")] = None,
) -> RedirectResponse:
    """Send the browser to the Spot with a fresh token, after the host's login if needed.

    With `redirectUrl` (flow "from the Spot") the token goes there; without it (flow
    "from the app") it goes to the Spot's configured `entry_url`. A forced
    `referrerUrl` must be a path inside the Spot. Errors are HTML pages, never redirects.
    """
    step = _authorize(request, caller, redirect_url, referrer_url, spot)
    return await counted(caller.runtime, step)


async def _authorize(
    request: Request,
    caller: Caller,
    redirect_url: str | None,
    referrer_url: str | None,
    spot: str | None,
) -> tuple[RedirectResponse, str]:
    runtime, ip = caller.runtime, caller.ip
    limits = runtime.settings.limits
    try:
        _refuse_repeated_params(request)
        alias, config = _spot(runtime, spot, redirect_url)
    except ServiceError:
        await runtime.limiter.hit("authorize", f"{ip}|*", limits.authorize_per_ip)
        raise
    rule = config.authorize_rate_limit or limits.authorize_per_ip
    await runtime.limiter.hit("authorize", f"{ip}|{alias}", rule)
    destination = destination_of(config, redirect_url)
    referrer = referrer_of(config, referrer_url)
    if runtime.oidc is not None:  # the OpenID provider signs the browser in, then the callback
        interactive = not runtime.oidc.config.prompt_none
        response = await begin(
            request, runtime, alias, redirect_url, referrer_url, interactive=interactive
        )
        return response, "login_bounce"
    session = _session(request, runtime, ip)
    profile = await runtime.adapter.resolve_session(session) if session is not None else None
    if profile is None:
        return _login_bounce(request, runtime), "login_bounce"
    return await signed_in(caller, alias, config, profile, destination, referrer), "redirected"


def _refuse_repeated_params(request: Request) -> None:
    for name in _PARAMS:
        if len(request.query_params.getlist(name)) > 1:
            raise InvalidRedirect(f"The link gives {name} more than once.")


def _spot(runtime: Runtime, ref: str | None, redirect_url: str | None) -> tuple[str, SpotConfig]:
    named_id = spot_id_in(redirect_url) if redirect_url else None
    if ref is not None:
        alias, config = runtime.spot(ref)
        if named_id is not None and named_id != config.id:
            raise SpotMismatch(
                f"spot names {alias!r} but redirectUrl goes to another Spot ({named_id})."
            )
        return alias, config
    if named_id is not None:
        return runtime.spot(named_id)
    if len(runtime.settings.spots) == 1:
        return next(iter(runtime.settings.spots.items()))
    raise SpotRequired(
        "This service serves several communities and the link does not say which: "
        "add spot=<alias or Spot ID> to the authorisation URL."
    )


def destination_of(config: SpotConfig, redirect_url: str | None) -> str:
    """Where the token goes: ``redirectUrl`` checked against the Spot's origins, or the
    Spot's ``entry_url``."""
    if redirect_url is None:
        if config.entry_url is None:
            raise NoDestination(
                "The link has no redirectUrl and this Spot has no entry_url configured."
            )
        return config.entry_url
    try:
        return check_redirect_url(redirect_url, config.redirect_origins)
    except RedirectRefused as exc:
        raise InvalidRedirect(f"{exc}.") from None


def referrer_of(config: SpotConfig, referrer_url: str | None) -> str | None:
    """``referrerUrl`` checked: a path inside the Spot."""
    if referrer_url is None:
        return None
    try:
        return check_referrer(referrer_url, config.id)
    except RedirectRefused as exc:
        raise InvalidRedirect(f"{exc}.") from None


def _session(request: Request, runtime: Runtime, ip: str | None) -> SessionContext | None:
    """Only the cookies and headers the adapter asked for; nothing else leaves the request.

    None (no session) when one of them holds more than plain characters: such a value
    could rewrite the adapter's request to the host, so it is counted, logged by name
    only, and never forwarded.
    """
    cookies = runtime.adapter.forwarded_cookies()
    headers = runtime.adapter.forwarded_headers()
    session = SessionContext(
        cookies={name: value for name, value in request.cookies.items() if name in cookies},
        headers={name: request.headers[name] for name in headers if name in request.headers},
        client_ip=ip,
        peer_ip=request.client.host if request.client else None,
    )
    refused = refused_entry(session)
    if refused is None:
        return session
    kind, name = refused
    runtime.metrics.forwarded_values_refused.labels(kind).inc()
    log.warning(
        "forwarded %s %r refused: it holds more than %s; treated as no session",
        kind,
        name,
        "RFC 6265 cookie characters" if kind == "cookie" else "visible ASCII and spaces",
        extra={"event": "forwarded_value_refused", "kind": kind, "forwarded": name},
    )
    return None


def _login_bounce(request: Request, runtime: Runtime) -> RedirectResponse:
    """To the host's login page, once; a second visit without a session gets a page."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k in _PARAMS]
    return_to = f"{runtime.settings.public_url}/authorize?" + urlencode(
        [(k, v) for k, v in params if k != AFTER_LOGIN] + [(AFTER_LOGIN, "1")]
    )
    login = runtime.adapter.login_redirect(return_to)
    if login is None:
        raise NotLoggedIn("You need to be signed in on the host platform to enter this community.")
    if AFTER_LOGIN in request.query_params:
        raise NotLoggedIn(
            "You came back from the host platform's sign-in page, but it still does not "
            "know you: your browser may be refusing its cookies.",
            login_url=login,
        )
    return RedirectResponse(login, status_code=302)
