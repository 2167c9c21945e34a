"""A PostgreSQL server of a test's own, on a free 127.0.0.1 port, that the test can stop
and start again: Debian's binaries (``/usr/lib/postgresql/<n>/bin``), trust auth, fsync
off. As root, the server runs as the ``postgres`` user (PostgreSQL refuses root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.hosts import free_port

BIN_ROOT = Path("/usr/lib/postgresql")
START_SECONDS = 30


@dataclass
class PrivatePostgres:
    directory: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("start", "-w", "-t", str(START_SECONDS), "-o", options, "-l", "server.log")

    def stop(self) -> None:
        """As a crash would: no goodbye to the clients."""
        self._ctl("stop", "-m", "immediate", "-w")

    def _ctl(self, *args: str) -> None:
        _as_postgres(
            [str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), *args], self.directory
        )


def _as_postgres(command: list[str], cwd: Path) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=60)


def _bin() -> Path | None:
    versions = sorted(BIN_ROOT.glob("*/bin/initdb")) if BIN_ROOT.is_dir() else []
    return versions[-1].parent if versions else None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started server; stopped and its files removed afterwards. Its folder is not
    under pytest's (private to root): the postgres user must reach it."""
    bin_dir = _bin()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        reason = "PostgreSQL's server binaries are not installed"
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(f"{reason}; REQUIRE_POSTGRES is set")
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="spot-sso-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    _as_postgres(
        [str(bin_dir / "initdb"), "-D", str(directory / "data"), "-A", "trust", "-U", "postgres"],
        directory,
    )
    server = PrivatePostgres(directory, free_port(), bin_dir)
    try:
        server.start()
        yield server
    finally:
        with suppress(subprocess.CalledProcessError):  # already stopped by the test
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)
