"""LeanTransport (service/transport.py) through httpx's AsyncClient, against raw HTTP/1.1
servers on real sockets on 127.0.0.1 that read each request and write scripted bytes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import http.server
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.runtime import Runtime
from service.transport import LeanTransport, host_client
from tests.api.test_host_faults import USER, http_identity
from tests.conftest import make_settings

TIMEOUT = httpx.Timeout(0.5)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy of the machine stands between a test and its server."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# --- raw servers -------------------------------------------------------------------------


class Received:
    """One request as the server read it: its connection's number, head and body."""

    def __init__(self, connection: int, head: bytes) -> None:
        self.connection = connection
        self.head = head
        self.body = b""

    @property
    def line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def headers(self) -> dict[str, str]:
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        pairs = [line.split(":", 1) for line in lines if line]
        return {name.strip().lower(): value.strip() for name, value in pairs}


class Peer:
    """One accepted connection, as a server script sees it."""

    def __init__(
        self,
        server: RawServer,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.number = number
        self.reader = reader
        self.writer = writer

    async def request(self) -> Received | None:
        """The next request, or None when the client closed the connection instead."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        received = Received(self.number, head)
        headers = received.headers
        if "content-length" in headers:
            received.body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            received.body = await read_chunked(self.reader)
        self.server.requests.append(received)
        return received

    async def send(self, *parts: bytes, pause: float = 0.0) -> None:
        for part in parts:
            self.writer.write(part)
            await self.writer.drain()
            if pause:
                await asyncio.sleep(pause)

    async def until_closed(self) -> None:
        """Reads until the client closes the connection, then says so."""
        while await self.reader.read(65536):
            pass
        self.server.client_closed.set()


Script = Callable[[Peer], Awaitable[None]]


class RawServer:
    """``asyncio.start_server`` on a free port, running ``script`` for each connection.

    The connection is closed when the script returns; every accepted connection is
    counted and every request read is kept, in order.
    """

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.requests: list[Received] = []
        self.client_closed = asyncio.Event()
        self.errors: list[Exception] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def lines(self) -> list[str]:
        return [request.line for request in self.requests]

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=2)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if pending:
                self.errors.append(TimeoutError(f"{len(pending)} connection(s) left hanging"))
        await self._server.wait_closed()
        if kind is None:
            assert not self.errors, self.errors

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            await self.script(Peer(self, self.connections, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: what some tests are about
        except Exception as exc:  # a broken script: reported when the server stops
            self.errors.append(exc)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A body in chunked transfer coding, decoded (trailers read and dropped)."""
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return body
        body += await reader.readexactly(size)
        assert await reader.readexactly(2) == b"\r\n"


def reply(body: bytes = b"", *headers: str, status: str = "200 OK") -> bytes:
    """An HTTP/1.1 answer framed by Content-Length."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answering(respond: Callable[[Received], bytes]) -> Script:
    """Answers each request of a connection with ``respond(request)`` until the client closes."""

    async def script(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            await peer.send(respond(request))
        peer.server.client_closed.set()

    return script


def ok(body: bytes = b"ok") -> Script:
    return answering(lambda request: reply(body))


@contextlib.asynccontextmanager
async def lean_client(
    timeouts: httpx.Timeout = TIMEOUT, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on a fresh LeanTransport, as the Runtime builds its own."""
    transport = LeanTransport(**options)
    async with httpx.AsyncClient(
        transport=transport, timeout=timeouts, follow_redirects=False
    ) as client:
        yield client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- keep-alive and framing --------------------------------------------------------------


async def test_sequential_requests_share_one_connection() -> None:
    count = 0

    def numbered(request: Received) -> bytes:
        nonlocal count
        count += 1
        return reply(f"hello {count}".encode(), f"X-Seq: {count}", "Content-Type: text/plain")

    async with (
        asyncio.timeout(5),
        RawServer(answering(numbered)) as server,
        lean_client() as client,
    ):
        responses = [await client.get(f"{server.url}/path?q=1") for _ in range(5)]
    assert server.connections == 1
    for number, response in enumerate(responses, 1):
        assert response.status_code == 200
        assert response.text == f"hello {number}"
        assert response.headers["x-seq"] == str(number)
        assert response.headers["content-type"] == "text/plain"
        assert response.extensions["http_version"] == b"HTTP/1.1"
    assert server.lines == ["GET /path?q=1 HTTP/1.1"] * 5
    assert all(r.headers["host"] == f"127.0.0.1:{server.port}" for r in server.requests)
    assert server.requests[0].head.split(b"\r\n")[1].lower().startswith(b"host:")


async def test_a_chunked_answer_is_decoded_and_the_connection_reused() -> None:
    async def script(peer: Peer) -> None:
        assert await peer.request() is not None
        await peer.send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5\r\nhello\r\n",
            b"1;ext=1\r\n \r\n",
            b"5\r\nworld\r\n",
            b"0\r\n\r\n",
            pause=0.01,
        )
        await ok(b"again")(peer)

    async with asyncio.timeout(5), RawServer(script) as server, lean_client() as client:
        first = await client.get(server.url)
        second = await client.get(server.url)
    assert (first.status_code, first.content) == (200, b"hello world")
    assert first.headers["transfer-encoding"] == "chunked"
    assert second.content == b"again"
    assert server.connections == 1


async def test_an_answer_ended_by_the_close_is_read_whole() -> None:
    async def script(peer: Peer) -> None:
        assert await peer.request() is not None
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", b"until ", b"close")

    async with asyncio.timeout(5), RawServer(script) as server, lean_client() as client:
        first = await client.get(server.url)
        second = await client.get(server.url)
    assert first.content == second.content == b"until close"
    assert server.connections == 2


async def test_a_connection_the_server_closed_after_answering_is_replaced() -> None:
    async def script(peer: Peer) -> None:
        assert await peer.request() is not None
        await peer.send(reply(f"conn {peer.number}".encode()))  # then closes, unannounced

    async with asyncio.timeout(5), RawServer(script) as server, lean_client() as client:
        first = await client.get(server.url)
        second = await client.get(server.url)  # the close may not have been seen yet
        await asyncio.sleep(0.05)
        third = await client.get(server.url)  # the close has been seen
    assert [r.text for r in (first, second, third)] == ["conn 1", "conn 2", "conn 3"]
    assert server.connections == 3
    assert server.lines == ["GET / HTTP/1.1"] * 3


def drops_the_second_request(peer: Peer) -> Awaitable[None]:
    """Connection 1 answers one request, reads the next and closes without answering."""

    async def first_connection() -> None:
        assert await peer.request() is not None
        await peer.send(reply(b"first"))
        assert await peer.request() is not None

    if peer.number == 1:
        return first_connection()
    return ok(f"from connection {peer.number}".encode())(peer)


async def test_a_get_the_server_dropped_is_sent_again_on_a_new_connection() -> None:
    async with (
        asyncio.timeout(5),
        RawServer(drops_the_second_request) as server,
        lean_client() as client,
    ):
        first = await client.get(f"{server.url}/a")
        second = await client.get(f"{server.url}/b")
    assert (first.text, second.text) == ("first", "from connection 2")
    assert server.connections == 2
    assert server.lines == ["GET /a HTTP/1.1", "GET /b HTTP/1.1", "GET /b HTTP/1.1"]
    assert [r.connection for r in server.requests] == [1, 1, 2]


async def test_a_post_the_server_dropped_is_not_sent_again() -> None:
    async with (
        asyncio.timeout(5),
        RawServer(drops_the_second_request) as server,
        lean_client() as client,
    ):
        assert (await client.get(server.url)).text == "first"
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(f"{server.url}/p", content=b"payload")
        assert server.connections == 1
    assert server.lines == ["GET / HTTP/1.1", "POST /p HTTP/1.1"]
    assert server.requests[1].body == b"payload"


async def test_connection_close_in_the_answer_is_honoured() -> None:
    async with (
        asyncio.timeout(5),
        RawServer(answering(lambda r: reply(b"bye", "Connection: close"))) as server,
        lean_client() as client,
    ):
        # The server keeps the connection open: only the header tells the client.
        responses = [await client.get(server.url) for _ in range(2)]
        assert [r.text for r in responses] == ["bye", "bye"]
        assert server.connections == 2
        assert [r.connection for r in server.requests] == [1, 2]


async def test_keepalive_expiry_zero_opens_a_connection_per_request() -> None:
    async with (
        asyncio.timeout(5),
        RawServer(ok()) as server,
        lean_client(keepalive_expiry=0) as client,
    ):
        for _ in range(3):
            assert (await client.get(server.url)).text == "ok"
    assert server.connections == 3


async def test_a_head_answer_has_no_body_whatever_its_content_length() -> None:
    def respond(request: Received) -> bytes:
        if request.line.startswith("HEAD "):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"
        return reply(b"x" * 50)

    async with asyncio.timeout(5), RawServer(answering(respond)) as server, lean_client() as client:
        head = await client.head(server.url)
        get = await client.get(server.url)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "50")
    assert get.content == b"x" * 50
    assert server.lines == ["HEAD / HTTP/1.1", "GET / HTTP/1.1"]


@pytest.mark.parametrize("pause", [0.05, 0.0], ids=["read-of-its-own", "same-read"])
async def test_an_interim_answer_is_skipped(pause: float) -> None:
    async def script(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            await peer.send(
                b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n",
                reply(request.line.split()[1].encode()),
                pause=pause,
            )

    async with asyncio.timeout(5), RawServer(script) as server, lean_client() as client:
        first = await client.get(f"{server.url}/first")
        second = await client.get(f"{server.url}/second")
    assert (first.status_code, first.content) == (200, b"/first")
    assert (second.status_code, second.content) == (200, b"/second")
    assert "link" not in first.headers  # the interim answer's headers are not merged in


# --- request bodies ----------------------------------------------------------------------


async def test_a_json_body_arrives_exactly() -> None:
    payload = {"userId": "u-1", "name": "Zoë", "groups": ["a", "b"], "n": 3}
    expected = httpx.Request("POST", "http://x/", json=payload).content
    async with (
        asyncio.timeout(5),
        RawServer(answering(lambda r: reply(b"{}", "Content-Type: application/json"))) as server,
        lean_client() as client,
    ):
        response = await client.post(f"{server.url}/tokens", json=payload)
    assert response.json() == {}
    [request] = server.requests
    assert request.line == "POST /tokens HTTP/1.1"
    assert request.body == expected and json.loads(request.body) == payload
    assert request.headers["content-length"] == str(len(expected))
    assert request.headers["content-type"] == "application/json"


async def test_a_streamed_body_arrives_chunked_and_whole() -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"alpha-", b"", b"beta-", b"gamma"):
            yield part

    async with asyncio.timeout(5), RawServer(ok()) as server, lean_client() as client:
        response = await client.post(f"{server.url}/upload", content=parts())
        after = await client.get(server.url)  # a framing error would break this one
    assert response.text == after.text == "ok"
    upload = server.requests[0]
    assert upload.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in upload.headers
    assert upload.body == b"alpha-beta-gamma"
    assert server.lines == ["POST /upload HTTP/1.1", "GET / HTTP/1.1"]
    assert server.connections == 1


# --- failures ----------------------------------------------------------------------------


async def test_a_server_that_never_answers_gives_a_read_timeout() -> None:
    async def silent(peer: Peer) -> None:
        assert await peer.request() is not None
        await peer.until_closed()

    async with (
        asyncio.timeout(5),
        RawServer(silent) as server,
        lean_client(timeouts=httpx.Timeout(0.3)) as client,
    ):
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url)
        assert 0.25 < asyncio.get_running_loop().time() - started < 2
        assert server.lines == ["GET / HTTP/1.1"]


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with asyncio.timeout(5), lean_client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{closed_port()}/")


async def test_the_pool_limit_gives_a_pool_timeout_until_a_connection_is_free() -> None:
    async with (
        asyncio.timeout(5),
        RawServer(ok(b"x" * 10)) as server,
        lean_client(max_connections=1) as client,
    ):
        first = await client.send(client.build_request("GET", server.url), stream=True)
        try:
            with pytest.raises(httpx.PoolTimeout):
                await client.get(server.url, timeout=httpx.Timeout(1, pool=0.2))
            assert server.connections == 1
        finally:
            await first.aclose()
        assert (await client.get(server.url)).content == b"x" * 10


async def test_a_malformed_status_line_is_a_protocol_error() -> None:
    async def script(peer: Peer) -> None:
        assert await peer.request() is not None
        await peer.send(b"HTXP/1.1 200 OK\r\n\r\n")
        await peer.until_closed()

    async with asyncio.timeout(5), RawServer(script) as server, lean_client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)
    assert server.connections == 1


BIG_HEAD = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 4096 + b"\r\nContent-Length: 0\r\n\r\n"


async def test_a_head_arriving_in_pieces_beyond_the_cap_is_refused() -> None:
    async def script(peer: Peer) -> None:
        assert await peer.request() is not None
        pieces = [BIG_HEAD[i : i + 256] for i in range(0, len(BIG_HEAD), 256)]
        await peer.send(*pieces, pause=0.005)
        await peer.until_closed()

    async with (
        asyncio.timeout(5),
        RawServer(script) as server,
        lean_client(max_head_bytes=1024) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError, match="larger than 1024"):
            await client.get(server.url)


async def test_a_head_beyond_the_cap_is_refused_even_in_one_piece() -> None:
    async def script(peer: Peer) -> None:
        assert await peer.request() is not None
        await peer.send(BIG_HEAD)
        await peer.until_closed()

    async with (
        asyncio.timeout(5),
        RawServer(script) as server,
        lean_client(max_head_bytes=1024) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)


async def test_a_close_in_the_middle_of_the_body_is_a_protocol_error() -> None:
    async def script(peer: Peer) -> None:
        assert await peer.request() is not None
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"0123456789")

    async with (
        asyncio.timeout(5),
        RawServer(script) as server,
        lean_client() as client,
        client.stream("GET", server.url) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await response.aread()


async def test_an_unsupported_scheme_is_refused() -> None:
    transport = LeanTransport()
    try:
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))
    finally:
        await transport.aclose()


# --- closing -----------------------------------------------------------------------------


async def test_aclose_closes_idle_connections_and_refuses_new_requests() -> None:
    transport = LeanTransport()
    async with (
        asyncio.timeout(5),
        RawServer(ok()) as server,
        httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as client,
    ):
        assert (await client.get(server.url)).text == "ok"
        assert not server.client_closed.is_set()
        await transport.aclose()
        async with asyncio.timeout(1):
            await server.client_closed.wait()
        with pytest.raises(httpx.ConnectError):
            await client.get(server.url)
        assert server.connections == 1


# --- TLS ---------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for IP 127.0.0.1, signed by its own key: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_tls_is_verified_against_the_given_or_the_default_cas(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    async with asyncio.timeout(5), RawServer(ok(b"secure"), tls=server_tls) as server:
        assert server.url.startswith("https://127.0.0.1:")
        async with lean_client(ssl_context=trusting) as client:
            responses = [await client.get(f"{server.url}/s") for _ in range(2)]
        assert [r.text for r in responses] == ["secure", "secure"]
        assert server.connections == 1
        async with lean_client() as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{server.url}/s")
        assert server.lines == ["GET /s HTTP/1.1"] * 2


# --- proxies -----------------------------------------------------------------------------


async def test_an_environment_proxy_still_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(5), RawServer(ok(b"via proxy")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        # The same environment with httpx's own transport, to show the proxy server works.
        async with httpx.AsyncClient(timeout=TIMEOUT) as plain:
            assert (await plain.get("http://upstream.invalid/x")).text == "via proxy"
        assert proxy.lines == ["GET http://upstream.invalid/x HTTP/1.1"]
        runtime = Runtime(make_settings())  # its shared client, as adapters get it
        try:
            response = await runtime.http.get("http://upstream.invalid/x")
        finally:
            await runtime.aclose()
        assert response.text == "via proxy"
        assert proxy.lines == ["GET http://upstream.invalid/x HTTP/1.1"] * 2


# --- the Runtime's client ----------------------------------------------------------------


async def test_the_runtime_keeps_its_connection_to_the_host() -> None:
    body = json.dumps(USER).encode()
    async with (
        asyncio.timeout(5),
        RawServer(answering(lambda r: reply(body, "Content-Type: application/json"))) as host,
    ):
        runtime = Runtime(make_settings(identity=http_identity(host.url)))
        try:
            first = await runtime.fetch_user("u-1")
            second = await runtime.fetch_user("u-1")
        finally:
            await runtime.aclose()
        async with asyncio.timeout(1):
            await host.client_closed.wait()  # aclose closed the kept connection
    assert first is not None and second is not None
    assert first.email == second.email == USER["email"]
    assert host.connections == 1
    assert host.lines == ["GET /api/users/u-1 HTTP/1.1"] * 2
    assert host.requests[0].headers["authorization"] == "Bearer host-service-token-0123456789"


# --- host_client: a streamed send goes straight to the transport -----------------------


def silent_after_request(peer: Peer) -> Awaitable[None]:
    async def script() -> None:
        assert await peer.request() is not None
        await peer.until_closed()

    return script()


async def test_a_streamed_send_is_answered_by_the_transport_with_the_request_attached() -> None:
    body = json.dumps(USER).encode()
    async with (
        asyncio.timeout(5),
        RawServer(answering(lambda r: reply(body, "Content-Type: application/json"))) as host,
    ):
        client = host_client(timeout=TIMEOUT, max_connections=4)
        try:
            request = httpx.Request("GET", f"{host.url}/api/users/u-1")
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                assert response.request is request
                assert response.status_code == 200
                assert response.headers["content-type"] == "application/json"
                assert json.loads(await response.aread()) == USER
            finally:
                await response.aclose()
            # The request named no timeout: it got the client's.
            assert request.extensions["timeout"] == TIMEOUT.as_dict()
        finally:
            await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await client.send(httpx.Request("GET", host.url), stream=True, follow_redirects=False)
    assert host.lines == ["GET /api/users/u-1 HTTP/1.1"]


async def test_a_streamed_send_without_a_timeout_of_its_own_times_out_by_the_clients() -> None:
    async with asyncio.timeout(5), RawServer(silent_after_request) as server:
        client = host_client(timeout=httpx.Timeout(0.3), max_connections=4)
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(httpx.ReadTimeout):
                await client.send(
                    httpx.Request("GET", server.url), stream=True, follow_redirects=False
                )
            assert 0.25 < asyncio.get_running_loop().time() - started < 2
        finally:
            await client.aclose()


async def test_sends_that_need_the_clients_machinery_go_through_httpx() -> None:
    """Event hooks, auth, redirects to follow, or a body to read: httpx's own path."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with (
        asyncio.timeout(5),
        RawServer(answering(lambda r: reply(b"ok"))) as server,
    ):
        client = host_client(timeout=TIMEOUT, max_connections=4)
        try:
            plain = await client.send(httpx.Request("GET", f"{server.url}/read"))
            assert plain.text == "ok"
            assert plain.elapsed.total_seconds() >= 0  # httpx's wrapping was applied
            with_auth = await client.send(
                httpx.Request("GET", f"{server.url}/auth"),
                stream=True,
                follow_redirects=False,
                auth=("user", "secret"),
            )
            await with_auth.aclose()
            client.event_hooks = {"request": [hook], "response": []}
            hooked = await client.send(
                httpx.Request("GET", f"{server.url}/hooked"), stream=True, follow_redirects=False
            )
            await hooked.aclose()
        finally:
            await client.aclose()
    assert seen == ["/hooked"]
    assert server.lines == ["GET /read HTTP/1.1", "GET /auth HTTP/1.1", "GET /hooked HTTP/1.1"]
    assert server.requests[1].headers["authorization"].startswith("Basic ")


# The collected transport of the closed loop warns that it was not closed: expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_aclose_in_another_loop_after_the_first_has_closed() -> None:
    """A connection kept by a loop that has since closed is shut down, without an error."""

    class Ok(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    transport = LeanTransport()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    async def get() -> bytes:
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as client:
            response = await client.send(client.build_request("GET", url))
            return response.content

    try:
        request = httpx.Request("GET", url)
        assert asyncio.run(_one(transport, request)) == b"ok"  # leaves the connection idle
        asyncio.run(transport.aclose())  # another loop: nothing raised
        gc.collect()  # the closed loop's transport goes now, its warning ignored above
        with pytest.raises(httpx.ConnectError):
            asyncio.run(get())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def _one(transport: LeanTransport, request: httpx.Request) -> bytes:
    response = await transport.handle_async_request(request)
    try:
        return b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
