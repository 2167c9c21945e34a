"""``bench/budget.py``: the POST /tokens request sent straight to the ASGI apps, in process,
each part of spot-sso taken out in turn and put back; the ledger in a temporary SQLite
file, never in the working folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from bench.budget import (
    ALL_OFF,
    BARE,
    FULL,
    HANDWRITTEN,
    NO_LEDGER,
    PARTS,
    budget_table,
    run_budget,
)


def test_budget_takes_each_part_out_and_puts_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case answers 200 (``run_budget`` raises otherwise); what was patched
    process-wide (signing, the email check, log levels and handlers) is restored."""
    import logging

    import email_validator

    from service.contract import claims
    from service.contract.signing import TokenIssuer

    monkeypatch.chdir(tmp_path)  # a ledger written to the working folder would show here
    sign, root, events = TokenIssuer.sign, logging.getLogger(), structlog.get_config()
    handlers, level = root.handlers[:], root.level
    rows = run_budget(requests=20, repeats=1)
    names = [r.case for r in rows]
    assert names == [
        BARE,
        HANDWRITTEN,
        FULL,
        NO_LEDGER,
        *(f"spot-sso without the ledger and {name}" for name, _ in PARTS),
        ALL_OFF,
    ]
    assert all(r.us_per_request > 0 for r in rows)
    taken_from = [r.taken_from for r in rows]
    assert taken_from == [None] * 3 + [FULL] + [NO_LEDGER] * len(PARTS) + [FULL]
    assert [r.part_cost is None for r in rows] == [r.taken_from is None for r in rows]
    assert list(tmp_path.iterdir()) == []
    assert TokenIssuer.sign is sign
    assert claims.validate_email is email_validator.validate_email
    assert (root.handlers, root.level, structlog.get_config()) == (handlers, level, events)
    table = budget_table(rows, handwritten_rps=4_000)
    assert "| spot-sso without the ledger and email-validator |" in table
    assert "The member ledger (SQLite) costs " in table
    assert "In process, the hand-written app takes " in table
    assert "At the 0.80 target, spot-sso's features may cost 62 µs per request." in table
