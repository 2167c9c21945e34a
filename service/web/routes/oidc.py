"""The OpenID Connect browser flow: ``/authorize`` sends the browser to the provider
(``begin``), the provider sends it back to ``GET /oidc/callback``, which finishes the
login and continues exactly as ``/authorize`` does: rules, token, ``302`` to the Spot.

What the browser brings back is never trusted because it came back: the pending login is
taken by its ``state`` (once: a second use finds nothing), must come back to the browser
that started it (a random cookie, only its hash kept), and its Spot, ``redirectUrl`` and
``referrerUrl`` are checked against the Spot's rules again. Every refusal is a page.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from service.errors import LoginRefused
from service.web.deps import Caller, CallerDep
from service.web.login import (
    CALLBACK_PATH,
    LOGIN_COOKIE,
    begin,
    callback_url,
    counted,
    signed_in,
)
from service.web.routes import operation_id
from service.web.routes.authorize import destination_of, referrer_of

router = APIRouter(tags=["browser"], generate_unique_id_function=operation_id)

# Answers to prompt=none that mean "sign in interactively"; the login is sent again.
_NEEDS_INTERACTION: Final = frozenset(
    {"login_required", "interaction_required", "consent_required", "account_selection_required"}
)
# Error codes of RFC 6749 and OpenID Connect shown by name; any other is "an error".
_KNOWN_ERRORS: Final = _NEEDS_INTERACTION | {
    "access_denied",
    "invalid_request",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "unauthorized_client",
    "unsupported_response_type",
}


@router.get(
    CALLBACK_PATH,
    name="oidcCallback",
    summary="Finish a sign-in at the OpenID provider (identity.adapter = oidc)",
    response_class=RedirectResponse,
    status_code=302,
    responses={
        302: {"description": "To the Spot with `token` (or to the provider again, once)."},
        400: {"description": "An HTML page: the sign-in expired, was used, or was refused."},
        403: {"description": "An HTML page: the Spot does not let this user in."},
        429: {"description": "An HTML page: too many sign-ins from this address."},
        502: {"description": "An HTML page: the provider answered badly."},
        503: {"description": "An HTML page: the provider is unavailable."},
    },
)
async def oidc_callback(
    request: Request,
    caller: CallerDep,
    state: Annotated[str | None, Query(max_length=512)] = None,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    iss: Annotated[str | None, Query(max_length=2048)] = None,
) -> RedirectResponse:
    """Where the OpenID provider sends the browser back; register this URL there."""
    return await counted(caller.runtime, _callback(request, caller, state, code, error, iss))


async def _callback(
    request: Request,
    caller: Caller,
    state: str | None,
    code: str | None,
    error: str | None,
    iss: str | None,
) -> tuple[RedirectResponse, str]:
    runtime, ip = caller.runtime, caller.ip
    await runtime.limiter.hit("authorize", f"{ip}|*", runtime.settings.limits.authorize_per_ip)
    if runtime.oidc is None or runtime.logins is None:
        raise LoginRefused("This service does not sign in through an OpenID provider.")
    if not state:
        raise LoginRefused("The answer from the sign-in page has no state: it cannot be used.")
    pending = await runtime.logins.take(state)
    if pending is None:
        raise LoginRefused(
            "This sign-in has expired or was already used: go back to the community and "
            "sign in again."
        )
    if not pending.bound_to(request.cookies.get(LOGIN_COOKIE)):
        raise LoginRefused(
            "This sign-in was started in another browser (or its cookie was blocked): "
            "go back to the community and sign in again here."
        )
    alias, config = runtime.spot(pending.spot)
    destination = destination_of(config, pending.redirect_url)
    referrer = referrer_of(config, pending.referrer_url)
    metadata = await runtime.oidc.metadata()
    if iss is not None and iss != metadata["issuer"]:
        raise LoginRefused("The answer names another OpenID provider than this service's.")
    if error is not None:
        if error in _NEEDS_INTERACTION and not pending.interactive:
            response = await begin(
                request, runtime, alias, pending.redirect_url, pending.referrer_url,
                interactive=True,
            )  # fmt: skip
            return response, "login_bounce"
        shown = error if error in _KNOWN_ERRORS else "an error"
        raise LoginRefused(f"The OpenID provider did not sign you in ({shown}).")
    if not code:
        raise LoginRefused("The answer from the sign-in page has no code: it cannot be used.")
    async with runtime.adapter.timed("login"):
        profile = await runtime.oidc.finish_login(
            code=code, pending=pending, redirect_uri=callback_url(runtime)
        )
    return await signed_in(caller, alias, config, profile, destination, referrer), "redirected"
