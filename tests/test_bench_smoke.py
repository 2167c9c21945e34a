"""``bench/run.py --quick`` runs end to end and reports every scenario (no timing asserted).

The bench drives real uvicorn processes with wrk (Debian package ``wrk``); the test
installs it when it can (root with apt-get, as in CI) and is skipped when it cannot.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.budget import PARTS, budget_table, run_budget
from bench.fixtures import Secrets
from bench.run import scenarios
from bench.wrk_driver import ensure_wrk

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [s.key for s in scenarios(Secrets())]
ROW = re.compile(r"^\| `(?P<key>[a-z-]+)` [^|]*\| (?P<workers>\d+) \| (?P<rps>[\d,.]+) \|", re.M)


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
    assert sorted(rows) == sorted(SCENARIOS), report
    assert all(rps > 0 for rps in rows.values()), rows
    assert "## Token path alone" in report
    assert "token path" in report
    assert "## Where a POST /tokens request's time goes (in process)" in report
    assert "| spot-sso without all of the above |" in report


def test_budget_takes_each_part_out_and_puts_it_back() -> None:
    """Every case answers 200 (``run_budget`` raises otherwise); what was patched
    process-wide (signing, the email check, log levels and handlers) is restored."""
    import logging

    import email_validator

    from service.contract import claims
    from service.contract.signing import TokenIssuer

    sign, root = TokenIssuer.sign, logging.getLogger()
    handlers, level = root.handlers[:], logging.getLogger("spot_sso").level
    rows = run_budget(requests=20, repeats=1)
    names = [r.case for r in rows]
    assert names[:2] == ["bare FastAPI app", "spot-sso, everything on"]
    assert names[2:-1] == [f"spot-sso without {name}" for name, _ in PARTS]
    assert all(r.us_per_request > 0 for r in rows)
    assert [r.part_cost is None for r in rows] == [True, True] + [False] * (len(PARTS) + 1)
    assert TokenIssuer.sign is sign
    assert claims.validate_email is email_validator.validate_email
    assert root.handlers == handlers and logging.getLogger("spot_sso").level == level
    table = budget_table(rows, baseline_rps=10_000)
    assert "| spot-sso without email-validator |" in table
    assert "- 0.70 (the issue's target for POST /tokens): 43 µs per request" in table
