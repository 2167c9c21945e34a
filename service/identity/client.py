"""The shared HTTP client for calls to the host platform.

httpx's ``AsyncClient`` over httpx's own transport (httpcore, h11): nothing of the wire is
ours. What this module adds sits around that transport, never inside it:

- **No cookie is kept.** ``Set-Cookie`` is dropped before the client sees the answer, so
  one browser's host cookies can never ride along on another user's call. (A cookie
  policy on a jar given to the client would not hold: httpx copies the cookies into a
  jar of its own, encode/httpx#2946; the policy is set on that jar instead, as a second
  lock.)
- **Fresh connections on request.** A request whose extensions carry
  ``FRESH_CONNECTION`` goes over a connection opened for it and closed after it, never
  one that served another request: an answer the host sent nobody (a second answer in
  one write, a late one) can then never be read as this request's.
- **Proxies from the environment.** httpx mounts none once a transport is given, so
  ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` are read here, the way
  Python's ``urllib.request`` reads them, and each request goes direct or through the
  proxy its scheme names.
"""

from __future__ import annotations

import functools
import ssl
import urllib.request
from http.cookiejar import DefaultCookiePolicy
from typing import Final

import httpx

# An idle connection is closed before most servers' own keep-alive (5 s for uvicorn) ends.
KEEPALIVE_SECONDS: Final = 4.0
FRESH_CONNECTION: Final = "spot_sso.fresh_connection"
"""Request extension: send this request over a new connection, closed after it."""


def host_client(
    *,
    timeout: httpx.Timeout,
    max_connections: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The client for calls to the host: redirects not followed, no cookie kept.

    ``transport`` replaces httpx's own for tests (``httpx.MockTransport``); Set-Cookie is
    dropped from its answers all the same.
    """
    client = httpx.AsyncClient(
        transport=HostTransport(max_connections, transport),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # the environment's proxies are HostTransport's to apply
    )
    # A second lock: the client's own jar refuses every cookie, should one ever get past
    # the transport (a transport swapped in, say).
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CA bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set), built once per process and shared by every transport:
    reading and parsing the CA bundle is the slow part of making one."""
    return httpx.create_ssl_context()


class HostTransport(httpx.AsyncBaseTransport):
    """httpx's transports, chosen per request (proxy or not, fresh connection or pooled),
    with every ``Set-Cookie`` removed from the answers."""

    def __init__(self, max_connections: int, transport: httpx.AsyncBaseTransport | None) -> None:
        self._proxies = {
            scheme: url if "://" in url else f"http://{url}"
            for scheme, url in urllib.request.getproxies().items()
            if scheme in ("http", "https", "all") and url
        }
        self._routes: dict[tuple[str | None, bool], httpx.AsyncBaseTransport] = {}
        for proxy in (None, *set(self._proxies.values())):
            for fresh in (False, True):
                limits = httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=0 if fresh else max_connections,
                    keepalive_expiry=KEEPALIVE_SECONDS,
                )
                self._routes[proxy, fresh] = transport or httpx.AsyncHTTPTransport(
                    limits=limits, proxy=proxy, verify=ssl_context()
                )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fresh = bool(request.extensions.get(FRESH_CONNECTION))
        transport = self._routes[self._proxy_for(request.url), fresh]
        response = await transport.handle_async_request(request)
        if "set-cookie" in response.headers:
            del response.headers["set-cookie"]
        return response

    def _proxy_for(self, url: httpx.URL) -> str | None:
        if not self._proxies or urllib.request.proxy_bypass(url.host):
            return None
        return self._proxies.get(url.scheme) or self._proxies.get("all")

    async def aclose(self) -> None:
        for transport in set(self._routes.values()):
            await transport.aclose()
