"""A lean HTTP/1.1 transport for httpx: the shared client's connections to the host platform.

httpx's default transport (httpcore) cost about 1 ms of CPU per call to the host under
load, most of it pool bookkeeping; a whole token request costs about a third of that.
This transport does the same job for plain HTTP/1.1 with less: asyncio streams (uvloop's,
under uvicorn), httptools (the parser uvicorn already uses), a keep-alive pool per origin.

What it keeps from httpx: the request and response objects, the timeouts of each
request (``connect``, ``read``, ``write``, ``pool``) and httpx's exceptions
(``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``WriteTimeout``,
``PoolTimeout``, ``RemoteProtocolError``, ``ReadError``), so callers cannot tell the two
apart. httpx mounts no proxy from the environment once a transport is given, so when
``HTTP_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY`` is set, ``host_client`` leaves httpx's
own transport in place, and the proxy is used as before.

- TLS for ``https://`` (certificates checked against httpx's default CA bundle).
- A connection idle for ``keepalive_expiry`` seconds is closed rather than reused, so a
  server's own keep-alive timeout (5 s for uvicorn) is not raced; one the server closed
  anyway is noticed before the request goes out, or, when the close arrives while
  the request is being sent, the request is sent once more on a new connection (only
  for GET and HEAD, and only when no byte of an answer had arrived).
- The response head is capped (``max_head_bytes``); the body is streamed as it arrives;
  interim ``1xx`` answers are skipped.
- No HTTP/2, no ``Expect: 100-continue``, no upgrades: the host API needs none.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator
from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from typing import Any, Final

import httptools
import httpx

_READ_SIZE: Final = 65536
_IDEMPOTENT: Final = frozenset({"GET", "HEAD"})
_Origin = tuple[str, str, int]


def host_client(*, timeout: httpx.Timeout, max_connections: int) -> httpx.AsyncClient:
    """The shared client for calls to the host: redirects not followed, no cookies kept,
    this transport unless the environment names a proxy (then httpx's, through it)."""
    proxied = any(scheme in urllib.request.getproxies() for scheme in ("http", "https", "all"))
    transport = (
        None
        if proxied
        else LeanTransport(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
    )
    return _CookielessClient(
        lean=transport,
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
    )


class _EmptyJar(CookieJar):
    """A jar that keeps nothing: its policy refuses every cookie, and it takes none."""

    def __init__(self) -> None:
        super().__init__(policy=DefaultCookiePolicy(allowed_domains=[]))

    def set_cookie(self, cookie: Cookie) -> None:
        return None


class _NoCookies(httpx.Cookies):
    """Cookies that stay empty: one browser's host cookies must never reach another call.

    ``Set-Cookie`` headers are not even parsed: httpx asks after every answer, and wrapping
    the answer for ``http.cookiejar`` cost about 20 µs a call.
    """

    def __init__(self) -> None:
        super().__init__(_EmptyJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        return None


class _CookielessClient(httpx.AsyncClient):
    """An ``AsyncClient`` whose ``cookies`` are always empty, whatever is assigned.

    With a ``LeanTransport`` (``lean``), ``send(..., stream=True, follow_redirects=False)``
    hands the request straight to it when none of the client's own machinery applies (no
    auth, no event hooks): the auth flow, redirect loop, hooks and response wrapping cost
    about a seventh of a call's CPU (180 against 154 µs of the caller's CPU per call, 32
    callers at once against ``bench/host_app.py``).
    The request still gets the client's timeout when it names none; any other call goes
    through httpx as usual.
    """

    _no_cookies = _NoCookies()

    def __init__(self, *, lean: LeanTransport | None = None, **kwargs: Any) -> None:
        super().__init__(transport=lean, **kwargs)
        self._lean = lean

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        lean = self._lean
        if (
            lean is None
            or not stream
            or follow_redirects is not False
            or auth is not httpx.USE_CLIENT_DEFAULT
            or self.auth is not None
            or any(self.event_hooks.values())
        ):
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if "timeout" not in request.extensions:
            request.extensions = {**request.extensions, "timeout": self.timeout.as_dict()}
        response = await lean.handle_async_request(request)
        response.request = request
        return response


class _Stale(Exception):
    """A reused connection closed before any byte of the answer: safe to send again."""


class _Parsed:
    """httptools callbacks, collected: status, headers, body chunks, and whether done.

    Interim ``1xx`` answers (``100 Continue``, ``103 Early Hints``) are skipped, as RFC
    9110 15.2 asks: their head is forgotten and the final answer's is read next.
    """

    __slots__ = (
        "chunks",
        "done",
        "head_done",
        "head_size",
        "headers",
        "keep_alive",
        "parser",
        "status",
        "until_close",
        "version",
    )

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.version = "1.1"
        self.keep_alive = False
        self.until_close = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.head_done = False
        self.done = False
        self.head_size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        # Read now: once the whole message is parsed, the parser is ready for the next one.
        self.status = self.parser.get_status_code()
        if 100 <= self.status < 200 and self.status != 101:
            self.headers = []  # an interim answer: the final one follows
            return
        self.version = self.parser.get_http_version()
        self.keep_alive = self.parser.should_keep_alive() and self.status != 101
        names = {name.lower() for name, _ in self.headers}
        framed = b"content-length" in names or b"transfer-encoding" in names
        # Without either, the body runs to the close (RFC 9112 6.3), unless it has none.
        self.until_close = not framed and self.status not in (101, 204, 304)
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(bytes(body))

    def on_message_complete(self) -> None:
        if self.head_done:
            self.done = True


class _Connection:
    __slots__ = ("idle_since", "loop", "origin", "reader", "writer")

    def __init__(
        self, origin: _Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.loop = asyncio.get_running_loop()

    def usable(self, now: float, expiry: float) -> bool:
        """Open, not closed by the peer, not idle for too long, and of this event loop."""
        return (
            self.loop is asyncio.get_running_loop()
            and not self.reader.at_eof()
            and not self.writer.is_closing()
            and now - self.idle_since < expiry
        )

    def close(self) -> None:
        if self.loop.is_closed():
            # The loop that owns it is gone and cannot run a close: the peer is told (a
            # shutdown), and the descriptor is released when the transport is collected.
            with contextlib.suppress(OSError, AttributeError):
                self.writer.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            return
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over asyncio streams, for httpx's ``AsyncClient``."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_keepalive_connections: int = 100,
        keepalive_expiry: float = 4.0,
        max_head_bytes: int = 65536,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_keepalive_connections
        self._expiry = keepalive_expiry
        self._max_head = max_head_bytes
        self._ssl = ssl_context
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        await self._acquire(timeouts.get("pool"), request)
        try:
            head = _request_head(request) + _framed(request, await request.aread())
            attempts = 2 if request.method in _IDEMPOTENT else 1
            for attempt in range(attempts):
                connection = await self._connection(request, timeouts.get("connect"))
                reused = connection.idle_since > 0
                try:
                    return await self._exchange(connection, request, head, timeouts)
                except _Stale:
                    connection.close()
                    if not reused or attempt + 1 == attempts:
                        raise httpx.RemoteProtocolError(
                            "the server closed the connection without answering",
                            request=request,
                        ) from None
                except BaseException:
                    connection.close()
                    raise
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            self._slots.release()
            raise

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        self._idle_count = 0

    async def _acquire(self, within: float | None, request: httpx.Request) -> None:
        try:
            async with asyncio.timeout(within):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no connection became free in time", request=request) from None

    async def _connection(self, request: httpx.Request, within: float | None) -> _Connection:
        url = request.url
        origin: _Origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.usable(now, self._expiry):
                return connection
            connection.close()
        return await self._open(origin, request, within)

    async def _open(
        self, origin: _Origin, request: httpx.Request, within: float | None
    ) -> _Connection:
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            tls = self._ssl
        try:
            async with asyncio.timeout(within):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port}", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(_connect_reason(exc), request=request) from None
        return _Connection(origin, reader, writer)

    async def _exchange(
        self,
        connection: _Connection,
        request: httpx.Request,
        head: bytes,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        writer = connection.writer
        reused = connection.idle_since > 0
        try:
            writer.write(head)
            async with asyncio.timeout(timeouts.get("write")):
                await writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("sending the request", request=request) from None
        except OSError as exc:
            if reused:
                raise _Stale() from None
            raise httpx.WriteError(_reason(exc), request=request) from None
        parsed = _Parsed()
        parser = parsed.parser
        read_timeout = timeouts.get("read")
        while not parsed.head_done:
            try:
                data = await self._read(connection, read_timeout, request)
            except httpx.ReadError:  # reset: on a reused connection, before any answer
                if reused and parsed.head_size == 0:
                    raise _Stale() from None
                raise
            if not data:
                if parsed.head_size == 0:
                    raise _Stale()
                raise httpx.RemoteProtocolError(
                    "the server closed the connection mid-answer", request=request
                )
            # The head must end within max_head_bytes: only that much is parsed before
            # the parser has seen its end; what follows it in the same read is body.
            room = self._max_head - parsed.head_size
            parsed.head_size += min(len(data), room)
            _feed(parser, data[:room], request)
            if not parsed.head_done:
                if len(data) >= room:
                    raise httpx.RemoteProtocolError(
                        f"the response head is larger than {self._max_head} bytes",
                        request=request,
                    )
                continue
            if len(data) > room:
                _feed(parser, data[room:], request)
        if request.method == "HEAD":
            parsed.done = True  # a HEAD answer has no body, whatever its Content-Length says
        keep_alive = parsed.keep_alive and request.method != "HEAD"
        stream = _Body(self, connection, parser, parsed, request, read_timeout, keep_alive)
        return httpx.Response(
            parsed.status,
            headers=parsed.headers,
            stream=stream,
            extensions={"http_version": f"HTTP/{parsed.version}".encode()},
        )

    async def _read(
        self, connection: _Connection, within: float | None, request: httpx.Request
    ) -> bytes:
        try:
            async with asyncio.timeout(within):
                return await connection.reader.read(_READ_SIZE)
        except TimeoutError:
            raise httpx.ReadTimeout("waiting for the answer", request=request) from None
        except OSError as exc:
            raise httpx.ReadError(_reason(exc), request=request) from None

    def _release(self, connection: _Connection, reusable: bool) -> None:
        if reusable and not self._closed and self._idle_count < self._max_idle:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)
            self._idle_count += 1
        else:
            connection.close()
        self._slots.release()


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; the connection goes back to the pool once read."""

    def __init__(
        self,
        transport: LeanTransport,
        connection: _Connection,
        parser: httptools.HttpResponseParser,
        parsed: _Parsed,
        request: httpx.Request,
        read_timeout: float | None,
        keep_alive: bool,
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._parser = parser
        self._parsed = parsed
        self._request = request
        self._timeout = read_timeout
        self._keep_alive = keep_alive

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parsed = self._parsed
        while True:
            while parsed.chunks:
                yield parsed.chunks.pop(0)
            if parsed.done or self._connection is None:
                return
            data = await self._transport._read(self._connection, self._timeout, self._request)
            if not data:
                self._keep_alive = False
                if parsed.until_close:  # no Content-Length, no chunking: the close ends it
                    parsed.done = True
                    continue
                raise httpx.RemoteProtocolError(
                    "the server closed the connection mid-answer", request=self._request
                )
            _feed(self._parser, data, self._request)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            reusable = self._parsed.done and self._keep_alive
            self._transport._release(connection, reusable)


def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers, with Host first (httpx put it in the headers)."""
    url = request.url
    lines = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1\r\n".encode("ascii")]
    lines.extend(name + b": " + value + b"\r\n" for name, value in request.headers.raw)
    lines.append(b"\r\n")
    return b"".join(lines)


def _framed(request: httpx.Request, body: bytes) -> bytes:
    """The body as sent: as it is, or as one chunk when httpx announced chunked encoding."""
    if request.headers.get("transfer-encoding", "").lower() != "chunked":
        return body
    return (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"


def _feed(parser: httptools.HttpResponseParser, data: bytes, request: httpx.Request) -> None:
    try:
        parser.feed_data(data)
    except httptools.HttpParserError as exc:
        raise httpx.RemoteProtocolError(f"malformed response ({exc})", request=request) from None


def _connect_reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return _reason(exc)


def _reason(exc: BaseException) -> str:
    return str(exc).split("\n")[0][:200] or type(exc).__name__
