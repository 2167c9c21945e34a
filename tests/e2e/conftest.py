"""``server_factory``: real ``spot-sso`` processes (tests.support.processes), stopped after
the test."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.processes import Server, start_server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Server] = []

    def start(args: Sequence[str], env: dict[str, str] | None = None) -> Server:
        server = start_server(args, tmp_path / f"server-{len(started)}.log", env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
