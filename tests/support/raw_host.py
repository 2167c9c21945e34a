"""A host platform written byte by byte, for the hosts no framework would let us play.

``RawHost`` listens on 127.0.0.1 in a thread of its own (its own event loop), so a real
``spot-sso serve`` process can call it while the test drives that process. For each
request it reads, it calls ``respond(request, peer)``, which writes whatever bytes it
likes: a late answer nobody asked for, two answers in one write, endless trailers, a
``101``, a body one byte at a time. Every request it read is kept, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

STOP_SECONDS = 5


@dataclass
class Received:
    """One request as the host read it."""

    connection: int
    line: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return self.line.split(" ")[1]


@dataclass
class Peer:
    """One accepted connection: write to it, or wait for the client to hang up."""

    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    sent: int = 0
    hung_up: threading.Event = field(default_factory=threading.Event)

    async def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise ConnectionResetError("the connection is closed")
        self.writer.write(data)
        await self.writer.drain()
        self.sent += len(data)


Respond = Callable[[Received, Peer], Awaitable[bool]]
"""Answers one request; returns False to close the connection afterwards."""


class RawHost:
    """A raw HTTP/1.1 server on a free 127.0.0.1 port, started and stopped as a context."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[Received] = []
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawHost:
        self._thread.start()
        self._server = self._run(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_SECONDS)
        self._loop.close()

    def _run(self, coroutine: Awaitable[Any]) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(STOP_SECONDS)

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self.peers:
            peer.writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1)
            for task in pending:  # a script still waiting: it ends quietly (see _accept)
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(len(self.peers) + 1, reader, writer)
        self.peers.append(peer)
        try:
            while (request := await _read_request(reader, peer.number)) is not None:
                self.requests.append(request)
                if not await self.respond(request, peer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client hung up (what several tests are about), or the host stops
        except Exception as exc:  # a broken script: the test reads self.errors
            self.errors.append(exc)
        finally:
            peer.hung_up.set()
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    pairs = [line.split(":", 1) for line in lines[1:] if ":" in line]
    return Received(connection, lines[0], {k.strip().lower(): v.strip() for k, v in pairs})


def answer(
    body: bytes = b"", *headers: str, status: str = "200 OK", json_body: Any = None
) -> bytes:
    """An HTTP/1.1 answer framed by Content-Length."""
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers = ("Content-Type: application/json", *headers)
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def profile(user_id: str) -> dict[str, str]:
    """The host's JSON for ``user_id``, in the adapter's default field names."""
    return {
        "id": user_id,
        "email": f"{user_id}@example.com",
        "first_name": user_id.title(),
        "last_name": "Tester",
    }
