"""Small servers on 127.0.0.1 for the service to call, and the ports they take.

``tests.support.raw_host.RawHost`` writes HTTP byte by byte; ``serving`` runs a server
of the standard library's ``http.server`` in a thread, for hosts that answer plainly.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on: for a server to start, or to find closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(server: HTTPServer) -> Iterator[str]:
    """``server`` answering from a thread of its own until the block ends; its URL."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer the request ``handler`` holds with ``body`` as JSON, framed by Content-Length."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
