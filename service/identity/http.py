"""The adapter for a host platform with a REST API.

- session: ``GET session_url`` with only the configured cookies and headers of the
  browser's request; 200 is the user, 401/403/404 mean "not logged in";
- lookup: ``GET user_url`` with ``{user_id}`` URL-encoded into it and the service
  credential; 404 means "no such user";
- ``login_url`` with ``{return_to}``, for browsers that are not logged in.

Every failure is an ``IdentityUnavailable`` (503: down, timeout) or
``IdentityBadResponse`` (502: error status, oversized or invalid body) naming the host
and the reason, never the credential or the cookies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from service import __version__
from service.dotted import MISSING, dig
from service.errors import (
    FieldError,
    IdentityBadResponse,
    IdentityUnavailable,
    ProfileUnusable,
    field_errors,
)
from service.identity.base import AdapterBase, SessionContext, UserProfile
from service.identity.config import HttpAdapterConfig
from service.state import Cache, MemoryCache

NOT_LOGGED_IN: Final = frozenset({401, 403, 404})


class HttpAdapter(AdapterBase):
    """Users from the host platform's HTTP API, through the shared ``httpx.AsyncClient``."""

    def __init__(
        self,
        config: HttpAdapterConfig,
        http: httpx.AsyncClient,
        caches: Callable[[str, float], Cache] | None = None,
    ) -> None:
        self._config = config
        self._http = http
        self._timeout = httpx.Timeout(
            config.read_timeout_seconds, connect=config.connect_timeout_seconds
        )
        caches = caches or (lambda _, ttl: MemoryCache(ttl))
        self._users = caches("users", config.user_cache_ttl_seconds)
        self._sessions = caches("sessions", config.session_cache_ttl_seconds)
        self._cookies = frozenset(config.forward_cookies)
        self._headers = frozenset(config.forward_headers)
        # Parsed once: httpx parses a URL given as a string on every request.
        self._session_url = _parsed(config.session_url)

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        if self._config.session_url is None:
            return None
        cookies = {n: v for n, v in ctx.cookies.items() if n in self._cookies}
        headers = {n: v for n, v in ctx.headers.items() if n in self._headers}
        if not cookies and not headers:
            return None
        key = _session_key(cookies, headers)
        cached = await self._sessions.get(key)
        if cached is not None:
            return UserProfile.model_validate_json(cached)
        if cookies:
            headers["cookie"] = "; ".join(f"{n}={v}" for n, v in sorted(cookies.items()))
        url = self._config.session_url
        status, data = await self._get(url, headers, "session", self._session_url)
        if status in NOT_LOGGED_IN:
            return None
        profile = self._profile(data, url)
        await self._sessions.put(key, profile.model_dump_json())
        return profile

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        if self._config.user_url is None:
            raise IdentityUnavailable(
                "This host platform's adapter has no user_url: it cannot look users up by "
                "ID; send the whole user profile instead."
            )
        cached = await self._users.get(user_id)
        if cached is not None:
            return UserProfile.model_validate_json(cached)
        url = self._config.user_url.replace("{user_id}", _path_segment(user_id))
        status, data = await self._get(url, self._credential(), "user lookup")
        if status == 404:
            return None
        profile = self._profile(data, url)
        await self._users.put(user_id, profile.model_dump_json())
        return profile

    def login_redirect(self, return_to: str) -> str | None:
        if self._config.login_url is None:
            return None
        return self._config.login_url.replace("{return_to}", quote(return_to, safe=""))

    def forwarded_cookies(self) -> frozenset[str]:
        return self._cookies

    def forwarded_headers(self) -> frozenset[str]:
        return self._headers

    async def ready(self) -> dict[str, Any]:
        url = self._config.session_url or self._config.user_url or ""
        return {"host": _host(url)}

    def _credential(self) -> dict[str, str]:
        token = self._config.token
        if token is None:
            return {}
        scheme = self._config.auth_scheme
        value = f"{scheme} {token.get_secret_value()}" if scheme else token.get_secret_value()
        return {self._config.auth_header.lower(): value}

    async def _get(
        self, url: str, headers: dict[str, str], what: str, parsed: httpx.URL | None = None
    ) -> tuple[int, Any]:
        host = _host(url)
        headers = {"accept": "application/json", "user-agent": f"spot-sso/{__version__}", **headers}
        attempts = 2 if self._config.retry_on_connect_error else 1
        for attempt in range(attempts):
            try:
                return await self._fetch(parsed or url, headers, host, what)
            except httpx.ConnectError as exc:
                if attempt + 1 == attempts:
                    raise IdentityUnavailable(
                        f"{host}: cannot connect for the {what} ({_reason(exc)})"
                    ) from None
            except httpx.TimeoutException as exc:
                raise IdentityUnavailable(
                    f"{host}: the {what} timed out ({_timeout_kind(exc)})"
                ) from None
            except httpx.HTTPError as exc:
                raise IdentityUnavailable(f"{host}: the {what} failed ({_reason(exc)})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch(
        self, url: str | httpx.URL, headers: dict[str, str], host: str, what: str
    ) -> tuple[int, Any]:
        # A request built here carries no cookie of the shared client, and nothing
        # follows a redirect: the credential goes to the configured URL only.
        wire = [(name.encode("ascii"), _header_bytes(value)) for name, value in headers.items()]
        request = httpx.Request(
            "GET", url, headers=wire, extensions={"timeout": self._timeout.as_dict()}
        )
        reply = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            if reply.status_code in NOT_LOGGED_IN and what == "session":
                return reply.status_code, None
            if reply.status_code == 404:
                return 404, None
            if reply.status_code != 200:
                raise IdentityBadResponse(f"{host}: the {what} answered HTTP {reply.status_code}")
            body = await self._read_capped(reply, host, what)
        finally:
            await reply.aclose()
        try:
            return 200, json.loads(body)
        except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
            raise IdentityBadResponse(f"{host}: the {what} answered invalid JSON") from None

    async def _read_capped(self, reply: httpx.Response, host: str, what: str) -> bytes:
        limit = self._config.max_response_bytes
        declared = reply.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise IdentityBadResponse(f"{host}: the {what} answer is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in reply.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise IdentityBadResponse(f"{host}: the {what} answer is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _profile(self, data: Any, url: str) -> UserProfile:
        """The ``UserProfile`` in the host's JSON, found by the configured dotted paths."""
        root = dig(data, self._config.profile_path) if self._config.profile_path else data
        if not isinstance(root, Mapping):
            raise IdentityBadResponse(f"{_host(url)}: the answer holds no profile object")
        paths = self._config.fields.model_dump()
        values = {name: dig(root, path) for name, path in paths.items()}
        fields = {
            name: _scalar(v) for name, v in values.items() if v is not MISSING and v is not None
        }
        fields["groups"] = _string_list(values["groups"])
        attributes = {name: dig(root, path) for name, path in self._config.attributes.items()}
        fields["attributes"] = {k: v for k, v in attributes.items() if v is not MISSING}
        try:
            return UserProfile.model_validate(fields)
        except ValidationError as exc:
            errors = _profile_errors(exc, paths)
            names = ", ".join(e.pointer.lstrip("/").replace("/", ".") for e in errors)
            raise ProfileUnusable(
                f"The host platform's profile lacks usable values for {names}.", errors
            ) from None


def _scalar(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _string_list(value: Any) -> list[str]:
    """Group names: strings and integers; booleans, floats and objects are not names."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [
            str(item)
            for item in value
            if isinstance(item, str | int) and not isinstance(item, bool)
        ]
    return []


def _profile_errors(exc: ValidationError, paths: Mapping[str, str]) -> list[FieldError]:
    """Errors named by the host's field paths, the way an integrator configured them."""
    return [
        FieldError(
            "/" + paths.get(e.pointer.lstrip("/"), e.pointer.lstrip("/")).replace(".", "/"),
            e.detail,
        )
        for e in field_errors(exc.errors())
    ]


def _session_key(cookies: Mapping[str, str], headers: Mapping[str, str]) -> str:
    material = json.dumps([sorted(cookies.items()), sorted(headers.items())])
    return hashlib.sha256(material.encode()).hexdigest()


def _parsed(url: str | None) -> httpx.URL | None:
    """``url`` parsed by httpx, or None (then each request parses it, and says why not)."""
    try:
        return httpx.URL(url) if url else None
    except httpx.InvalidURL:
        return None


def _header_bytes(value: str) -> bytes:
    """A forwarded value as the browser sent it: the server decoded its bytes as latin-1."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from the wire (a host's own adapter): UTF-8 it is
        return value.encode("utf-8")


def _path_segment(value: str) -> str:
    """``value`` as one path segment: everything encoded, and '.'/'..' too (RFC 3986 5.2.4)."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if set(value) <= {"."} else encoded


def _host(url: str) -> str:
    """Host and port of ``url``; never its user name or password."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the host platform"
    return parts.hostname + (f":{parts.port}" if parts.port else "")


def _reason(exc: httpx.HTTPError) -> str:
    return str(exc).split("\n")[0][:200] or type(exc).__name__


def _timeout_kind(exc: httpx.TimeoutException) -> str:
    kinds = {
        httpx.ConnectTimeout: "connecting",
        httpx.ReadTimeout: "waiting for the answer",
        httpx.WriteTimeout: "sending",
        httpx.PoolTimeout: "waiting for a free connection",
    }
    return next((text for cls, text in kinds.items() if isinstance(exc, cls)), "timeout")
