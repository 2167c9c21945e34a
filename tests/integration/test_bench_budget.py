"""``bench/budget.py``: the POST /tokens request sent straight to the ASGI apps, in process,
each part of spot-sso taken out in turn and put back."""

from __future__ import annotations

import structlog

from bench.budget import BARE, FULL, HANDWRITTEN, PARTS, budget_table, run_budget


def test_budget_takes_each_part_out_and_puts_it_back() -> None:
    """Every case answers 200 (``run_budget`` raises otherwise); what was patched
    process-wide (signing, the email check, log levels and handlers) is restored."""
    import logging

    import email_validator

    from service.contract import claims
    from service.contract.signing import TokenIssuer

    sign, root, events = TokenIssuer.sign, logging.getLogger(), structlog.get_config()
    handlers, level = root.handlers[:], root.level
    rows = run_budget(requests=20, repeats=1)
    names = [r.case for r in rows]
    assert names[:3] == [BARE, HANDWRITTEN, FULL]
    assert names[3:-1] == [f"spot-sso without {name}" for name, _ in PARTS]
    assert all(r.us_per_request > 0 for r in rows)
    assert [r.part_cost is None for r in rows] == [True] * 3 + [False] * (len(PARTS) + 1)
    assert TokenIssuer.sign is sign
    assert claims.validate_email is email_validator.validate_email
    assert (root.handlers, root.level, structlog.get_config()) == (handlers, level, events)
    table = budget_table(rows, handwritten_rps=4_000)
    assert "| spot-sso without email-validator |" in table
    assert "In process, the hand-written app takes " in table
    assert "At the 0.80 target, spot-sso's features may cost 62 µs per request." in table
