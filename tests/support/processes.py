"""A real ``spot-sso`` process on a free 127.0.0.1 port, its logs kept in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.hosts import free_port

STARTUP_SECONDS = 20


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> int:
        """SIGTERM, as an orchestrator would; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode

    @property
    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_server(args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "service", *args, "--host", "127.0.0.1", "--port", str(port)]
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("SPOT_SSO_")}
    # The member ledger's SQLite file (the demo's, or a config's with the ledger on) goes
    # beside the log, never into the working folder.
    environment["SPOT_SSO_DATA_DIR"] = str(log_path.parent / f"{log_path.stem}-data")
    environment.update(env or {})
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"spot-sso exited with {process.returncode}:\n{server.logs}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    pytest.fail(f"spot-sso did not answer within {STARTUP_SECONDS}s:\n{server.logs}")
