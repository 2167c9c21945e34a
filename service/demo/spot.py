"""The demo's mock of MeltingSpot: a Spot page with SSO links and the SSO callback.

Mounted at ``/demo/spot`` by ``spot-sso demo``. It does what MeltingSpot does with a
token: verify it with the Spot's private key and read the member from its claims.
The callback page shows every claim and where the member would land; it never shows
the token itself.

It also serves a mock **widget**: ``widget.js`` is what an installation snippet loads
with the member's token as ``data-auth-token`` (MeltingSpot's own scripts take it as
their ``authToken`` parameter). The script posts the token to ``widget/session``, which
verifies it like the callback does, and shows who is logged in.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any, Final
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import SecretStr

from service.contract.signing import InvalidToken, TokenIssuer
from service.demo.pages import demo_page, read_body

MOUNT_PATH: Final = "/demo/spot"
CALLBACK_PATH: Final = "/sso/callback"
WIDGET_SCRIPT_PATH: Final = "/widget.js"
WIDGET_SESSION_PATH: Final = "/widget/session"
MAX_WIDGET_BODY: Final = 16_384
WIDGET_HEADERS: Final[dict[str, str]] = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
# The widget writes text only (textContent), never HTML: a claim cannot become markup.
WIDGET_JS: Final = """\
// DEMO: the mock Spot's widget. Its installation snippet gives the member's token as
// data-auth-token; the widget asks the mock Spot to verify it and shows who is logged in.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var box = document.createElement("section");
  box.id = "spot-widget";
  box.setAttribute("aria-live", "polite");
  box.style.cssText = "margin:1rem 0;padding:.8rem 1rem;border:2px solid #6941c6;" +
    "border-radius:10px;background:#f4f3ff;font:15px/1.5 system-ui,sans-serif";
  var title = document.createElement("strong");
  title.textContent = "Mock Spot widget";
  var status = document.createElement("p");
  status.id = "spot-widget-member";
  status.style.margin = ".3rem 0 0";
  status.textContent = "Signing in\u2026";
  box.append(title, status);
  script.after(box);
  function show(state, text) { box.dataset.state = state; status.textContent = text; }
  var token = script.dataset.authToken;
  if (!token) { show("anonymous", "Not signed in: the snippet gives no authToken."); return; }
  fetch(new URL("widget/session", script.src), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ authToken: token }),
    credentials: "omit",
    cache: "no-store"
  }).then(function (response) {
    return response.json().then(function (body) { return { ok: response.ok, body: body }; });
  }).then(function (answer) {
    if (answer.ok) {
      var member = answer.body.member;
      show("member", "Logged in as " + member.firstName + " " + member.lastName +
        " (" + member.email + ")");
    } else {
      show("refused", "Not signed in: " + answer.body.error);
    }
  }).catch(function () { show("error", "Not signed in: the mock Spot did not answer."); });
})();
"""

STYLE: Final = """
body { background: #f4f3ff; }
main { max-width: 46rem; }
.button { display: inline-block; padding: .6rem 1.1rem; border-radius: 8px; margin: .3rem .5rem
  .3rem 0; background: #6941c6; color: #fff; text-decoration: none; font-weight: 600; }
.button.secondary { background: #fff; color: #6941c6; border: 1px solid #6941c6; }
.muted { color: #5d6679; font-size: .9rem; }
.error { padding: .6rem .9rem; border-radius: 8px; background: #fef3f2; color: #b42318; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: .95rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #eaecf0;
  vertical-align: top; }
td code, p code { background: #f2f4f7; padding: 0 .25rem; border-radius: 4px;
  word-break: break-all; }
#landing { padding: .6rem .9rem; border-radius: 8px; background: #ecfdf3; }
td, th { overflow-wrap: anywhere; }
td.note span { display: block; }
/* A phone: each claim becomes a small card (name, value, why), nothing wider than the screen. */
@media (max-width: 40rem) {
  table, tbody, tr, th, td { display: block; }
  thead { display: none; }
  tr { padding: .5rem 0; border-bottom: 1px solid #eaecf0; }
  th, td { border: 0; padding: .1rem 0; }
}
"""
# What the welcome page shows of each claim: why it has its value, one line per reason.
Reasons = Sequence[dict[str, Any]]
Explain = Callable[[dict[str, Any]], Awaitable[Reasons]]


def create_spot_app(
    spot_id: str,
    private_key: str,
    public_url: str,
    *,
    spot_alias: str = "demo",
    mount_path: str = MOUNT_PATH,
    embed_page: str | None = None,
    explain: Explain | None = None,
) -> FastAPI:
    """A mock MeltingSpot for the Spot ``spot_id`` (alias ``spot_alias`` in spot-sso).

    ``public_url`` is spot-sso's public URL: the links go to its ``/authorize`` and the
    callback is ``{public_url}{mount_path}/sso/callback``. ``embed_page``, when given, is
    a host page that embeds the widget, linked from the home page. ``explain``, when
    given, tells the welcome page why each claim has its value: ``spot-sso explain``'s
    reasons (``{"claim", "value", "source"}``) for the token's claims.
    """
    issuer = TokenIssuer(SecretStr(private_key))
    origin = public_url.rstrip("/")
    home_url = f"{origin}{mount_path.rstrip('/')}/"
    from_spot = sso_login_url(public_url, spot_id, spot_alias=spot_alias, mount_path=mount_path)
    from_app = (
        f"{origin}/authorize?spot={quote(spot_alias, safe='')}"
        f"&referrerUrl={quote(f'/spot/{spot_id}/events', safe='/')}"
    )

    embedded = (
        f'<p><a class="button secondary" id="embedded" href="{escape(embed_page)}">'
        "Embedded on the host</a></p>"
        '<p class="muted">A host page that embeds this Spot\'s widget, logged in by the '
        "token its backend got from spot-sso's <code>POST /tokens</code>.</p>"
        if embed_page
        else ""
    )
    app = FastAPI(
        title="Mock Spot",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    # The widget runs on the host's pages, another origin in a real deployment: its
    # session call is cross-origin, without credentials (the token is the credential).
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["POST"], allow_headers=["Content-Type"]
    )

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return _page(
            "Mock Spot",
            "<h1>Mock Spot (stands in for go.meltingspot.io)</h1>"
            f'<p class="muted">Spot <code>{escape(spot_id)}</code>. On the real Spot, '
            "Login/Join sends the browser to the SSO authorisation URL with a "
            "<code>redirectUrl</code>; spot-sso brings it back here with a token.</p>"
            f'<p><a class="button" id="sso-login" href="{escape(from_spot)}">Log in with SSO</a>'
            f'<a class="button secondary" id="from-app" href="{escape(from_app)}">'
            "Open from the app</a></p>"
            '<p class="muted">"Open from the app" is the link a host app shows: spot-sso '
            "sends the user to the Spot's SSO entry URL, landing on the events page.</p>"
            f"{embedded}",
        )

    @app.get(CALLBACK_PATH, include_in_schema=False)
    async def sso_callback(request: Request) -> Response:
        token = request.query_params.get("token")
        referrer = request.query_params.get("referrerUrl")
        if not token:
            return _error_page("The callback URL has no token parameter.", 400, home_url)
        try:
            claims = issuer.verify(token)
        except InvalidToken as exc:  # ExpiredToken included: the message says which
            return _error_page(f"The token was refused: {exc}.", 401, home_url)
        reasons = await explain(claims) if explain is not None else ()
        return _page("Mock Spot: welcome", _welcome_body(claims, reasons, referrer, home_url))

    @app.get(WIDGET_SCRIPT_PATH, include_in_schema=False)
    async def widget_script() -> Response:
        return Response(WIDGET_JS, media_type="text/javascript", headers=WIDGET_HEADERS)

    @app.post(WIDGET_SESSION_PATH, include_in_schema=False)
    async def widget_session(request: Request) -> Response:
        body = await read_body(request, MAX_WIDGET_BODY)
        try:
            token = json.loads(body or b"null")["authToken"]
        except (ValueError, TypeError, KeyError):
            token = None
        if not isinstance(token, str) or not token:
            return _widget_answer({"error": 'the body must be {"authToken": "<JWT>"}.'}, 400)
        try:
            claims = issuer.verify(token)
        except InvalidToken as exc:  # ExpiredToken included: the message says which
            return _widget_answer({"error": f"the token was refused: {exc}."}, 401)
        return _widget_answer({"member": claims}, 200)

    return app


def widget_script_url(public_url: str, mount_path: str = MOUNT_PATH) -> str:
    """The mock widget's script: what an installation snippet loads."""
    return f"{public_url.rstrip('/')}{mount_path.rstrip('/')}{WIDGET_SCRIPT_PATH}"


def _widget_answer(content: dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers=WIDGET_HEADERS)


def callback_url(public_url: str, mount_path: str = MOUNT_PATH) -> str:
    """The mock Spot's SSO callback: the demo Spot's entry URL and ``redirectUrl`` base."""
    return f"{public_url.rstrip('/')}{mount_path.rstrip('/')}{CALLBACK_PATH}"


def sso_login_url(
    public_url: str, spot_id: str, *, spot_alias: str = "demo", mount_path: str = MOUNT_PATH
) -> str:
    """What MeltingSpot's Login button opens: ``/authorize`` with a ``redirectUrl``.

    The ``redirectUrl`` carries a ``referrerUrl`` (the Spot's lives page), as
    MeltingSpot's does.
    """
    redirect = (
        f"{callback_url(public_url, mount_path)}"
        f"?referrerUrl={quote(f'/spot/{spot_id}/lives', safe='/')}"
    )
    return (
        f"{public_url.rstrip('/')}/authorize?spot={quote(spot_alias, safe='')}"
        f"&redirectUrl={quote(redirect, safe='')}"
    )


def _welcome_body(
    claims: dict[str, Any], reasons: Reasons, referrer: str | None, home_url: str
) -> str:
    name = f"{_text(claims.get('firstName', ''))} {_text(claims.get('lastName', ''))}".strip()
    rows = "".join(
        f'<tr><th scope="row"><code>{escape(claim)}</code></th>'
        f'<td data-claim="{escape(claim)}">{escape(_text(value))}</td>'
        f'<td class="muted note">{_note(claim, value, reasons)}</td></tr>'
        for claim, value in claims.items()
    )
    landing = (
        f"You would land on: {escape(referrer)}"
        if referrer
        else "You would land on: the Spot's home page (no referrerUrl)"
    )
    return (
        f"<h1>Welcome, {escape(name)}</h1>"
        '<p class="muted">The token verified with this Spot\'s private key. '
        "MeltingSpot would create this member if it does not know them yet "
        "(or log them in, without updating the profile, if it does):</p>"
        '<table><thead><tr><th scope="col">claim</th><th scope="col">value</th>'
        f'<th scope="col">why (spot-sso explain)</th></tr></thead><tbody>{rows}</tbody></table>'
        f'<p id="landing">{landing}</p>'
        f"{_back_link(home_url)}"
    )


def _text(value: Any) -> str:
    """A claim value as text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _note(claim: str, value: Any, reasons: Reasons) -> str:
    """HTML: the time of ``iat``/``exp``, or the rule behind each part of the claim's value
    (``groups:join`` one line a group, ``customPropertyValue`` one line a key)."""
    if claim in ("iat", "exp", "nbf") and isinstance(value, int | float):
        try:
            moment = datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return ""
        return escape(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))
    lines = []
    for reason in reasons:
        named, source = str(reason.get("claim", "")), str(reason.get("source", ""))
        if named == claim:
            part = reason.get("value") if isinstance(value, list | dict) else None
            lines.append(f"{_text(part)}: {source}" if part is not None else source)
        elif named.startswith(claim + "."):
            lines.append(f"{named[len(claim) + 1 :]}: {source}")
    return "".join(f"<span>{escape(line)}</span>" for line in lines)


def _back_link(home_url: str) -> str:
    return f'<p><a class="button secondary" href="{escape(home_url)}">Back to the mock Spot</a></p>'


def _error_page(message: str, status: int, home_url: str) -> HTMLResponse:
    return _page(
        "Mock Spot: SSO failed",
        "<h1>SSO login failed</h1>"
        f'<p class="error" id="error">{escape(message)}</p>'
        f"{_back_link(home_url)}",
        status,
    )


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return demo_page(title, body, STYLE, status)
