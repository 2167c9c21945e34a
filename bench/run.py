"""``make bench``: spot-sso's throughput, latency and memory next to a bare FastAPI app.

One after another, with one uvicorn command line (only the app differs), it starts a
bare FastAPI app (the framework ceiling), the same ``POST /tokens`` written by hand in
FastAPI (bench/handwritten.py), then in Express on one Node process (bench/express/,
skipped without Node), spot-sso with the static adapter, and spot-sso with the HTTP
adapter against a small host platform app (cache warm, then cache cold), drives each
scenario with wrk on 127.0.0.1 for a fixed time, then with an open-loop paced generator
at half the measured rate, and writes one report (bench/results.md).

    .venv/bin/python bench/run.py [--duration 10] [--workers 1,2] [--quick] [--output F]

``--quick`` is the smoke mode (a few seconds): every server started at once, each
server's scenarios then probed and driven by wrk for 1 s over 8 connections, the servers
side by side (no warm-up, no half-rate run, no baseline re-measurement), 1 worker, no
leak run, a very short micro-benchmark, and the Express peer only if its packages are
already installed (``npm install`` would take longer than the whole smoke run); the
report goes to a temporary file unless ``--output`` is given.

The ``ledger-*`` scenarios need PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth)
for their PostgreSQL server: each such server gets a database of the run's own
(``bench_<pid>_<n>``), dropped when it stops and again at the end; without PostgreSQL
those scenarios are skipped and the report says why.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench import node_peer, servers
from bench.budget import BudgetRow, budget_table, run_budget
from bench.fixtures import (
    REDIRECT_URL,
    SESSION_COOKIE,
    SPOT_ALIAS,
    USER_COUNT,
    USERS,
    Secrets,
    session_id,
    spot_sso_config,
    user_body,
    user_id_body,
    write_toml,
)
from bench.ledger import BenchLedger, Kind, Postgres
from bench.micro import MicroRow, micro_table, run_micro
from bench.paced import PacedResult, run_paced
from bench.wrk_driver import (
    INSTALL_HELP,
    Request,
    WrkResult,
    ensure_wrk,
    run_wrk,
    wrk_version,
)

ROOT = servers.ROOT
DEFAULT_OUTPUT = ROOT / "bench" / "results.md"
P99_TARGET_MS = 10.0
LEDGER_TARGET = 0.85  # of the same server's req/s without the ledger: it costs at most 15%
FRESH_SUB = "@fresh@"  # replaced in each request of a new-member scenario (JSON-safe)
RSS_TARGET_MB = 100.0
LEAK_TOLERANCE_BYTES = 1 << 20  # "no growth": under 1 MiB between the 2nd and 4th chunk
MB = 1_000_000
PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "pydantic-core",
    "python-jose",
    "cryptography",
    "email-validator",
    "httpx",
    "prometheus-client",
    "structlog",
    "orjson",
    "limits",
)


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class ServerSpec:
    key: str
    title: str
    app: str  # a uvicorn app, or for Node the script (relative to the snapshot)
    factory: bool = False
    adapter: str | None = None  # spot-sso's identity adapter; None for the others
    user_cache_ttl: float = 30.0
    needs_host: bool = False
    reference: bool = False  # kept up, idle, to be measured again before each scenario
    node: bool = False  # a Node script, one process whatever the worker count
    ledger: Kind = "sqlite"  # spot-sso's member ledger (on by default, as in production)


SERVER_SPECS = {
    s.key: s
    for s in (
        ServerSpec(
            "baseline", "bare FastAPI (bench/baseline.py)", "bench.baseline:app", reference=True
        ),
        ServerSpec(
            "handwritten",
            "POST /tokens written by hand in FastAPI (bench/handwritten.py)",
            "bench.handwritten:app",
            reference=True,
        ),
        ServerSpec(
            "express",
            "POST /tokens in Express 5 (bench/express/server.js), one Node process",
            node_peer.SERVER_SCRIPT,
            reference=True,
            node=True,
        ),
        ServerSpec(
            "static",
            "spot-sso, static adapter",
            "service.web.app:app_from_environment",
            factory=True,
            adapter="static",
        ),
        ServerSpec(
            "http-warm",
            "spot-sso, HTTP adapter, user cache 3600 s",
            "service.web.app:app_from_environment",
            factory=True,
            adapter="http",
            user_cache_ttl=3600.0,
            needs_host=True,
        ),
        ServerSpec(
            "http-cold",
            "spot-sso, HTTP adapter, user cache off (ttl 0)",
            "service.web.app:app_from_environment",
            factory=True,
            adapter="http",
            user_cache_ttl=0.0,
            needs_host=True,
        ),
        # The member ledger's cost: three servers identical but for the ledger. The one
        # without it stays up, idle, to be measured again just before each of the others.
        ServerSpec(
            "ledger-off",
            "spot-sso, static adapter, ledger off (`ledger.enabled = false`)",
            "service.web.app:app_from_environment",
            factory=True,
            adapter="static",
            reference=True,
            ledger="off",
        ),
        ServerSpec(
            "ledger-sqlite",
            "spot-sso, static adapter, ledger in SQLite (a file in the run's folder)",
            "service.web.app:app_from_environment",
            factory=True,
            adapter="static",
            ledger="sqlite",
        ),
        ServerSpec(
            "ledger-postgres",
            "spot-sso, static adapter, ledger in PostgreSQL (a database of the run's own)",
            "service.web.app:app_from_environment",
            factory=True,
            adapter="static",
            ledger="postgres",
        ),
    )
}


@dataclass(frozen=True)
class Peer:
    """What an integrator would write instead: a scenario's req/s over this one's."""

    key: str  # the peer's scenario
    target: float | None  # the least ratio; None: reported, no target
    multiple: bool = False  # shown as "1.50x" (spot-sso that many times faster)
    cost: bool = False  # shown as what this scenario costs over the peer: 1 - ratio

    def describe_target(self) -> str:
        if self.target is None:
            return "none (reported)"
        if self.cost:
            return f"cost ≤ {(1 - self.target) * 100:.0f}%"
        return f"≥ {self.target:.2f}" + ("x" if self.multiple else "")

    def show(self, ratio: float) -> str:
        if self.cost:
            return f"{ratio:.2f} (cost {(1 - ratio) * 100:.0f}%)"
        return f"{ratio:.2f}" + ("x" if self.multiple else "")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    server: str
    request: Request
    baseline: str | None = None  # the scenario whose req/s is the denominator (no target)
    peers: tuple[Peer, ...] = ()  # also compared with these, measured again just before
    is_peer: bool = False  # a reference app: no target of its own

    @property
    def is_baseline(self) -> bool:
        return self.baseline is None

    @property
    def costs(self) -> bool:
        """Compared with its peers for what it costs over them (the ledger's scenarios)."""
        return any(p.cost for p in self.peers)

    @property
    def references(self) -> tuple[str, ...]:
        """The scenarios measured again just before this one: its baseline, its peers."""
        if self.baseline is None:
            return ()
        return (self.baseline, *(p.key for p in self.peers))


def scenarios(sec: Secrets) -> list[Scenario]:
    auth = {"Content-Type": "application/json", "Authorization": f"Bearer {sec.api_key}"}
    by_id = tuple(user_id_body(i) for i in range(USER_COUNT))
    authorize_path = (
        "/authorize?"
        + httpx.QueryParams({"spot": SPOT_ALIAS, "redirectUrl": REDIRECT_URL}).__str__()
    )
    cookie = {"Cookie": f"{SESSION_COOKIE}={session_id(USERS[1]['id'])}"}
    to_spot = REDIRECT_URL.split("/sso")[0]
    post_user = Request("POST", "/tokens", auth, (user_body(0),))
    # A new member each request: the sub "new-<run>.<thread>.<n>" is never seen twice.
    post_new_user = Request(
        "POST", "/tokens", auth, (user_body(0, sub="new-" + FRESH_SUB),), fresh=FRESH_SUB
    )
    off = "ledger-off"
    get_authorize = Request(
        "GET", authorize_path, cookie, expect_status=302, expect_location=to_spot
    )
    return [
        Scenario(
            "baseline-post",
            "bare FastAPI: POST /tokens (same body) → 200 JSON",
            "baseline",
            post_user,
        ),
        Scenario(
            "baseline-get",
            "bare FastAPI: GET /authorize (same URL) → 302",
            "baseline",
            get_authorize,
        ),
        Scenario(
            "handwritten-post",
            "hand-written FastAPI: POST /tokens (same body), EmailStr + python-jose → 200 with a token",
            "handwritten",
            post_user,
            "baseline-post",
            is_peer=True,
        ),
        Scenario(
            "express-post",
            "Express 5 + jsonwebtoken 9, one Node process: POST /tokens (same body) → 200 with a token",
            "express",
            post_user,
            "baseline-post",
            is_peer=True,
        ),
        Scenario(
            "tokens-user",
            "POST /tokens, user body (static adapter)",
            "static",
            post_user,
            "baseline-post",
            peers=(Peer("handwritten-post", 0.80), Peer("express-post", 1.5, multiple=True)),
        ),
        Scenario(
            "tokens-userid-static",
            "POST /tokens, userId, static adapter",
            "static",
            Request("POST", "/tokens", auth, by_id),
            "baseline-post",
            peers=(Peer("tokens-user", 0.85),),
        ),
        Scenario(
            "tokens-userid-warm",
            f"POST /tokens, userId ({USER_COUNT} users), HTTP adapter, cache warm",
            "http-warm",
            Request("POST", "/tokens", auth, by_id),
            "baseline-post",
            peers=(Peer("tokens-user", 0.85),),
        ),
        Scenario(
            "authorize",
            "GET /authorize → 302 to the Spot, session via HTTP adapter",
            "http-warm",
            get_authorize,
            "baseline-get",
        ),
        Scenario(
            "tokens-userid-cold",
            "POST /tokens, userId, HTTP adapter, cache cold (ttl 0)",
            "http-cold",
            Request("POST", "/tokens", auth, by_id),
            "baseline-post",
        ),
        Scenario(
            "ledger-off",
            "POST /tokens, user body (as `tokens-user`), ledger off",
            "ledger-off",
            post_user,
            "baseline-post",
        ),
        Scenario(
            "ledger-sqlite",
            "POST /tokens, user body, ledger in SQLite: the same member again (read, upsert that updates)",
            "ledger-sqlite",
            post_user,
            "baseline-post",
            peers=(Peer(off, LEDGER_TARGET, cost=True),),
        ),
        Scenario(
            "ledger-sqlite-new",
            "POST /tokens, user body, ledger in SQLite: a new member each time (read, upsert that inserts)",
            "ledger-sqlite",
            post_new_user,
            "baseline-post",
            peers=(Peer(off, None, cost=True),),
        ),
        Scenario(
            "ledger-postgres",
            "POST /tokens, user body, ledger in PostgreSQL: the same member again",
            "ledger-postgres",
            post_user,
            "baseline-post",
            peers=(Peer(off, None, cost=True),),
        ),
        Scenario(
            "ledger-postgres-new",
            "POST /tokens, user body, ledger in PostgreSQL: a new member each time",
            "ledger-postgres",
            post_new_user,
            "baseline-post",
            peers=(Peer(off, None, cost=True),),
        ),
    ]


# --------------------------------------------------------------------------- measuring


_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / _TICKS


@dataclass
class CpuSnapshot:
    wall: float
    busy: float
    servers: dict[int, float]
    children: float
    me: float

    @classmethod
    def take(cls, pids: list[int]) -> CpuSnapshot:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            wall=time.monotonic(),
            busy=machine_busy(),
            servers={pid: proc_cpu(pid) for pid in pids},
            children=usage.ru_utime + usage.ru_stime,
            me=time.process_time(),
        )


@dataclass
class CpuUse:
    """Average cores used during a run: each server process, wrk, everything else."""

    servers: list[float]
    host: float
    wrk: float
    other: float

    @classmethod
    def between(cls, a: CpuSnapshot, b: CpuSnapshot, workers: list[int], host: list[int]) -> CpuUse:
        wall = max(b.wall - a.wall, 1e-9)

        def used(pid: int) -> float:
            return max(0.0, b.servers.get(pid, 0.0) - a.servers.get(pid, 0.0))

        ours = sum(used(p) for p in a.servers) + (b.children - a.children) + (b.me - a.me)
        return cls(
            servers=[used(p) / wall for p in workers],
            host=sum(used(p) for p in host) / wall,
            wrk=(b.children - a.children) / wall,
            other=max(0.0, (b.busy - a.busy) - ours) / wall,
        )


@dataclass
class Outcome:
    scenario: Scenario
    workers: int  # the pass's worker count
    processes: int  # the server's: the pass's, or 1 for the Node peer
    wrk: WrkResult
    paced: PacedResult | None
    peak_rss: int  # bytes, the largest VmHWM of the workers
    rss: list[int]  # bytes, VmRSS of each worker after the run
    cpu: CpuUse
    ratio: float | None = None
    paced_p99s: list[float] = field(default_factory=list)  # every half-rate run's, in order
    again: dict[str, float] = field(default_factory=dict)  # references' req/s, just before
    answered: int = 0  # tokens answered over the scenario: probe, warm-up, wrk, paced runs
    recorded: int | None = None  # sign-ins the server's ledger recorded meanwhile; None: off

    @property
    def unrecorded(self) -> bool:
        """Tokens answered that the ledger did not record: it failed (spot-sso fails open,
        and a failing ledger makes the server faster: the figures are not the ledger's)."""
        return self.recorded is not None and self.recorded < self.answered

    @property
    def rps(self) -> float:
        return self.wrk.rps

    @property
    def reference_rps(self) -> float | None:
        """The baseline's req/s, measured just before this scenario (if it was)."""
        return self.again.get(self.scenario.baseline or "")


@dataclass
class LeakRow:
    chunk: int
    requests: int
    non_ok: int
    rss: int
    hwm: int
    seconds: float


@dataclass
class Run:
    args: argparse.Namespace
    wrk: str
    workdir: Path
    sec: Secrets = field(default_factory=Secrets)
    outcomes: list[Outcome] = field(default_factory=list)
    micro: list[MicroRow] = field(default_factory=list)
    budget: list[BudgetRow] = field(default_factory=list)
    leak: list[LeakRow] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)  # per-server log summaries
    src: Path = ROOT  # where the servers import service/ and bench/ from (a snapshot)
    code: str = ""  # which code that is
    node: node_peer.NodePeer | None = None  # the Express peer's Node, when it runs
    skipped: dict[str, str] = field(default_factory=dict)  # scenario key: why it did not run
    postgres: Postgres | None = None  # the run's own databases, when a scenario needs one
    ledgers: dict[str, BenchLedger] = field(default_factory=dict)  # by server name
    started: str = ""
    load_start: str = ""
    load_end: str = ""


def snapshot(workdir: Path) -> tuple[Path, str]:
    """A copy of service/ and bench/ to run, and which code it is (git HEAD, changes).

    Others may edit the tree while the bench runs: every server, and the micro-benchmark,
    import this copy, so one run measures one version of the code.
    """
    src = workdir / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "results.md", "node_modules")
    shutil.copytree(ROOT / "service", src / "service", ignore=skip)
    shutil.copytree(ROOT / "bench", src / "bench", ignore=skip)
    # The Node peer's packages are not code under test: the copy uses the installed ones.
    modules = node_peer.EXPRESS_DIR / "node_modules"
    if modules.is_dir():
        (src / "bench" / "express" / "node_modules").symlink_to(modules)

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("log", "-1", "--format=%h %ad %s", "--date=format:%Y-%m-%d %H:%M")
    changed = [line[3:] for line in git("status", "--porcelain", "--", "service").splitlines()]
    code = f"git HEAD {head or '(unknown)'}"
    code += (
        f", with uncommitted changes in {', '.join(changed)}"
        if changed
        else ", service/ unmodified"
    )
    return src, code


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def probe(url: str, req: Request) -> None:
    """One request, checked: the scenario must measure the answer it claims to."""
    body = req.body_with(f"probe-{os.getpid()}-{time.monotonic_ns()}") or None
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        reply = client.request(req.method, url + req.path, headers=req.headers, content=body)
    location = reply.headers.get("location", "")
    good = reply.status_code == req.expect_status and (
        req.expect_location is None
        or (location.startswith(req.expect_location) and "token=" in location)
    )
    if req.expect_status == 200 and good:
        good = "token" in reply.json()
    if not good:
        raise RuntimeError(
            f"probe {req.method} {req.path}: HTTP {reply.status_code} "
            f"(expected {req.expect_status}); Location {location[:120]!r}; body {reply.text[:300]!r}"
        )


@contextlib.contextmanager
def running(
    run: Run, spec: ServerSpec, workers: int, host_url: str | None
) -> Iterator[servers.Server]:
    tag = f"{spec.key}-w{workers}"
    logfile = run.workdir / f"{tag}.log"
    # The reference apps' key and API key: the run's, as spot-sso's configuration has them.
    env = {"BENCH_SPOT_KEY": run.sec.spot_key, "BENCH_API_KEY": run.sec.api_key}
    ledger = None
    if spec.adapter is not None:
        ledger = open_ledger(run, spec, tag)
        config = spot_sso_config(
            run.sec,
            public_url="http://127.0.0.1:8000",
            adapter=spec.adapter,
            data_dir=ledger.data_dir,
            host_url=host_url,
            user_cache_ttl=spec.user_cache_ttl,
            ledger=ledger.kind != "off",
            database_url=ledger.url,
        )
        path = run.workdir / f"{tag}.toml"
        write_toml(config, path)
        env["SPOT_SSO_CONFIG"] = str(path)
    if spec.node:
        assert run.node is not None, "the Node peer runs only once prepared"
        log(f"starting {spec.title}")
        server = servers.start_node(
            tag, run.node.node, run.src / spec.app, log=logfile, env=env, ready_path="/healthz"
        )
    else:
        log(f"starting {spec.title}, {workers} worker(s)")
        try:
            server = servers.start_server(
                tag,
                spec.app,
                workers=workers,
                log=logfile,
                factory=spec.factory,
                env=env,
                ready_path="/healthz",
                app_dir=run.src,
                # spot-sso in the run's folder: nothing it writes lands in the repository.
                cwd=run.workdir if spec.adapter is not None else servers.ROOT,
            )
        except BaseException:
            close_ledger(run, ledger)
            raise
    if ledger is not None:
        run.ledgers[tag] = ledger
    try:
        yield server
    finally:
        server.stop()
        close_ledger(run, ledger)
        if spec.adapter is not None:
            run.logs.append(f"{tag}: {summarise_log(logfile)}")
        if not run.args.keep_logs:
            logfile.unlink(missing_ok=True)


def open_ledger(run: Run, spec: ServerSpec, tag: str) -> BenchLedger:
    """The ledger of a spot-sso server about to start: a folder of its own in the run's
    (``data_dir``, where SQLite's file goes), and for PostgreSQL a new database."""
    data_dir = run.workdir / f"{tag}-data"
    if spec.ledger != "postgres":
        return BenchLedger(spec.ledger, data_dir)
    assert run.postgres is not None, "PostgreSQL's scenarios run only once it answered"
    return BenchLedger("postgres", data_dir, run.postgres.create())


def close_ledger(run: Run, ledger: BenchLedger | None) -> None:
    """Drop a stopped server's PostgreSQL database (what fails is dropped at the end)."""
    if ledger is None or ledger.url is None or run.postgres is None:
        return
    try:
        run.postgres.drop(ledger.url)
    except Exception as exc:
        log(f"  dropping {ledger.url.rsplit('/', 1)[1]} failed ({exc!r}); tried again at the end")


def summarise_log(path: Path) -> str:
    """Counts of spot-sso's JSON log lines by logger, and its warnings and errors."""
    counts: dict[str, int] = {}
    problems: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                if line.strip():
                    problems.append(line.strip()[:160])
                continue
            counts[entry.get("logger", "?")] = counts.get(entry.get("logger", "?"), 0) + 1
            if entry.get("level") in ("WARNING", "ERROR", "CRITICAL", "warning", "error"):
                problems.append(f"{entry.get('level')}: {entry.get('message', '')[:160]}")
    text = ", ".join(f"{n:,} {name}" for name, n in sorted(counts.items()))
    if problems:
        text += f"; {len(problems)} warnings/errors/other lines, e.g. {problems[:2]}"
    return text


def measure(
    run: Run,
    scenario: Scenario,
    server: servers.Server,
    host: servers.Server | None,
    workers: int,
    references: list[tuple[servers.Server, Scenario]] | None = None,
    workdir: Path | None = None,
) -> Outcome:
    """One scenario of the pass with ``workers`` workers: wrk at full load, then the
    half-rate runs. With ``references`` (the baseline's server and scenario, then the
    peers', each server idle meanwhile), each is measured again just before, so a ratio
    compares two figures taken a few seconds apart. ``workdir`` (default the run's) holds
    wrk's scripts: one of its own for each scenario measured at the same time as others.
    With a ledger, the sign-ins it recorded meanwhile are counted against the tokens
    answered."""
    args = run.args
    ledger = run.ledgers.get(server.name)
    sign_ins = ledger.sign_ins() if ledger is not None else None
    probe(server.url, scenario.request)
    common = {
        "connections": args.connections,
        "threads": args.threads,
        "workdir": workdir or run.workdir,
    }
    again: dict[str, float] = {}
    for ref_server, ref_scenario in references or []:
        seconds = max(1, args.duration // 2)
        log(f"  {scenario.key}: {ref_scenario.key} again first, {seconds}s")
        result = run_wrk(run.wrk, ref_server.url, ref_scenario.request, seconds=seconds, **common)
        again[ref_scenario.key] = result.rps
    log(f"  {scenario.key}: warm-up {args.warmup}s, wrk {args.duration}s")
    answered = 1  # the probe
    if args.warmup:
        warm = run_wrk(run.wrk, server.url, scenario.request, seconds=args.warmup, **common)
        answered += warm.ok
    worker_pids = server.worker_pids()
    host_pids = [host.process.pid] if host else []
    watched = [server.process.pid, *[p for p in worker_pids if p != server.process.pid], *host_pids]
    before = CpuSnapshot.take(watched)
    result = run_wrk(run.wrk, server.url, scenario.request, seconds=args.duration, **common)
    after = CpuSnapshot.take(watched)
    cpu = CpuUse.between(before, after, worker_pids, host_pids)
    memory = server.memory()
    paced = None
    paced_p99s: list[float] = []
    if args.paced_seconds > 0 and result.rps > 0:
        rate = max(10.0, result.rps / 2)
        log(
            f"  {scenario.key}: {result.rps:,.0f} req/s; paced at {rate:,.0f} req/s for "
            f"{args.paced_seconds}s, {args.paced_runs} time(s)"
        )
        runs = [
            run_paced(
                scenario.request,
                server.port,
                rate=rate,
                seconds=args.paced_seconds,
                connections=args.connections,
            )
            for _ in range(args.paced_runs)
        ]
        paced_p99s = [r.p99_ms for r in runs]
        # The run with the median p99: one stall of the shared machine does not decide it.
        paced = sorted(runs, key=lambda r: r.p99_ms)[len(runs) // 2]
        answered += sum(r.ok for r in runs)
    answered += result.ok
    recorded = None
    if ledger is not None and sign_ins is not None:
        recorded = (ledger.sign_ins() or 0) - sign_ins
    return Outcome(
        scenario=scenario,
        workers=workers,
        processes=server.workers,
        wrk=result,
        paced=paced,
        paced_p99s=paced_p99s,
        again=again,
        peak_rss=max((hwm for _, hwm in memory), default=0),
        rss=[rss for rss, _ in memory],
        cpu=cpu,
        answered=answered,
        recorded=recorded,
    )


def run_pass(run: Run, workers: int, chosen: list[Scenario]) -> None:
    by_server: dict[str, list[Scenario]] = {}
    for scenario in chosen:
        by_server.setdefault(scenario.server, []).append(scenario)
    host: servers.Server | None = None
    # The reference apps' scenarios measured so far, with their servers.
    measured: dict[str, tuple[servers.Server, Scenario]] = {}
    with contextlib.ExitStack() as stack:
        try:
            for key, spec in SERVER_SPECS.items():
                todo = by_server.get(key)
                if not todo:
                    continue
                if spec.needs_host and host is None:
                    host = start_host(run)
                if spec.reference:
                    # Kept running, idle, for the re-measurements before each scenario.
                    server = stack.enter_context(running(run, spec, workers, None))
                    for scenario in todo:
                        run.outcomes.append(measure(run, scenario, server, None, workers))
                        measured[scenario.key] = (server, scenario)
                    continue
                with running(run, spec, workers, host.url if host else None) as server:
                    for scenario in todo:
                        references = [measured[k] for k in scenario.references if k in measured]
                        run.outcomes.append(
                            measure(
                                run,
                                scenario,
                                server,
                                host if spec.needs_host else None,
                                workers,
                                references,
                            )
                        )
        finally:
            if host is not None:
                host.stop()
    set_ratios(run, workers)


def start_host(run: Run) -> servers.Server:
    log("starting the host platform app (bench/host_app.py, 1 worker)")
    return servers.start_server(
        "host",
        "bench.host_app:app",
        workers=1,
        log=run.workdir / "host.log",
        env={"BENCH_HOST_TOKEN": run.sec.host_token},
        app_dir=run.src,
    )


def set_ratios(run: Run, workers: int) -> None:
    """Each scenario's req/s over its baseline's, the baseline measured just before it if
    it was, else in the same pass."""
    for outcome in run.outcomes:
        if outcome.workers == workers and outcome.scenario.baseline:
            base_outcome = next(
                (
                    o
                    for o in run.outcomes
                    if o.workers == workers and o.scenario.key == outcome.scenario.baseline
                ),
                None,
            )
            denominator = outcome.reference_rps or (base_outcome.rps if base_outcome else 0)
            if denominator:
                outcome.ratio = outcome.rps / denominator


def run_quick_pass(run: Run, workers: int, chosen: list[Scenario]) -> None:
    """``--quick``: every server started at once, then each server's scenarios probed and
    driven by wrk one after another, the servers side by side (wrk's scripts in a
    directory per server). The servers share the machine, so the figures mean nothing:
    the pass shows that each scenario answers as it claims and that wrk drives it, in a
    few seconds."""
    by_server: dict[str, list[Scenario]] = {}
    for scenario in chosen:
        by_server.setdefault(scenario.server, []).append(scenario)
    specs = [spec for key, spec in SERVER_SPECS.items() if key in by_server]
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(max_workers=len(specs)) as pool:
        host = start_host(run) if any(spec.needs_host for spec in specs) else None
        if host is not None:
            stack.callback(host.stop)

        def start(spec: ServerSpec) -> servers.Server:
            host_url = host.url if host is not None and spec.needs_host else None
            return stack.enter_context(running(run, spec, workers, host_url))

        def drive(spec: ServerSpec, server: servers.Server) -> list[Outcome]:
            workdir = run.workdir / spec.key
            workdir.mkdir()
            host_of = host if spec.needs_host else None
            return [
                measure(run, s, server, host_of, workers, workdir=workdir)
                for s in by_server[spec.key]
            ]

        started = list(pool.map(start, specs))
        measured = {o.scenario.key: o for done in pool.map(drive, specs, started) for o in done}
        list(pool.map(servers.Server.stop, started))  # side by side too; the stack's is a no-op
    run.outcomes.extend(measured[scenario.key] for scenario in chosen)
    set_ratios(run, workers)


def leak_check(run: Run, chosen: list[Scenario]) -> None:
    """100,000 POST /tokens (user body) in 4 chunks on a fresh 1-worker spot-sso; RSS after each."""
    scenario = next(s for s in chosen if s.key == "tokens-user")
    total = run.args.leak_requests
    chunk = total // 4
    known = [o.rps for o in run.outcomes if o.scenario.key == "tokens-user" and o.workers == 1]
    rate = known[0] if known and known[0] > 0 else 500.0
    with running(run, SERVER_SPECS["static"], 1, None) as server:
        probe(server.url, scenario.request)
        rss, hwm = server.memory()[0]
        run.leak.append(LeakRow(0, 0, 0, rss, hwm, 0.0))
        done = 0
        for index in range(1, 5):
            got = non_ok = 0
            started = time.monotonic()
            while got < chunk:
                remaining = chunk - got
                per_thread = math.ceil(remaining / run.args.threads)
                seconds = max(1, math.ceil(remaining / rate * 1.3))
                log(f"  leak check: chunk {index}/4, {remaining:,} requests (at most {seconds}s)")
                result = run_wrk(
                    run.wrk,
                    server.url,
                    scenario.request,
                    seconds=seconds,
                    connections=run.args.connections,
                    threads=run.args.threads,
                    workdir=run.workdir,
                    limit_per_thread=per_thread,
                )
                got += result.responses
                non_ok += result.responses - result.ok
                if result.responses == 0:
                    raise RuntimeError("leak check: wrk got no responses")
            done += got
            time.sleep(0.5)
            rss, hwm = server.memory()[0]
            run.leak.append(LeakRow(index, done, non_ok, rss, hwm, time.monotonic() - started))


# --------------------------------------------------------------------------- report


def fmt_ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def fmt_mb(value: int) -> str:
    return f"{value / MB:.1f} MB" if value else "—"


def verdict(o: Outcome) -> tuple[str, str]:
    s = o.scenario
    if s.is_baseline:
        return "(baseline)", ""
    if s.is_peer:
        return "(reference app: `tokens-user` is compared with it below)", ""
    targets: list[str] = []
    misses: list[str] = []
    targets.append(f"p99½ ≤ {P99_TARGET_MS:.0f} ms")
    if o.paced is None or not o.paced.p99_ms <= P99_TARGET_MS:
        misses.append(f"p99½ {fmt_ms(o.paced.p99_ms if o.paced else None)}")
    targets.append(f"RSS ≤ {RSS_TARGET_MB:.0f} MB")
    if o.peak_rss > RSS_TARGET_MB * MB:
        misses.append(f"RSS {fmt_mb(o.peak_rss)}")
    failures = o.wrk.failures + (o.paced.sent - o.paced.ok if o.paced else 0)
    if failures:
        misses.append(f"{failures} failed requests")
    if o.recorded is not None:
        targets.append("the ledger records every token")
        if o.unrecorded:
            misses.append(f"ledger recorded {o.recorded:,} of {o.answered:,} tokens")
    return "; ".join(targets), "yes" if not misses else "**NO** (" + ", ".join(misses) + ")"


def main_table(outcomes: list[Outcome]) -> str:
    lines = [
        "| scenario | workers | req/s | ratio to baseline | p50 | p99 | p99 at half rate | peak RSS/worker | target | met? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for o in outcomes:
        target, met = verdict(o)
        ratio = (
            f"{o.ratio:.2f}" if o.ratio is not None else ("1.00" if o.scenario.is_baseline else "—")
        )
        half = fmt_ms(o.paced.p99_ms) if o.paced else "—"
        if o.paced and o.paced.achieved < 0.95 * o.paced.rate:
            half += f" (only {o.paced.achieved:,.0f}/s sent)"
        lines.append(
            f"| `{o.scenario.key}` {o.scenario.title} | {o.processes} | {o.rps:,.0f} | {ratio} | "
            f"{fmt_ms(o.wrk.p50_ms)} | {fmt_ms(o.wrk.p99_ms)} | {half} | {fmt_mb(o.peak_rss)} | {target} | {met} |"
        )
    return "\n".join(lines)


SCALE_TARGET = 1.7  # 2 workers over 1, spot-sso's scenarios; the bare app's own is the ceiling


def scale_table(outcomes: list[Outcome]) -> str:
    one = {o.scenario.key: o for o in outcomes if o.workers == 1}
    two = {o.scenario.key: o for o in outcomes if o.workers == 2}
    lines = [
        "| scenario | req/s, 1 worker | req/s, 2 workers | 2 workers / 1 worker | server CPU, 2 workers (cores, per worker) | target | met? |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for key, o1 in one.items():
        o2 = two.get(key)
        if o2 is None:
            continue
        ratio = o2.rps / o1.rps if o1.rps else float("nan")
        split = " + ".join(f"{c:.2f}" for c in o2.cpu.servers)
        same = " (one process in both passes)" if o2.processes == o1.processes else ""
        if o1.scenario.is_baseline or o1.scenario.is_peer:
            target, met = "(reference: this app's own scaling here)", ""
        else:
            target = f"≥ {SCALE_TARGET:.2f}"
            met = "yes" if round(ratio, 2) >= SCALE_TARGET else "**NO**"  # judged as shown
        lines.append(
            f"| `{key}`{same} | {o1.rps:,.0f} | {o2.rps:,.0f} | {ratio:.2f} | {split} "
            f"| {target} | {met} |"
        )
    return "\n".join(lines)


HOST_SCENARIOS = ("tokens-userid-warm", "authorize", "tokens-userid-cold")


def host_call_table(outcomes: list[Outcome]) -> str:
    """CPU per request of the server (all workers) and of the host app, and what a host
    call adds: a host-call scenario's server CPU per request minus `tokens-userid-static`'s
    (the same request without the call), in the same pass."""
    lines = [
        "| scenario | workers | req/s | server CPU per request | of which the host call (over `tokens-userid-static`) | host app CPU per request |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def per_request(o: Outcome, cores: float) -> float:
        return cores / o.rps * 1e6 if o.rps else float("nan")

    for o in outcomes:
        if o.scenario.key not in (*HOST_SCENARIOS, "tokens-userid-static"):
            continue
        static = next(
            (
                x
                for x in outcomes
                if x.workers == o.workers and x.scenario.key == "tokens-userid-static"
            ),
            None,
        )
        ours = per_request(o, sum(o.cpu.servers))
        call = "—"
        if static is not None and o.scenario.key in HOST_SCENARIOS:
            call = f"{ours - per_request(static, sum(static.cpu.servers)):,.0f} µs"
        host = f"{per_request(o, o.cpu.host):,.0f} µs" if o.cpu.host else "—"
        lines.append(
            f"| `{o.scenario.key}` | {o.workers} | {o.rps:,.0f} | {ours:,.0f} µs | {call} | {host} |"
        )
    return "\n".join(lines)


REFERENCE_NAMES = {
    "baseline": "bare FastAPI app",
    "handwritten": "hand-written FastAPI app",
    "express": "Express app",
    "ledger-off": "spot-sso without the ledger",
}


def peers_table(run: Run, *, costs: bool = False) -> str:
    """Each scenario with peers over its baseline, then over each peer: the one measured
    just before it if it was (not in --quick), else the pass's. With ``costs``, the
    scenarios compared for what they cost over their peers (the ledger's), without their
    baseline (the main table has that ratio); otherwise the others."""
    lines = [
        "| scenario | workers | req/s | compared with | its req/s | measured | ratio | target | met? |",
        "|---|---:|---:|---|---:|---|---:|---|---|",
    ]
    for o in run.outcomes:
        s = o.scenario
        if not s.peers or s.baseline is None or s.costs != costs:
            continue
        compared = [(p.key, p) for p in s.peers]
        for key, peer in compared if costs else [(s.baseline, None), *compared]:
            in_pass = next(
                (x for x in run.outcomes if x.workers == o.workers and x.scenario.key == key), None
            )
            name = f"`{key}`"
            if in_pass is not None and in_pass.scenario.server in REFERENCE_NAMES:
                name = f"{REFERENCE_NAMES[in_pass.scenario.server]} ({name})"
                if in_pass.processes != o.processes:
                    name += f", {in_pass.processes} process against {o.processes} workers"
            target = "none" if peer is None else peer.describe_target()
            if key in o.again:
                rps, when = o.again[key], "just before"
            elif in_pass is not None:
                rps, when = in_pass.rps, "in the pass"
            else:
                why = run.skipped.get(key, "not in this run (`--only`)")
                lines.append(
                    f"| `{s.key}` | {o.workers} | {o.rps:,.0f} | {name} | — | skipped: {why} | — "
                    f"| {target} | — |"
                )
                continue
            ratio = o.rps / rps if rps else float("nan")
            shown = f"{ratio:.2f}" if peer is None else peer.show(ratio)
            met = ""
            if peer is not None and peer.target is not None:  # judged as shown
                met = "yes" if round(ratio, 2) >= peer.target else "**NO**"
                if o.unrecorded:
                    met = "**NO** (the ledger failed: see Results)"
            lines.append(
                f"| `{s.key}` | {o.workers} | {o.rps:,.0f} | {name} | {rps:,.0f} | {when} "
                f"| {shown} | {target} | {met} |"
            )
    return "\n".join(lines)


def conditions_table(outcomes: list[Outcome]) -> str:
    lines = [
        "| scenario | workers | responses (wrk) | not counted as success | measured again just before (req/s) | server CPU (cores, per worker) | host app CPU | wrk CPU | other load on the machine | half-rate run: rate asked / sent, p50, p99.9, generator CPU | ledger: sign-ins recorded / tokens answered |",
        "|---|---:|---:|---|---:|---|---:|---:|---:|---|---:|",
    ]
    for o in outcomes:
        bad = o.wrk.responses - o.wrk.ok
        errs = {k: v for k, v in o.wrk.socket_errors.items() if v}
        statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(o.wrk.statuses.items()))
        failed = f"{bad:,} (statuses {statuses})" if bad else "0"
        if errs:
            failed += f"; socket errors {errs}"
        p = o.paced
        paced = (
            f"{p.rate:,.0f} / {p.achieved:,.0f}/s, {fmt_ms(p.p50_ms)}, {fmt_ms(p.p999_ms)}, "
            f"{p.client_cpu:.2f} cores" + (f", {p.sent - p.ok} failed" if p.sent != p.ok else "")
            if p
            else "—"
        )
        if len(o.paced_p99s) > 1:
            paced += "; p99 of each run: " + ", ".join(fmt_ms(v) for v in o.paced_p99s)
        split = " + ".join(f"{c:.2f}" for c in o.cpu.servers)
        host = f"{o.cpu.host:.2f}" if o.scenario.server.startswith("http") else "—"
        reference = "; ".join(f"`{k}` {v:,.0f}" for k, v in o.again.items()) or "—"
        ledger = "—" if o.recorded is None else f"{o.recorded:,} / {o.answered:,}"
        lines.append(
            f"| `{o.scenario.key}` | {o.processes} | {o.wrk.responses:,} | {failed} | {reference} | {split} | {host} | "
            f"{o.cpu.wrk:.2f} | {o.cpu.other:.2f} | {paced} | {ledger} |"
        )
    return "\n".join(lines)


def leak_table(rows: list[LeakRow]) -> tuple[str, str]:
    lines = [
        "| after | requests so far | not 200 | VmRSS | VmHWM (peak) | chunk time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        label = "start (after one request)" if r.chunk == 0 else f"chunk {r.chunk}"
        lines.append(
            f"| {label} | {r.requests:,} | {r.non_ok:,} | {fmt_mb(r.rss)} | {fmt_mb(r.hwm)} | "
            + (f"{r.seconds:.1f} s |" if r.chunk else "— |")
        )
    verdict_text = ""
    if len(rows) == 5:
        growth = rows[4].rss - rows[2].rss
        peak = max(r.hwm for r in rows)
        ok_size = rows[4].rss <= RSS_TARGET_MB * MB
        ok_growth = growth < LEAK_TOLERANCE_BYTES
        verdict_text = (
            f"RSS after {rows[4].requests:,} requests: {fmt_mb(rows[4].rss)} (peak {fmt_mb(peak)}); "
            f"target ≤ {RSS_TARGET_MB:.0f} MB: **{'met' if ok_size else 'NOT met'}**. "
            f"Growth from chunk 2 to chunk 4: {growth / 1024:+,.0f} KiB; "
            f"target no growth (< 1 MiB): **{'met' if ok_growth else 'NOT met'}**."
        )
    return "\n".join(lines), verdict_text


def machine_facts(run: Run) -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    spot_sso = importlib.metadata.version("spot-sso")
    return [
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, {memory} RAM, "
        f"Linux {platform.release()}",
        f"- load average: {run.load_start} at the start, {run.load_end} at the end",
        f"- Python {platform.python_version()} ({sys.executable}); spot-sso {spot_sso}",
        f"- code measured: a copy of service/ taken at the start; {run.code}",
        f"- packages: {', '.join(versions)}",
        f"- {wrk_version(run.wrk)}",
        "- Express peer: "
        + (run.node.describe() if run.node else run.skipped.get("express-post", "not in this run")),
    ]


def report(run: Run, command: str) -> str:
    args = run.args
    uvicorn = shlex.join(servers.uvicorn_command("APP", 0, 1, app_dir=Path("SNAPSHOT"))).replace(
        " --port 0 ", " --port PORT "
    )
    uvicorn = uvicorn.replace(" --workers 1 ", " --workers N ").replace(sys.executable, "python")
    out = [
        "# spot-sso bench results",
        "",
        f"Run {run.started} with `{command}`"
        + (" (**quick smoke run: numbers are not meaningful**)" if args.quick else "")
        + ".",
        "",
        *machine_facts(run),
        "",
        "## How",
        "",
        *(
            [
                "- **Quick smoke run**: every server below started at once and driven at the "
                "same time, its scenarios one after another, one short wrk run each (no "
                "warm-up, no half-rate run, no baseline re-measurement).",
            ]
            if args.quick
            else []
        ),
        f"- Every server: `{uvicorn}` (`--factory service.web.app:app_from_environment` for spot-sso, "
        "`bench.baseline:app` for the bare FastAPI app, `bench.handwritten:app` for the "
        "hand-written one; SNAPSHOT is the copy of service/ and bench/ taken at the start), "
        "except the Express app: `node SNAPSHOT/bench/express/server.js` with `NODE_ENV=production`, "
        "**one Node process in every pass** (with 2 workers too: its rows show 1 in the workers "
        "column). Servers run one after another; the host "
        "platform app (`bench/host_app.py`, raw ASGI, 1 worker) runs beside the HTTP-adapter "
        "spot-sso.",
        "- What an integrator would write instead of spot-sso, for the `tokens-user` request: "
        "`bench/handwritten.py`, a FastAPI `POST /tokens` with a pydantic model (`EmailStr`, "
        "email-validator) and python-jose HS256 signing (sub, firstName, lastName, email, "
        "iat, exp = iat + 60); and `bench/express/server.js`, the same in Express 5 "
        "(`express.json()`) and jsonwebtoken 9 (`jwt.sign`, HS256, `expiresIn: 60`), with no "
        "check of the body beyond a `user` being there, and the key as a string (as "
        "jsonwebtoken's README has it: it then tries the key as a PEM private key on every "
        "sign, bench/README.md). Both check the API key against a constant and have no logs, "
        "metrics or rate limits.",
        '- spot-sso runs as in production: `log_level = "info"`, JSON logs (one access line per '
        "request, with the token's audit fields) written to a file, rate limits on but at "
        "`100000000/minute` (tokens, authorize, failed auth) so they never bound the figures, one "
        "Spot with group-sync and property rules, one API client, and the member ledger on (its "
        "default): SQLite, a file of each server's own in the run's temporary folder (`data_dir`; "
        "the servers run in that folder), so every token is a read and an upsert. Each spot-sso "
        "row's ledger recorded every token it answered (Run conditions), or the row says it did "
        "not: spot-sso fails open, and a failing ledger would make it faster.",
        f"- Load: wrk, {args.threads} threads, {args.connections} connections, keep-alive, "
        f"{args.warmup} s warm-up then {args.duration} s measured per scenario, on 127.0.0.1. "
        "req/s counts only successful answers (200 with a token; for `/authorize` a 302 whose "
        "Location goes to the Spot with `token=`); p50/p99 are wrk's, at full load (closed loop, "
        f"so they include queueing behind {args.connections} connections).",
        f"- p99 at half rate: an open-loop generator (`bench/paced.py`) sends at half the "
        f"scenario's measured req/s for {args.paced_seconds} s over {args.connections} "
        "keep-alive connections, latency measured from each request's scheduled send time; "
        f"{args.paced_runs} such run(s) per scenario, and the tables show the run with the "
        "median p99 (every run's p99 is under Run conditions).",
        "- Ratios divide by the bare FastAPI app measured in the same run with the same worker "
        "count (POST scenarios by its POST, `/authorize` by its GET 302), and measured again "
        f"just before each scenario ({max(1, args.duration // 2)} s of wrk; the bare app stays up, "
        "idle, while spot-sso runs): this machine's speed drifts by 10-20% over minutes, and a "
        "ratio of two figures taken seconds apart is steadier than one taken minutes apart. "
        "The baseline rows show the first measurement; Run conditions shows each re-measurement. "
        "`tokens-user` is also divided by the hand-written and the Express app, each measured "
        "again the same way just before it (all three stay up, idle, while spot-sso runs).",
        f"- The machine has {os.cpu_count()} cores shared by the server, wrk, the host app and the "
        'generator: with 2 workers the server cannot have 2 cores to itself. "other load" '
        "below is CPU used by processes outside the bench during the measured run (other "
        "work on the machine); figures taken under other load are lower than the machine allows.",
        "",
        "## Results",
        "",
        main_table(run.outcomes),
        "",
        *[f"- `{key}` skipped: {why}." for key, why in run.skipped.items()],
        *([""] if run.skipped else []),
    ]
    if any(o.scenario.peers and not o.scenario.costs for o in run.outcomes):
        out += [
            "## Against what an integrator would write, and against the user body",
            "",
            "`tokens-user`'s req/s over the same request's to the bare app (no target: it signs "
            "nothing), to the hand-written FastAPI app (target ≥ 0.80) and to the Express app "
            "(target ≥ 1.5x, spot-sso one and a half times as fast), each measured "
            + (
                "in the same quick pass, side by side (not meaningful)."
                if args.quick
                else "again just before `tokens-user`."
            )
            + " The `userId` scenarios over `tokens-user` in the same pass (target ≥ 0.85: "
            "looking the user up, from the static table or the warm cache, and applying the "
            "Spot's rules costs at most 15%).",
            "",
            peers_table(run),
            "",
        ]
    if any(o.scenario.costs for o in run.outcomes):
        out += [
            "## The member ledger's cost",
            "",
            "The `tokens-user` request to three spot-sso servers identical but for the ledger: "
            "off (`ledger.enabled = false`), SQLite (a file in the run's folder, as `tokens-user`'s "
            "server has), PostgreSQL (a database of the run's own on 127.0.0.1:5432, created "
            "before the server and dropped after). `ledger-sqlite` and `ledger-postgres` send the "
            "same body every time (the same member signing in again: a read, then an upsert that "
            "updates the row); the `-new` ones send a new `sub` each time (a read that finds "
            "nothing, then an insert). The cost is 1 - req/s(ledger) / req/s(`ledger-off`), "
            "`ledger-off` measured "
            + ("in the same quick pass (not meaningful)." if args.quick else "again just before.")
            + " Target: ≤ 15% with SQLite for the same member again; PostgreSQL and new members "
            "are reported without a target. Throughput and latency of each are in Results above.",
            "",
            peers_table(run, costs=True),
            "",
        ]
    if any(o.scenario.key in HOST_SCENARIOS for o in run.outcomes):
        out += [
            "## Host calls: CPU per request",
            "",
            "Server CPU (every worker's, from /proc) per successful request during the measured "
            "run at full load. A host-call scenario's figure minus `tokens-userid-static`'s is "
            "what the call to the host platform costs spot-sso (the HTTP client, the answer's "
            "parsing, the profile); the host app's own CPU is shown apart. The target for these "
            f"scenarios is their p99 at half rate (≤ {P99_TARGET_MS:.0f} ms, Results above).",
            "",
            host_call_table(run.outcomes),
            "",
        ]
    if any(o.workers == 2 for o in run.outcomes):
        out += ["## Scale-out: 2 workers against 1", "", scale_table(run.outcomes), ""]
    out += [
        "## Token path alone (in process, one core)",
        "",
        micro_table(run.micro) if run.micro else "(skipped)",
        "",
        "Rates are per CPU-second of a single thread (tokens per second per core); best of "
        f"{1 if args.quick else 3} runs.",
        "",
        "## Where a POST /tokens request's time goes (in process)",
        "",
    ]
    if run.budget:
        handwritten = next(
            (
                o.rps
                for o in run.outcomes
                if o.scenario.key == "handwritten-post" and o.workers == 1
            ),
            None,
        )
        out += [
            "`bench/budget.py`: the `tokens-user` request sent straight to the ASGI apps (no "
            "server, no socket), one at a time, CPU time per request (the process's, every "
            f"thread), best of {1 if args.quick else 5} interleaved runs; spot-sso configured "
            "as above (the ledger in SQLite), then with its ledger write taken out (the member "
            "read and the sign-in upserted, one transaction per request here: the ledger's one "
            "call under `follow`); then, from spot-sso without the ledger, each other part. A part's "
            "cost is the request it was taken out of minus the request without it.",
            "",
            budget_table(run.budget, handwritten),
            "",
        ]
    else:
        out += ["(skipped)", ""]
    out += [
        "## Leak check: RSS over 100,000 requests",
        "",
    ]
    if run.leak:
        table, text = leak_table(run.leak)
        out += [
            "`tokens-user` (POST /tokens, user body) on a fresh spot-sso (static adapter, 1 worker), "
            f"{run.args.leak_requests:,} requests in 4 chunks driven by wrk; VmRSS/VmHWM of the worker "
            "after each chunk (0.5 s after it ends).",
            "",
            table,
            "",
            text,
            "",
        ]
    else:
        out += ["(skipped)", ""]
    out += [
        "## Run conditions",
        "",
        conditions_table(run.outcomes),
        "",
        "spot-sso's logs (counted lines per logger):",
        "",
        *[f"- {line}" for line in run.logs],
        "",
        "MB = 1,000,000 bytes. RSS/worker is the largest VmHWM (peak resident set) among the "
        "workers after the scenario; a server serves several scenarios, so it is the peak so far.",
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=int, help="seconds of wrk per scenario (default 10; quick 1)"
    )
    parser.add_argument(
        "--warmup", type=int, help="seconds of wrk before each scenario (default 2; quick 0)"
    )
    parser.add_argument(
        "--paced-seconds", type=float, help="seconds of the half-rate run (default 5; quick 0)"
    )
    parser.add_argument(
        "--paced-runs",
        type=int,
        help="half-rate runs per scenario; the median p99 is reported (default 3; quick 1)",
    )
    parser.add_argument("--workers", help="worker counts, comma-separated (default 1,2; quick 1)")
    parser.add_argument("--connections", type=int, help="wrk connections (default 32; quick 8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--leak-requests",
        type=int,
        help="requests of the leak check, 0 to skip (default 100000; quick 0)",
    )
    parser.add_argument(
        "--micro-seconds",
        type=float,
        help="seconds per micro-benchmark case (default 1; quick 0.02)",
    )
    parser.add_argument("--only", help="scenario keys, comma-separated (baselines are added)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke mode: every server at once, each scenario once, briefly (a few seconds)",
    )
    parser.add_argument(
        "--output", help="report file (default bench/results.md; quick: a temporary file)"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' logs and configs"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "duration": 1 if quick else 10,
        # 1 s in --quick: a server's first requests (its ledger's first connection, the
        # statements' first compile) must not fall in the one measured second.
        "warmup": 1 if quick else 2,
        "paced_seconds": 0.0 if quick else 5.0,
        "paced_runs": 1 if quick else 3,
        "workers": "1" if quick else "1,2",
        "leak_requests": 0 if quick else 100_000,
        "micro_seconds": 0.02 if quick else 1.0,
        # Every server shares the machine in --quick: with 32 connections each, the slowest
        # scenarios would answer nothing within their 1 s.
        "connections": 8 if quick else 32,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.worker_counts = [int(w) for w in str(args.workers).split(",") if w.strip()]
    if (
        args.duration < 1
        or args.warmup < (0 if quick else 1)
        or not args.worker_counts
        or min(args.worker_counts) < 1
    ):
        parser.error("--duration and --warmup must be >= 1 s; --workers >= 1")
    if args.leak_requests and args.leak_requests < 4:
        parser.error("--leak-requests must be 0 or at least 4")
    return args


def prepare_node(run: Run, chosen: list[Scenario]) -> list[Scenario]:
    """The scenarios that can run: the Node peer's only with Node and its packages
    (installed here, except in --quick); otherwise the report says why not."""
    on_node = [s for s in chosen if SERVER_SPECS[s.server].node]
    if not on_node:
        return chosen
    log("the Express peer: node, and its packages in bench/express/node_modules")
    ready = node_peer.prepare(run.workdir, install=not run.args.quick, say=lambda m: log(f"  {m}"))
    if isinstance(ready, node_peer.NodePeer):
        run.node = ready
        log(f"  {ready.describe()}")
        return chosen
    return _skipping(run, chosen, on_node, ready)


def prepare_postgres(run: Run, chosen: list[Scenario]) -> list[Scenario]:
    """The scenarios that can run: PostgreSQL's only when the machine's server answers
    (each of its servers then gets a database of the run's own); otherwise the report
    says why not."""
    on_postgres = [s for s in chosen if SERVER_SPECS[s.server].ledger == "postgres"]
    if not on_postgres:
        return chosen
    postgres = Postgres()
    why = postgres.unavailable()
    if why is None:
        run.postgres = postgres
        log(f"PostgreSQL answers: databases {postgres.prefix}_<n>, dropped at the end")
        return chosen
    return _skipping(run, chosen, on_postgres, why)


def _skipping(run: Run, chosen: list[Scenario], out: list[Scenario], why: str) -> list[Scenario]:
    """``chosen`` without ``out``, whose skip and its reason the report will show."""
    for scenario in out:
        run.skipped[scenario.key] = why
    log(f"  skipping {', '.join(s.key for s in out)}: {why}")
    return [s for s in chosen if s not in out]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.output:
        output = Path(args.output)
    elif args.quick:
        output = Path(tempfile.gettempdir()) / f"spot-sso-bench-quick-{os.getpid()}.md"
    else:
        output = DEFAULT_OUTPUT
    wrk = ensure_wrk()
    if wrk is None:
        print(INSTALL_HELP, file=sys.stderr)
        return 2
    servers.install_cleanup()
    workdir = Path(tempfile.mkdtemp(prefix="spot-sso-bench-"))
    run = Run(args=args, wrk=wrk, workdir=workdir)
    if "service" in sys.modules:  # pragma: no cover - nothing above imports it
        log("warning: service/ was imported before the snapshot; micro uses the work tree")
    all_scenarios = scenarios(run.sec)
    chosen = all_scenarios
    if args.only:
        keys = {k.strip() for k in args.only.split(",")}
        keys |= {s.baseline for s in all_scenarios if s.key in keys and s.baseline}
        chosen = [s for s in all_scenarios if s.key in keys]
    command = shlex.join(["bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    try:
        chosen = prepare_node(run, chosen)  # may run npm install: inside the cleanup
        chosen = prepare_postgres(run, chosen)
        run.src, run.code = snapshot(workdir)
        sys.path.insert(0, str(run.src))
        run.started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        run.load_start = Path("/proc/loadavg").read_text().split(" ")[0]
        if args.micro_seconds > 0:
            log("micro-benchmark of the token path")
            run.micro = run_micro(args.micro_seconds, 1 if args.quick else 3)
            log("where a POST /tokens request's time goes (in process)")
            run.budget = run_budget(100, 1) if args.quick else run_budget()
        for workers in args.worker_counts:
            log(f"pass with {workers} worker(s)")
            (run_quick_pass if args.quick else run_pass)(run, workers, chosen)
        if args.leak_requests and any(s.key == "tokens-user" for s in chosen):
            log(f"leak check: {args.leak_requests:,} requests")
            leak_check(run, chosen)
    finally:
        servers.stop_all()
        if run.postgres is not None:
            for problem in run.postgres.drop_all():
                log(f"warning: a database of the run's is left: {problem}")
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs and configs kept in {workdir}")
    run.load_end = Path("/proc/loadavg").read_text().split(" ")[0]
    text = report(run, command)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(main_table(run.outcomes))
    if any(o.scenario.peers and not o.scenario.costs for o in run.outcomes):
        print()
        print(peers_table(run))
    if any(o.scenario.costs for o in run.outcomes):
        print()
        print(peers_table(run, costs=True))
    if any(o.scenario.key in HOST_SCENARIOS for o in run.outcomes):
        print()
        print(host_call_table(run.outcomes))
    if any(o.workers == 2 for o in run.outcomes):
        print()
        print(scale_table(run.outcomes))
    if run.micro:
        print()
        print(micro_table(run.micro))
    if run.leak:
        print()
        table, verdict_text = leak_table(run.leak)
        print(table)
        print(verdict_text)
    print(f"\nreport written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
