"""The adapter for a host platform with a REST API.

- session: ``GET session_url`` with only the configured cookies and headers of the
  browser's request; 200 is the user, 401/403/404 mean "not logged in";
  a cookie or header holding more than plain characters is never sent (not logged in),
  and the call goes over a connection of its own, never one that served another call;
- lookup: ``GET user_url`` with ``{user_id}`` percent-encoded into it and the service
  credential; 404 means "no such user"; a profile whose id is not the id asked for is
  refused, and the connection it came over closed;
- ``login_url`` with ``{return_to}``, for browsers that are not logged in.

Every call, a retry included, ends within ``total_timeout_seconds``. Every failure is an
``IdentityUnavailable`` (503: down, timeout) or ``IdentityBadResponse`` (502: error
status, not HTTP, oversized or invalid body, another user's profile) naming the host and
the reason, never the credential or the cookies.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from service import __version__
from service.contract.paths import dig
from service.errors import (
    IdentityBadResponse,
    IdentityMismatch,
    IdentityUnavailable,
    reason,
)
from service.identity.base import AdapterBase, SessionContext, UserProfile
from service.identity.client import FRESH_CONNECTION
from service.identity.forwarding import refused_entry
from service.identity.mapping import map_profile
from service.settings.identity import HttpAdapterConfig
from service.state.shared import Cache, Codec, MemoryCache
from service.streams import read_at_most

NOT_LOGGED_IN: Final = frozenset({401, 403, 404})
# Profiles in Redis are JSON; in memory they are the validated ``UserProfile`` itself.
PROFILES: Final[Codec[UserProfile]] = Codec(
    dump=lambda profile: profile.model_dump_json(), load=UserProfile.model_validate_json
)
Caches = Callable[[str, float, Codec[UserProfile]], Cache[UserProfile]]


class HttpAdapter(AdapterBase):
    """Users from the host platform's HTTP API, through the shared ``httpx.AsyncClient``."""

    def __init__(
        self,
        config: HttpAdapterConfig,
        http: httpx.AsyncClient,
        caches: Caches | None = None,
    ) -> None:
        self._config = config
        self._http = http
        self._timeout = httpx.Timeout(
            config.read_timeout_seconds, connect=config.connect_timeout_seconds
        )
        caches = caches or (lambda _, ttl, __: MemoryCache(ttl))
        self._users = caches("users", config.user_cache_ttl_seconds, PROFILES)
        self._sessions = caches("sessions", config.session_cache_ttl_seconds, PROFILES)
        self._cookies = frozenset(config.forward_cookies)
        self._headers = frozenset(config.forward_headers)

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        if self._config.session_url is None:
            return None
        cookies = {n: v for n, v in ctx.cookies.items() if n in self._cookies}
        headers = {n: v for n, v in ctx.headers.items() if n in self._headers}
        if not cookies and not headers:
            return None
        if refused_entry(SessionContext(cookies=cookies, headers=headers)) is not None:
            return None  # the caller counts and logs it; here it is only never sent
        key = _session_key(cookies, headers)
        cached = await self._sessions.get(key)
        if cached is not None:
            return cached
        if cookies:
            headers["cookie"] = "; ".join(f"{n}={v}" for n, v in sorted(cookies.items()))
        url = self._config.session_url
        # Who the browser is, over a connection that served nobody else: no answer the
        # host sent earlier, asked for or not, can be read as this one.
        profile = await self._get(url, headers, "session", fresh=True)
        if profile is not None:
            await self._sessions.put(key, profile)
        return profile

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        if self._config.user_url is None:
            raise IdentityUnavailable(
                "This host platform's adapter has no user_url: it cannot look users up by "
                "ID; send the whole user profile instead."
            )
        cached = await self._users.get(user_id)
        if cached is not None:
            return cached
        url = self._config.user_url.replace("{user_id}", path_segment(user_id))
        profile = await self._get(url, self._credential(), "user lookup", expect_id=user_id)
        if profile is not None:
            await self._users.put(user_id, profile)
        return profile

    def login_redirect(self, return_to: str) -> str | None:
        if self._config.login_url is None:
            return None
        return self._config.login_url.replace("{return_to}", quote(return_to, safe=""))

    def forwarded_cookies(self) -> frozenset[str]:
        return self._cookies

    def forwarded_headers(self) -> frozenset[str]:
        return self._headers

    def _credential(self) -> dict[str, str]:
        token = self._config.token
        if token is None:
            return {}
        scheme = self._config.auth_scheme
        value = f"{scheme} {token.get_secret_value()}" if scheme else token.get_secret_value()
        return {self._config.auth_header.lower(): value}

    async def _get(
        self,
        url: str,
        headers: dict[str, str],
        what: str,
        *,
        expect_id: str | None = None,
        fresh: bool = False,
    ) -> UserProfile | None:
        """The profile at ``url``, or None for "not logged in" / "no such user".

        The whole call, a retry included, ends within ``total_timeout_seconds``, however
        slowly the host sends its bytes.
        """
        host = _host(url)
        headers = {"accept": "application/json", "user-agent": f"spot-sso/{__version__}", **headers}
        attempts = 2 if self._config.retry_on_connect_error else 1
        deadline = self._config.total_timeout_seconds
        try:
            async with asyncio.timeout(deadline):
                for attempt in range(attempts):
                    try:
                        return await self._fetch(url, headers, host, what, expect_id, fresh)
                    except httpx.ConnectError as exc:
                        if attempt + 1 == attempts:
                            raise IdentityUnavailable(
                                f"{host}: cannot connect for the {what} ({reason(exc)})"
                            ) from None
        except TimeoutError:
            raise IdentityUnavailable(
                f"{host}: the {what} took longer than {deadline:g} s "
                "(total_timeout_seconds); the host was cut off"
            ) from None
        except httpx.TimeoutException as exc:
            raise IdentityUnavailable(
                f"{host}: the {what} timed out ({_timeout_kind(exc)})"
            ) from None
        except (httpx.RemoteProtocolError, httpx.DecodingError) as exc:
            raise IdentityBadResponse(
                f"{host}: the {what} answer is not valid HTTP ({reason(exc)})"
            ) from None
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"{host}: the {what} failed ({reason(exc)})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch(
        self,
        url: str,
        headers: dict[str, str],
        host: str,
        what: str,
        expect_id: str | None,
        fresh: bool,
    ) -> UserProfile | None:
        extensions = {FRESH_CONNECTION: True} if fresh else {}
        request = self._http.build_request(
            "GET", url, headers=headers, timeout=self._timeout, extensions=extensions
        )
        reply = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            if reply.status_code in NOT_LOGGED_IN and what == "session":
                return None
            if reply.status_code == 404:
                return None
            if reply.status_code != 200:
                raise IdentityBadResponse(f"{host}: the {what} answered HTTP {reply.status_code}")
            limit = self._config.max_response_bytes
            too_large = IdentityBadResponse(
                f"{host}: the {what} answer is larger than {limit} bytes"
            )
            declared = reply.headers.get("content-length")
            body = await read_at_most(reply.aiter_bytes(), limit, declared, too_large)
            profile = self._profile(_json(body, host, what), host)
            if expect_id is not None and profile.id != expect_id:
                # Not this request's answer: the connection is out of step with the host,
                # so it is closed here and never serves another request.
                await _discard_connection(reply)
                raise IdentityMismatch(
                    f"{host}: the {what} for one user answered with the profile of another; "
                    "the answer was refused and its connection closed"
                )
            return profile
        finally:
            await reply.aclose()

    def _profile(self, data: Any, host: str) -> UserProfile:
        """The ``UserProfile`` in the host's JSON, found by the configured dotted paths."""
        root = dig(data, self._config.profile_path) if self._config.profile_path else data
        if not isinstance(root, Mapping):
            raise IdentityBadResponse(f"{host}: the answer holds no profile object")
        return map_profile(
            root, self._config.fields, self._config.attributes, "The host platform's profile"
        )


def _session_key(cookies: Mapping[str, str], headers: Mapping[str, str]) -> str:
    material = json.dumps([sorted(cookies.items()), sorted(headers.items())])
    return hashlib.sha256(material.encode()).hexdigest()


def _json(body: bytes, host: str, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        raise IdentityBadResponse(f"{host}: the {what} answered invalid JSON") from None


async def _discard_connection(reply: httpx.Response) -> None:
    """Close the connection ``reply`` came over; the pool drops it instead of reusing it."""
    stream = reply.extensions.get("network_stream")
    if stream is not None:
        await stream.aclose()


def path_segment(value: str) -> str:
    """``value`` as one path segment: everything but ASCII letters, digits, '-' and '_'
    percent-encoded, '.' and '~' included, so that no host, whatever it decodes, reads
    another path than this one segment (no '/', no dot segment, no encoded one)."""
    return quote(value, safe="").replace(".", "%2E").replace("~", "%7E")


def _host(url: str) -> str:
    """Host and port of ``url``; never its user name or password."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the host platform"
    return parts.hostname + (f":{parts.port}" if parts.port else "")


def _timeout_kind(exc: httpx.TimeoutException) -> str:
    kinds = {
        httpx.ConnectTimeout: "connecting",
        httpx.ReadTimeout: "waiting for the answer",
        httpx.WriteTimeout: "sending",
        httpx.PoolTimeout: "waiting for a free connection",
    }
    return next((text for cls, text in kinds.items() if isinstance(exc, cls)), "timeout")
