"""Starting, watching and stopping the processes the bench drives (uvicorn, Node, npm).

Every process starts in its own session (process group) and is registered; ``stop_all``
(called from ``finally``, ``atexit`` and the SIGINT/SIGTERM handlers) kills each group.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_SECONDS = 30

_started: list[subprocess.Popen[bytes]] = []
_stopping = False  # set on SIGINT/SIGTERM: nothing new starts after it


class Interrupted(SystemExit):
    """SIGINT or SIGTERM: every process is being stopped."""


def check_not_stopping() -> None:
    if _stopping:
        raise Interrupted(130)


def uvicorn_command(
    app: str, port: int, workers: int, *, factory: bool = False, app_dir: Path = ROOT
) -> list[str]:
    """The one uvicorn command line every server runs with; only the app differs.

    ``app_dir`` goes first on the workers' ``sys.path``: the bench points it at a copy of
    ``service/`` taken when the run starts, so edits made meanwhile are not measured.
    """
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        *(["--factory"] if factory else []),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        "--no-proxy-headers",
        "--no-server-header",
        "--timeout-graceful-shutdown",
        "5",
        "--app-dir",
        str(app_dir),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any SPOT_SSO_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SPOT_SSO_")}
    env.update(extra or {})
    return env


def spawn(
    command: Sequence[str], *, log: Path, env: dict[str, str], cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group, stdout and stderr to ``log``."""
    check_not_stopping()
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    _started.append(process)
    return process


def kill_group(process: subprocess.Popen[bytes], grace: float = 8.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # The group may outlive its leader (uvicorn's workers): kill whatever is left.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    if process in _started:
        _started.remove(process)


def stop_all() -> None:
    for process in list(_started):
        kill_group(process, grace=3.0)


def _on_signal(signum: int, _frame: object) -> None:
    global _stopping
    _stopping = True
    stop_all()
    raise Interrupted(128 + signum)


def install_cleanup() -> None:
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


@dataclass
class Server:
    """One running uvicorn (master pid, its workers), reachable at ``url``."""

    name: str
    url: str
    port: int
    workers: int
    process: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        kill_group(self.process)

    def worker_pids(self) -> list[int]:
        """The worker processes: the master's children (itself with one worker)."""
        if self.workers == 1:
            return [self.process.pid]
        return [
            pid for pid in children(self.process.pid) if b"resource_tracker" not in _cmdline(pid)
        ]

    def memory(self) -> list[tuple[int, int]]:
        """(VmRSS, VmHWM) in bytes of each worker."""
        return [m for pid in self.worker_pids() if (m := rss(pid)) is not None]

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


def run_bounded(
    command: Sequence[str], *, log: Path, cwd: Path, timeout: float, env: dict[str, str]
) -> int | None:
    """Run ``command`` to its end in its own process group; its exit status, or None
    when it was still running after ``timeout`` seconds (its group is then killed)."""
    process = spawn(command, log=log, env=env, cwd=cwd)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        kill_group(process, grace=3.0)


def start_server(
    name: str,
    app: str,
    *,
    workers: int,
    log: Path,
    factory: bool = False,
    env: dict[str, str] | None = None,
    ready_path: str = "/healthz",
    app_dir: Path = ROOT,
    cwd: Path = ROOT,
) -> Server:
    """Start ``app`` under uvicorn (in ``cwd``) and wait until it answers and all workers
    are up."""
    port = free_port()
    command = uvicorn_command(app, port, workers, factory=factory, app_dir=app_dir)
    return _start(name, command, port, workers, log, clean_env(env), ready_path, cwd)


def start_node(
    name: str,
    node: str,
    script: Path,
    *,
    log: Path,
    env: dict[str, str] | None = None,
    ready_path: str = "/healthz",
) -> Server:
    """Start ``node script`` (one process, listening on 127.0.0.1 at the port given in
    ``PORT``) with ``NODE_ENV=production``, and wait until it answers."""
    port = free_port()
    extra = {**(env or {}), "PORT": str(port), "NODE_ENV": "production"}
    return _start(name, [node, str(script)], port, 1, log, clean_env(extra), ready_path, ROOT)


def _start(
    name: str,
    command: list[str],
    port: int,
    workers: int,
    log: Path,
    env: dict[str, str],
    ready_path: str,
    cwd: Path,
) -> Server:
    """Start ``command`` (which listens on ``port``) and wait until it answers
    ``ready_path`` with a 200 and has ``workers`` worker processes."""
    process = spawn(command, log=log, env=env, cwd=cwd)
    server = Server(name, f"http://{HOST}:{port}", port, workers, process, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not start in {STARTUP_SECONDS}s:\n{server.log_tail()}"
                )
            try:
                answered = httpx.get(server.url + ready_path, timeout=1).status_code == 200
            except httpx.TransportError:
                answered = False
            if answered and len(server.worker_pids()) == workers:
                break
            time.sleep(0.1)
        # The other workers may still be importing: give every one a moment.
        time.sleep(0.5 if workers == 1 else 1.5)
    except BaseException:
        server.stop()
        raise
    return server


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of ``pid`` in bytes, from /proc/<pid>/status."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, amount, _unit = line.split()
            values[name[:-1]] = int(amount) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)
