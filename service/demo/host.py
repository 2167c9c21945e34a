"""The demo's fake host platform: a login page, a session cookie and a small REST API.

Mounted at ``/demo/host`` by ``spot-sso demo``. spot-sso's HTTP identity adapter asks
``GET /api/me`` with the browser's ``demo_session`` cookie who is logged in, and
``GET /api/users/{user_id}`` with a service token for a user by ID. The user JSON is
nested on purpose (``profile.first_name``, ``roles``) so the demo exercises the
adapter's field mapping; ``DEMO_HOST_FIELDS`` is the matching ``[identity.http.fields]``.

Sessions are signed cookies (user id, nonce, HMAC), so any worker process can read them;
logging out clears the cookie. This is a demo, not a login system.

``GET /community`` is a page of the host's product that embeds the Spot's widget: its
backend asks spot-sso's ``POST /tokens`` for the logged-in user's token, server-side
with the host's API key, and gives it to the widget's installation snippet as its
``authToken``. The key never reaches the browser.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any, Final
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from service.demo.pages import demo_page, read_body

MOUNT_PATH: Final = "/demo/host"
SESSION_COOKIE: Final = "demo_session"
DEMO_HOST_FIELDS: Final[dict[str, str]] = {
    "first_name": "profile.first_name",
    "last_name": "profile.last_name",
    "title": "profile.title",
    "groups": "roles",
}

MAX_FORM_BYTES: Final = 16_384
MAX_RETURN_TO: Final = 2048
SSO_TIMEOUT_SECONDS: Final = 5.0
PROBLEM_PREFIX: Final = "urn:spot-sso:problem:"
# The community page loads the widget's script and lets it call the mock Spot; the rest
# of the demo pages run no script at all.
EMBED_CSP: Final = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
API_HEADERS: Final[dict[str, str]] = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
# Printable ASCII only: no spaces, controls or non-ASCII look-alikes (browsers would
# "repair" them); backslashes are refused separately.
_URL_CHARS = re.compile(r"[\x21-\x7e]+")

STYLE: Final = """
body { background: #f6f7f9; }
main { max-width: 40rem; }
form { margin: .5rem 0; }
button { font: inherit; width: 100%; text-align: left; padding: .6rem .9rem; cursor: pointer;
  border: 1px solid #c9ced8; border-radius: 8px; background: #fbfcfd; }
button:hover { background: #eef2ff; border-color: #6172f3; }
.muted { color: #5d6679; font-size: .9rem; }
.status { padding: .6rem .9rem; border-radius: 8px; background: #ecfdf3; }
.error { padding: .6rem .9rem; border-radius: 8px; background: #fef3f2; color: #b42318; }
a { color: #3538cd; }
code { background: #f2f4f7; padding: 0 .25rem; border-radius: 4px; word-break: break-all; }
"""


def create_host_app(
    users: list[dict[str, Any]],
    api_token: str,
    public_url: str,
    *,
    mount_path: str = MOUNT_PATH,
    sso_api_key: str | None = None,
    widget_script: str | None = None,
    sso_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The fake host platform for ``users``, to be mounted at ``mount_path``.

    ``api_token`` is the service credential ``/api/users/{user_id}`` wants as a Bearer
    token; ``public_url`` is spot-sso's public URL, the only origin ``return_to`` may
    point to. ``sso_api_key`` is the host's key for spot-sso's ``POST /tokens`` and
    ``widget_script`` the Spot widget's script URL: the community page needs both.
    ``sso_transport`` replaces the network between the host and spot-sso (tests).
    """
    if not api_token:
        raise ValueError("api_token must not be empty")
    by_id: dict[str, dict[str, Any]] = {}
    for user in users:
        user_id = str(user["id"])
        if user_id in by_id:
            raise ValueError(f"two demo users have the id {user_id!r}")
        by_id[user_id] = dict(user)
    origin = public_url.rstrip("/")
    login_page = f"{origin}{mount_path.rstrip('/')}/"
    community_page = f"{origin}{mount_path.rstrip('/')}/community"
    secure_cookie = origin.lower().startswith("https://")
    token_bytes = api_token.encode()
    # Sessions are signed cookies, not server state, so every worker process knows them.
    signer = hmac.new(b"demo-session:" + token_bytes, digestmod="sha256")

    def sign(user_id: str, nonce: str) -> str:
        mac = signer.copy()
        mac.update(f"{user_id}.{nonce}".encode())
        return mac.hexdigest()

    def new_session(user_id: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{quote(user_id, safe='')}.{nonce}.{sign(user_id, nonce)}"

    app = FastAPI(
        title="Demo host platform",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    def session_user(request: Request) -> dict[str, Any] | None:
        parts = request.cookies.get(SESSION_COOKIE, "").split(".")
        if len(parts) != 3:
            return None
        user_id, nonce, mac = unquote(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac, sign(user_id, nonce)):
            return None
        return by_id.get(user_id)

    @app.get("/", include_in_schema=False)
    async def login_page_view(request: Request) -> Response:
        return_to = safe_return_to(request.query_params.get("return_to"), origin)
        return _page(
            "Demo host platform",
            _login_body(by_id.values(), session_user(request), return_to),
        )

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await _read_form(request)
        if form is None:
            return _error_page("The login form could not be read.", 400)
        user_id = form.get("user_id", "")
        if user_id not in by_id:
            return _error_page("There is no demo user with that ID.", 400, back=login_page)
        session = new_session(user_id)
        target = safe_return_to(form.get("return_to"), origin) or login_page
        response = RedirectResponse(target, status_code=303, headers=API_HEADERS)
        response.set_cookie(
            SESSION_COOKIE,
            session,
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure_cookie,
        )
        return response

    @app.get("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        response = RedirectResponse(login_page, status_code=303, headers=API_HEADERS)
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookie
        )
        return response

    @app.get("/community", include_in_schema=False)
    async def community(request: Request) -> Response:
        user = session_user(request)
        if user is None:
            target = f"{login_page}?return_to={quote(community_page, safe='')}"
            return RedirectResponse(target, status_code=303, headers=API_HEADERS)
        if sso_api_key is None or widget_script is None:
            return _error_page("This host has no spot-sso API key or widget.", 503)
        token, problem = await embed_token(
            origin, sso_api_key, str(user["id"]), transport=sso_transport
        )
        if token is None:
            return _error_page(f"No token for the widget: {problem}", 502, back=login_page)
        return _page(
            "Community — demo host platform",
            _community_body(user, widget_script, token),
            csp=EMBED_CSP,
        )

    @app.get("/api/me", include_in_schema=False)
    async def me(request: Request) -> Response:
        user = session_user(request)
        if user is None:
            return JSONResponse({"error": "not logged in"}, 401, headers=API_HEADERS)
        return JSONResponse(host_user_json(user), headers=API_HEADERS)

    @app.get("/api/users/{user_id}", include_in_schema=False)
    async def user_by_id(user_id: str, request: Request) -> Response:
        if not _bearer_matches(request.headers.get("authorization"), token_bytes):
            return JSONResponse(
                {"error": "a valid Bearer token is required"},
                401,
                headers={**API_HEADERS, "WWW-Authenticate": 'Bearer realm="demo-host"'},
            )
        user = by_id.get(user_id)
        if user is None:
            return JSONResponse({"error": "no such user"}, 404, headers=API_HEADERS)
        return JSONResponse(host_user_json(user), headers=API_HEADERS)

    return app


async def embed_token(
    sso_url: str,
    api_key: str,
    user_id: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[str | None, str]:
    """``POST /tokens`` for ``user_id``, from the backend: ``(token, "")``, or ``(None, why)``.

    A new token for each page view: it lives 60 seconds, long enough for the widget's
    script to use it as the page loads.
    """
    try:
        async with httpx.AsyncClient(timeout=SSO_TIMEOUT_SECONDS, transport=transport) as client:
            response = await client.post(
                f"{sso_url}/tokens",
                json={"userId": user_id},
                headers={"Authorization": f"Bearer {api_key}"},
            )
    except httpx.HTTPError as exc:
        return None, f"spot-sso could not be reached ({type(exc).__name__})."
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code == 200 and isinstance(answer, dict):
        return str(answer["token"]), ""
    if response.headers.get("content-type", "").startswith("application/problem+json") and (
        isinstance(answer, dict)
    ):
        slug = str(answer.get("type", "")).removeprefix(PROBLEM_PREFIX)
        return None, f"spot-sso answered {response.status_code} {slug}: {answer.get('detail')}"
    return None, f"spot-sso answered {response.status_code}."


def host_user_json(user: Mapping[str, Any]) -> dict[str, Any]:
    """``user`` (a flat demo user) as the host's API shows it: nested, groups as roles."""
    return {
        "id": user["id"],
        "email": user["email"],
        "profile": {
            "first_name": user["first_name"],
            "last_name": user["last_name"],
            "title": user.get("title"),
        },
        "avatar_url": user.get("avatar_url"),
        "locale": user.get("locale"),
        "timezone": user.get("timezone"),
        "roles": list(user.get("groups") or []),
    }


def safe_return_to(value: str | None, public_url: str) -> str | None:
    """``value`` if it is an absolute URL under ``public_url`` + ``/``, else None.

    Refused: other origins (``https://evil``, ``//evil``, another port, a user name
    before the host), backslashes, spaces and controls, ``//`` after the origin, and
    anything longer than 2048 characters.
    """
    origin = public_url.rstrip("/")
    if not value or len(value) > MAX_RETURN_TO or not _URL_CHARS.fullmatch(value):
        return None
    if "\\" in value or not value.startswith(origin + "/"):
        return None
    if value[len(origin) :].startswith("//"):
        return None
    try:
        parts, expected = urlsplit(value), urlsplit(origin)
    except ValueError:
        return None
    if (parts.scheme, parts.netloc) != (expected.scheme, expected.netloc):
        return None
    return value


def _bearer_matches(header: str | None, token: bytes) -> bool:
    scheme, _, credential = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credential.strip().encode(), token)


async def _read_form(request: Request) -> dict[str, str] | None:
    """The url-encoded form in the body (first value of each field), or None."""
    body = await read_body(request, MAX_FORM_BYTES)
    if body is None:
        return None
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


def _login_body(
    users: Iterable[Mapping[str, Any]],
    current: Mapping[str, Any] | None,
    return_to: str | None,
) -> str:
    hidden_return = escape(return_to or "")
    buttons = "".join(
        '<form method="post" action="login">'
        f'<input type="hidden" name="user_id" value="{escape(str(user["id"]))}">'
        f'<input type="hidden" name="return_to" value="{hidden_return}">'
        f'<button type="submit">{_user_label(user)}</button>'
        "</form>"
        for user in users
    )
    if current is not None:
        status = (
            f'<p class="status" id="current-user">Logged in as {_user_label(current)}. '
            '<a href="community" id="community">Community page (embedded Spot)</a> · '
            '<a href="logout" id="logout">Log out</a></p>'
        )
    else:
        status = '<p class="status" id="current-user">Nobody is logged in.</p>'
    going = (
        f'<p class="muted" id="return-to">After logging in you go back to '
        f"<code>{escape(unquote(return_to))}</code> (shown decoded).</p>"
        if return_to
        else ""
    )
    return (
        "<h1>Demo host platform — who are you?</h1>"
        '<p class="muted">This page stands in for your product\'s login. Pick a demo '
        "user; spot-sso asks this platform's <code>/api/me</code> who is logged in.</p>"
        f"{status}{going}{buttons}"
    )


def _community_body(user: Mapping[str, Any], widget_script: str, token: str) -> str:
    return (
        "<h1>Community</h1>"
        f'<p class="status" id="current-user">Logged in as {_user_label(user)}. '
        '<a href="./">Demo host home</a></p>'
        '<p class="muted">This page of the host platform embeds the Spot. Its backend asked '
        "spot-sso's <code>POST /tokens</code> for your token, with the host's API key, and "
        "gave it to the widget's installation snippet as <code>authToken</code>; the key "
        "never reaches the browser. The token lives 60 seconds, so each page view gets a "
        "new one.</p>"
        f'<script src="{escape(widget_script)}" data-auth-token="{escape(token)}" async>'
        "</script>"
    )


def _user_label(user: Mapping[str, Any]) -> str:
    name = escape(f"{user.get('first_name', '')} {user.get('last_name', '')}".strip())
    details = [str(user[key]) for key in ("title", "email") if user.get(key)]
    suffix = f' <span class="muted">{escape(" · ".join(details))}</span>' if details else ""
    return f"<strong>{name}</strong>{suffix}"


def _error_page(message: str, status: int, *, back: str | None = None) -> HTMLResponse:
    link = f'<p><a href="{escape(back)}">Back to the login page</a></p>' if back else ""
    return _page(
        "Demo host platform: error",
        f'<h1>Something went wrong</h1><p class="error" id="error">{escape(message)}</p>{link}',
        status,
    )


def _page(title: str, body: str, status: int = 200, **options: str) -> HTMLResponse:
    return demo_page(title, body, STYLE, status, **options)


def host_identity_config(
    public_url: str, api_token: str, mount_path: str = MOUNT_PATH
) -> dict[str, Any]:
    """The ``[identity.http]`` table that points spot-sso's HTTP adapter at this host."""
    base = f"{public_url.rstrip('/')}{mount_path.rstrip('/')}"
    return {
        "session_url": f"{base}/api/me",
        "user_url": f"{base}/api/users/{{user_id}}",
        "login_url": f"{base}/?return_to={{return_to}}",
        "forward_cookies": [SESSION_COOKIE],
        "token": api_token,
        "fields": dict(DEMO_HOST_FIELDS),
    }
