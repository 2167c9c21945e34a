"""``bench/budget.py``: the POST /tokens request sent straight to the ASGI apps, in process,
each part of spot-sso taken out in turn and put back."""

from __future__ import annotations

from bench.budget import PARTS, budget_table, run_budget


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
