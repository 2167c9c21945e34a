"""``bench/run.py --quick`` runs end to end and reports every scenario (no timing asserted).

The bench drives real uvicorn processes with wrk (Debian package ``wrk``); the test
installs it when it can (root with apt-get, as in CI) and is skipped when it cannot.
The Express peer runs only when bench/express/node_modules is already installed (quick
mode does not run ``npm install``), and the ledger's PostgreSQL server only when
PostgreSQL answers on 127.0.0.1:5432; otherwise the report must say why their rows are
missing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.fixtures import Secrets
from bench.run import scenarios
from bench.wrk_driver import ensure_wrk
from tests.support.paths import ROOT

SCENARIOS = [s.key for s in scenarios(Secrets())]
ROW = re.compile(r"^\| `(?P<key>[a-z-]+)` [^|]*\| (?P<workers>\d+) \| (?P<rps>[\d,.]+) \|", re.M)
SKIPPED = re.compile(r"^- `(?P<key>[a-z-]+)` skipped: (?P<why>.+)$", re.M)
MAY_BE_SKIPPED = {"express-post", "ledger-postgres", "ledger-postgres-new"}
# A scenario over what it is compared with: tokens-user over each reference app (the
# bare one, the hand-written one, Express), the userId scenarios over tokens-user, the
# ledger's scenarios over the same server without the ledger.
PEER_ROW = re.compile(
    r"^\| `(?P<scenario>[a-z-]+)` \| 1 \| [\d,]+ \| [^|`]*\(?`(?P<key>[a-z-]+)`\)?[^|]* "
    r"\| (?P<rps>[\d,]+) \|",
    re.M,
)


@pytest.mark.e2e
def test_quick_bench_reports_every_scenario(tmp_path: Path) -> None:
    if ensure_wrk(install=True) is None:
        pytest.skip("wrk is not installed and cannot be (apt-get install wrk, as root)")
    output = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (
        f"bench/run.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    report = output.read_text(encoding="utf-8")
    assert "| scenario | workers | req/s | ratio to baseline |" in report
    rows = {m["key"]: float(m["rps"].replace(",", "")) for m in ROW.finditer(report)}
    skipped = {m["key"]: m["why"] for m in SKIPPED.finditer(report)}
    # Only the Node peer and PostgreSQL's may be missing, with their reason in the report.
    assert set(skipped) <= MAY_BE_SKIPPED, skipped
    assert sorted(rows) == sorted(set(SCENARIOS) - set(skipped)), report
    # Every server runs side by side on the machine's cores in --quick, each scenario for
    # one second: a row says the scenario was driven; its figure means nothing (a loaded
    # CI machine saw a spot-sso scenario answer nothing in its second). The bare app
    # answers whatever the load.
    assert rows["baseline-post"] > 0 and rows["baseline-get"] > 0, rows
    assert "## Against what an integrator would write, and against the user body" in report
    peers = {(m["scenario"], m["key"]) for m in PEER_ROW.finditer(report)}
    expected = {
        ("tokens-user", key) for key in ("baseline-post", "handwritten-post", "express-post")
    } - {("tokens-user", key) for key in skipped}
    for scenario in ("tokens-userid-static", "tokens-userid-warm"):
        expected |= {(scenario, "baseline-post"), (scenario, "tokens-user")}
    expected |= {
        (key, "ledger-off")
        for key in ("ledger-sqlite", "ledger-sqlite-new", "ledger-postgres", "ledger-postgres-new")
        if key not in skipped
    }
    assert peers == expected, report
    assert "## The member ledger's cost" in report
    assert "## Host calls: CPU per request" in report
    assert re.search(
        r"^\| `tokens-userid-cold` \| 1 \| [\d,]+ \| [\d,]+ µs \| -?[\d,]+ µs \|", report, re.M
    )
    assert "## Token path alone" in report
    assert "token path" in report
    assert "## Where a POST /tokens request's time goes (in process)" in report
    assert "| spot-sso without all of the above |" in report
