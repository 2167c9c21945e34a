"""Profile one spot-sso worker under one bench scenario's load with py-spy.

    .venv/bin/python bench/profile.py [--scenario tokens-user] [--seconds 10] [--top 15]

Starts the scenario's server (1 worker; the host app too for the HTTP adapter), puts wrk
on it (same settings as bench/run.py) and runs ``py-spy record --format raw`` on the
worker meanwhile; prints the top functions by own time and by total time (share of the
CPU samples: py-spy leaves out idle samples), and keeps the raw (collapsed) stacks in
``--output`` (default a temporary directory; ``flamegraph.pl`` or speedscope read them).
``pip install py-spy`` into .venv first (py-spy needs ptrace: root, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.ledger import Postgres
from bench.run import SERVER_SPECS, Run, probe, running, scenarios
from bench.wrk_driver import INSTALL_HELP, ensure_wrk, run_wrk

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame_key(frame: str) -> str:
    """``function (short/path.py)``: line numbers dropped, site-packages shortened."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    path = path.replace(str(servers.ROOT) + "/", "")
    return f"{match.group('name')} ({path})"


def top_functions(raw: str, top: int) -> tuple[int, list[tuple[str, int, int]]]:
    """(samples, [(function, own, total)]) from py-spy's raw (collapsed) stacks."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_key(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        # py-spy puts the process/thread name first; skip entries that are not frames.
        frames = [f for f in frames if "(" in f] or frames
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    rows = sorted(((n, own[n], total[n]) for n in total), key=lambda r: (-r[1], -r[2]))
    return samples, rows


def table(samples: int, rows: list[tuple[str, int, int]], top: int, by: int, keep: str = "") -> str:
    """The ``top`` rows by own (``by=1``) or total (``by=2``) time; for total time, the
    frames under nearly every sample (the event loop, uvicorn, the ASGI stack's outer
    layers: > 90%) are left out, and ``keep`` restricts rows to names containing it."""
    chosen = [r for r in rows if keep in r[0] and (by == 1 or r[2] <= 0.9 * samples)]
    ordered = sorted(chosen, key=lambda r: -r[by])[:top]
    lines = ["| function | own | total |", "|---|---:|---:|"]
    for name, own, total in ordered:
        lines.append(f"| `{name}` | {100 * own / samples:.1f}% | {100 * total / samples:.1f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="tokens-user")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", help="directory for the raw stacks")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is missing: .venv/bin/python -m pip install py-spy", file=sys.stderr)
        return 2
    wrk = ensure_wrk()
    if wrk is None:
        print(INSTALL_HELP, file=sys.stderr)
        return 2
    servers.install_cleanup()
    out = Path(args.output or tempfile.mkdtemp(prefix="spot-sso-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="spot-sso-bench-"))
    run = Run(args=argparse.Namespace(keep_logs=False), wrk=wrk, workdir=workdir)
    scenario = next(s for s in scenarios(run.sec) if s.key == args.scenario)
    spec = SERVER_SPECS[scenario.server]
    if spec.ledger == "postgres" and spec.adapter is not None:
        run.postgres = Postgres()
        if (why := run.postgres.unavailable()) is not None:
            print(why, file=sys.stderr)
            return 2
    host = None
    raw_path = out / f"{args.scenario}.raw.txt"
    try:
        if spec.needs_host:
            host = servers.start_server(
                "host",
                "bench.host_app:app",
                workers=1,
                log=workdir / "host.log",
                env={"BENCH_HOST_TOKEN": run.sec.host_token},
            )
        with running(run, spec, 1, host.url if host else None) as server:
            probe(server.url, scenario.request)
            common = {"connections": args.connections, "threads": args.threads, "workdir": workdir}
            run_wrk(wrk, server.url, scenario.request, seconds=2, **common)  # warm-up
            pid = server.worker_pids()[0]
            results = {}
            load = threading.Thread(
                target=lambda: results.setdefault(
                    "wrk",
                    run_wrk(wrk, server.url, scenario.request, seconds=args.seconds + 2, **common),
                )
            )
            load.start()
            subprocess.run(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(args.seconds),
                    "--rate",
                    str(args.rate),
                    "--format",
                    "raw",
                    "--output",
                    str(raw_path),
                ],
                check=True,
                timeout=args.seconds + 60,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            load.join(timeout=args.seconds + 60)
    finally:
        if host is not None:
            host.stop()
        servers.stop_all()
        if run.postgres is not None:
            run.postgres.drop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    raw = raw_path.read_text(encoding="utf-8", errors="replace")
    samples, rows = top_functions(raw, args.top)
    result = results.get("wrk")
    print(f"# py-spy profile of one spot-sso worker: `{scenario.key}` ({scenario.title})\n")
    if result is not None:
        print(
            f"wrk during the profile: {result.rps:,.0f} req/s (p50 {result.p50_ms:.1f} ms); "
            f"py-spy at {args.rate} Hz for {args.seconds} s: {samples:,} CPU samples\n"
        )
    print(f"## top {args.top} by own time\n")
    print(table(samples, rows, args.top, 1))
    print(f"\n## top {args.top} by total time (inclusive; frames in > 90% of samples left out)\n")
    print(table(samples, rows, args.top, 2))
    print(f"\n## spot-sso's own functions (service/), top {args.top} by total time\n")
    print(table(samples, rows, args.top, 2, keep="(service/"))
    print(f"\nraw stacks: {raw_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
