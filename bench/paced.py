"""An open-loop load generator: requests at a fixed rate, latency from the scheduled time.

wrk keeps its connections busy (closed loop), which shows the maximum rate but not the
latency a server gives at a given load. Here a scheduler releases request ``i`` at
``start + i / rate`` whatever happened before; ``connections`` keep-alive connections
(raw HTTP/1.1 over asyncio streams, uvloop) take them in order. A request's latency runs
from its *scheduled* time to the end of its response, so a stall counts for every
request it delays (no coordinated omission). Bounded: ``rate * seconds`` requests, a
5 s timeout per request, and a hard deadline of ``seconds + 15`` s for the whole run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.wrk_driver import Request

REQUEST_TIMEOUT = 5.0
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_LOCATION = re.compile(rb"\r\nlocation:\s*([^\r\n]*)", re.IGNORECASE)


@dataclass
class PacedResult:
    rate: float  # asked for
    sent: int
    ok: int
    achieved: float  # completed responses per second over the run
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    client_cpu: float = 0.0  # the generator's own CPU use, in cores (near 1.0: it is the limit)


def raw_requests(req: Request, port: int) -> list[bytes]:
    out = []
    for body in req.bodies:
        head = [f"{req.method} {req.path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        head += [f"{k}: {v}" for k, v in req.headers.items()]
        if body:
            head.append(f"Content-Length: {len(body)}")
        out.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return out


def payloads_of(req: Request, port: int) -> Callable[[int], bytes]:
    """Request ``i``'s bytes: the bodies in turn, or for a ``fresh`` request its body
    with a value of its own (this run's, then ``i``)."""
    if req.fresh is None:
        payloads = raw_requests(req, port)
        return lambda i: payloads[i % len(payloads)]
    run = secrets.token_hex(4)

    def fresh(i: int) -> bytes:
        one = dataclasses.replace(req, bodies=(req.body_with(f"{run}.{i}"),), fresh=None)
        return raw_requests(one, port)[0]

    return fresh


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


async def _paced(
    req: Request, port: int, rate: float, seconds: float, connections: int
) -> PacedResult:
    payload = payloads_of(req, port)
    total = max(1, int(rate * seconds))
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    ok = errors = 0
    expect_location = req.expect_location.encode() if req.expect_location else None

    async def worker() -> None:
        nonlocal ok, errors
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:  # connect before the clock starts: the run measures requests, not handshakes
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            reader = writer = None
        ready.append(None)
        if len(ready) == connections:
            all_ready.set()
        while (item := await queue.get()) is not None:
            index, scheduled = item
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    writer.write(payload(index))
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = _CONTENT_LENGTH.search(head)
                    if length is None:
                        raise ValueError("response without Content-Length")
                    await reader.readexactly(int(length.group(1)))
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            latencies.append(time.perf_counter() - scheduled)
            status = int(head[9:12])
            statuses[status] += 1
            if status == req.expect_status:
                if expect_location is None:
                    ok += 1
                else:
                    location = _LOCATION.search(head)
                    if (
                        location
                        and location.group(1).startswith(expect_location)
                        and b"token=" in location.group(1)
                    ):
                        ok += 1
            if b"\r\nconnection: close" in head.lower():
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    ready: list[None] = []
    all_ready = asyncio.Event()
    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.wait_for(all_ready.wait(), 10)
    cpu_start = time.process_time()
    start = time.perf_counter() + 0.01
    interval = 1.0 / rate
    released = 0
    while released < total:
        now = time.perf_counter()
        # Release every request whose time has come (the loop may have been busy).
        while released < total and start + released * interval <= now:
            queue.put_nowait((released, start + released * interval))
            released += 1
        if released < total:
            await asyncio.sleep(max(0.0, start + released * interval - time.perf_counter()))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    latencies.sort()
    return PacedResult(
        rate=rate,
        sent=total,
        ok=ok,
        achieved=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=_percentile(latencies, 50) * 1000,
        p99_ms=_percentile(latencies, 99) * 1000,
        p999_ms=_percentile(latencies, 99.9) * 1000,
        max_ms=(latencies[-1] if latencies else float("nan")) * 1000,
        statuses=statuses,
        errors=errors,
        client_cpu=cpu / elapsed if elapsed else 0.0,
    )


def run_paced(
    req: Request, port: int, *, rate: float, seconds: float, connections: int = 32
) -> PacedResult:
    """Send ``rate`` requests per second for ``seconds`` to 127.0.0.1:``port``."""
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(
            asyncio.wait_for(_paced(req, port, rate, seconds, connections), seconds + 15)
        )
