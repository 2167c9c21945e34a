"""Where a ``POST /tokens`` request's time goes: spot-sso in process, one part off at a time.

    .venv/bin/python bench/budget.py [--requests 3000] [--repeats 5] [--handwritten-rps 4400]

Drives the ASGI apps directly (no server, no socket), one request at a time on one
event loop (uvloop), and counts this process's CPU time per request:

- the bare FastAPI app of ``bench/baseline.py``;
- the hand-written ``POST /tokens`` of ``bench/handwritten.py`` (FastAPI, ``EmailStr``,
  python-jose): what an integrator would write instead;
- spot-sso as ``make bench`` configures it (static adapter, a ``user`` body, info-level
  JSON logs as ``configure_logging`` sets them up, to /dev/null; rate limits on, metrics;
  the member ledger on, in a SQLite file of a temporary folder, migrated first);
- the same spot-sso with its ledger taken out: under ``email_change = follow`` its one
  call, the write (the member read and the sign-in upserted, one transaction);
- spot-sso without the ledger, and with one more part taken out: the access line (with
  the token's audit fields), email-validator, signing (claims JSON and python-jose), the
  metrics, the rate limits; then all of them, the ledger's included.

A part's cost is the time of the request it was taken from (the full one for the
ledger's parts and for all of them, the one without the ledger for the others) minus the
time without it: what the part costs inside a real request. The others are taken from
the request without the ledger because the ledger's own time varies between runs by more
than they cost (hundreds of µs); its cases run a tenth of ``--requests`` (each request
is ten times as long). One request at a time, each sign-in is a transaction of its own;
under load a transaction serves a batch of them (bench/run.py's ``ledger-*`` scenarios
measure that). The same body every time: the same member signing in again, as in
``make bench``.

A part's cost in a request is more than its micro-benchmark figure (``bench/micro.py``):
between two calls of it a request runs much other code, so less of it stays in the CPU's
caches. The cases are interleaved and each keeps its best of ``--repeats`` runs (each
after a warm-up), so a slow moment of the machine does not land on one case only.

A throughput ratio R to the hand-written app leaves spot-sso ``(1/R - 1)`` times the
hand-written app's time per request for everything it does beyond it (its production
features). The table shows that budget at the 0.80 target, in process and, with
``--handwritten-rps`` (the hand-written app's req/s under wrk, from the same ``make bench``
run), for a request served by uvicorn, next to the parts' costs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fixtures import Secrets, spot_sso_config, user_body

# What ``service.observability.logs.lean_records`` changes in the logging module, restored afterwards.
_RECORD_FLAGS = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing", "logAsyncioTasks")
TARGET = 0.80  # of the hand-written app's req/s: every production feature together ≤ 20%
BARE, HANDWRITTEN, FULL, NO_LEDGER = (
    "bare FastAPI app",
    "hand-written POST /tokens (FastAPI + EmailStr + python-jose)",
    "spot-sso, everything on (the ledger in SQLite)",
    "spot-sso without the ledger (its write: the member read, the sign-in upserted)",
)
ALL_OFF = "spot-sso without all of the above"
LEDGER_SHARE = 10  # the ledger's cases run 1/10 of the requests: each is ~10 times as long

Patch = Callable[[Any], Any]  # given the spot-sso app, returns a context manager


@dataclass
class BudgetRow:
    case: str
    us_per_request: float
    part_cost: float | None = None  # the request it was taken from minus this case's
    taken_from: str | None = None  # that request's case; None for the whole requests


@dataclass
class _Case:
    name: str
    call: Callable[[], Awaitable[int]]
    patches: list[Patch]
    taken_from: str | None = None
    share: int = 1  # runs requests // share


@contextmanager
def _no_logs(_app: Any) -> Iterator[None]:
    import structlog

    events = structlog.get_config()
    # The access line is info: at warning, structlog's filtering logger drops it unbuilt.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**events)


# Plain functions, not mocks: calling a MagicMock costs more than the part it replaces.
def _accept_email(*_: Any, **__: Any) -> None:
    return None


def _fake_sign(_issuer: Any, _claims: Any) -> str:
    return "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"


@contextmanager
def _no_email_check(_app: Any) -> Iterator[None]:
    with mock.patch("service.contract.claims.validate_email", _accept_email):
        yield


@contextmanager
def _no_signing(_app: Any) -> Iterator[None]:
    from service.contract.signing import TokenIssuer

    with mock.patch.object(TokenIssuer, "sign", _fake_sign):
        yield


class _NoMetric:
    def labels(self, *_: str) -> _NoMetric:
        return self

    def observe(self, _: float) -> None:
        pass

    def inc(self, _: float = 1) -> None:
        pass


@contextmanager
def _no_metrics(app: Any) -> Iterator[None]:
    metrics = app.state.runtime.metrics
    with ExitStack() as stack:
        for name in ("request_duration", "tokens_issued"):
            stack.enter_context(mock.patch.object(metrics, name, _NoMetric()))
        yield


@contextmanager
def _no_limits(app: Any) -> Iterator[None]:
    with mock.patch.object(app.state.runtime.limiter, "_enabled", False):
        yield


async def _nobody(*_: Any) -> None:
    return None


@contextmanager
def _no_ledger_write(app: Any) -> Iterator[None]:
    with mock.patch.object(app.state.runtime.ledger, "record", _nobody):
        yield


# Under email_change = follow (the bench's), a sign-in's one ledger call is the write: the
# member read and the sign-in upserted, in one transaction (service/ledger/hot.py).
LEDGER_PARTS: list[Patch] = [_no_ledger_write]
PARTS: list[tuple[str, Patch]] = [  # taken out of the request without the ledger
    ("the access line (with the audit fields)", _no_logs),
    ("email-validator", _no_email_check),
    ("signing (claims JSON + python-jose)", _no_signing),
    ("metrics (duration histogram, token counter)", _no_metrics),
    ("rate limits (failed keys, per client)", _no_limits),
]


def _apps(
    log_stream: Any, data_dir: Path
) -> tuple[list[tuple[str, Any, list[tuple[bytes, bytes]]]], bytes]:
    """The bare app, the hand-written one and spot-sso (production-like, its ledger in
    ``data_dir``), each with its request headers; and the body."""
    from bench.baseline import app as bare
    from service.observability.logs import configure_logging
    from service.settings.model import Settings
    from service.web.app import create_app

    sec = Secrets()
    config = spot_sso_config(
        sec, public_url="http://127.0.0.1:8000", adapter="static", data_dir=data_dir
    )
    settings = Settings.model_validate(config)
    configure_logging("info", "json", stream=log_stream)  # as the server does, to /dev/null
    os.environ.setdefault("BENCH_SPOT_KEY", sec.spot_key)
    os.environ.setdefault("BENCH_API_KEY", sec.api_key)
    from bench import handwritten

    body = user_body(0)
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    ours = [*headers, (b"authorization", f"Bearer {sec.api_key}".encode())]
    theirs = [*headers, (b"authorization", handwritten.AUTHORIZATION.encode())]
    apps = [(BARE, bare, ours), (HANDWRITTEN, handwritten.app, theirs)]
    return [*apps, (FULL, create_app(settings), ours)], body


def _caller(
    app: Any, headers: list[tuple[bytes, bytes]], body: bytes
) -> Callable[[], Awaitable[int]]:
    async def call() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/tokens",
            "raw_path": b"/tokens",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        received = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    return call


async def _time(call: Callable[[], Awaitable[int]], requests: int) -> float:
    """CPU µs per request over ``requests`` calls (every answer must be 200)."""
    started = time.process_time()
    for _ in range(requests):
        if await call() != 200:
            raise RuntimeError("a bench request was not answered 200")
    return (time.process_time() - started) / requests * 1e6


async def _measure(requests: int, repeats: int, log_stream: Any, data_dir: Path) -> list[BudgetRow]:
    apps, body = _apps(log_stream, data_dir)
    runtime = apps[-1][1].state.runtime
    try:
        await runtime.start(maintain=False)  # the ledger migrated, as the lifespan does
        if runtime.ledger is None or not runtime._ledger_ready:
            raise RuntimeError("the bench's ledger is not ready: see the log")
        return await _compare(apps, body, requests, repeats)
    finally:
        await runtime.aclose()


async def _compare(
    apps: list[tuple[str, Any, list[tuple[bytes, bytes]]]],
    body: bytes,
    requests: int,
    repeats: int,
) -> list[BudgetRow]:
    spot = apps[-1][1]
    spot_call = _caller(spot, apps[-1][2], body)
    ledger = LEDGER_PARTS
    cases = [
        *(_Case(name, _caller(app, headers, body), []) for name, app, headers in apps[:-1]),
        _Case(FULL, spot_call, [], share=LEDGER_SHARE),
        _Case(NO_LEDGER, spot_call, ledger, FULL),
        *(
            _Case(f"spot-sso without the ledger and {name}", spot_call, [*ledger, patch], NO_LEDGER)
            for name, patch in PARTS
        ),
        _Case(ALL_OFF, spot_call, [*ledger, *(patch for _, patch in PARTS)], FULL),
    ]
    best = {case.name: float("inf") for case in cases}
    for _ in range(repeats):
        for case in cases:
            n = max(1, requests // case.share)
            with ExitStack() as stack:
                for patch in case.patches:
                    stack.enter_context(patch(spot))
                # Warm up after patching: Python re-specialises code whose classes changed.
                await _time(case.call, max(1, n // 5))
                best[case.name] = min(best[case.name], await _time(case.call, n))
    return [
        BudgetRow(
            case.name,
            best[case.name],
            None if case.taken_from is None else best[case.taken_from] - best[case.name],
            case.taken_from,
        )
        for case in cases
    ]


def run_budget(requests: int = 3000, repeats: int = 5) -> list[BudgetRow]:
    """The table's rows (in a fresh event loop; uvloop, as the servers run). Logging is
    set up as in the server meanwhile (``configure_logging``, to /dev/null), then
    restored."""
    import structlog
    import uvloop

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    loggers = {name: logging.getLogger(name) for name in ("httpx", "uvicorn.access")}
    states = {name: (lg.level, lg.disabled) for name, lg in loggers.items()}
    flags = {name: getattr(logging, name) for name in _RECORD_FLAGS if hasattr(logging, name)}
    events = structlog.get_config()
    try:
        with open(os.devnull, "w") as devnull, tempfile.TemporaryDirectory() as data_dir:
            return uvloop.run(_measure(requests, repeats, devnull, Path(data_dir)))
    finally:  # the production logging set-up was for the measurement only
        root.handlers[:], root.level = handlers, level
        for name, logger in loggers.items():
            logger.level, logger.disabled = states[name]
        for name, value in flags.items():
            setattr(logging, name, value)
        structlog.configure(**events)


def budget_table(rows: list[BudgetRow], handwritten_rps: float | None = None) -> str:
    lines = [
        "| case | CPU µs per request | the part's cost in a request | taken out of |",
        "|---|---:|---:|---|",
    ]
    for r in rows:
        cost = "" if r.part_cost is None else f"{r.part_cost:.0f} µs"
        base = "" if r.taken_from is None else r.taken_from
        lines.append(f"| {r.case} | {r.us_per_request:.0f} | {cost} | {base} |")
    times = {r.case: r.us_per_request for r in rows}
    if HANDWRITTEN in times and FULL in times:
        theirs, ours = times[HANDWRITTEN], times[FULL]
        lines += [
            "",
            f"In process, the hand-written app takes {theirs:.0f} µs and spot-sso {ours:.0f} µs "
            f"(ratio {theirs / ours:.2f}). At the {TARGET:.2f} target spot-sso may spend "
            f"{(1 / TARGET - 1) * theirs:.0f} µs more than the hand-written app; it spends "
            f"{ours - theirs:.0f} µs more.",
        ]
    costs = {r.case: r.part_cost for r in rows if r.part_cost is not None}
    ledger = costs.get(NO_LEDGER)
    if FULL in times and ledger is not None:
        lines += [
            "",
            f"The member ledger (SQLite) costs {ledger:.0f} µs of spot-sso's {times[FULL]:.0f} "
            f"µs ({ledger / times[FULL]:.0%}), one request at a time (each its own "
            f"transaction; under load a transaction serves the sign-ins of a whole batch): "
            f"without it spot-sso takes {times[NO_LEDGER]:.0f} µs.",
        ]
    if handwritten_rps:
        per_request = 1e6 / handwritten_rps
        lines += [
            "",
            f"Under wrk the hand-written app answered {handwritten_rps:,.0f} req/s: "
            f"{per_request:.0f} µs per request, server included. At the {TARGET:.2f} target, "
            f"spot-sso's features may cost {(1 / TARGET - 1) * per_request:.0f} µs per request.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per case, best kept")
    parser.add_argument(
        "--handwritten-rps",
        type=float,
        default=None,
        help="the hand-written app's req/s under wrk, from the same run",
    )
    args = parser.parse_args(argv)
    print(budget_table(run_budget(args.requests, args.repeats), args.handwritten_rps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
