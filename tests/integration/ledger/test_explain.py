"""``spot-sso explain`` says which email a token would carry, and why, from the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from service.identity.base import UserProfile
from service.ledger.records import SignIn
from service.runtime.explain import explain
from service.runtime.runtime import Runtime
from tests.support.settings import MAIN_ID, make_settings

FIRST, SECOND = "ada@example.com", "ada.lovelace@new.example"
ADA = UserProfile(id="u-ada", email=SECOND, first_name="Ada", last_name="Lovelace")


def email_of(report: dict[str, object]) -> tuple[object, str]:
    (reason,) = [r for r in report["reasons"] if r["claim"] == "email"]  # type: ignore[attr-defined]
    return reason["value"], reason["source"]


async def explained(ledger_url: str, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``explain`` for Ada on Spot main under ``mode``: before any sign-in, then once
    the ledger remembers her first email."""
    settings = make_settings(
        database_url=ledger_url, ledger={"enabled": True}, spots={"main": {"email_change": mode}}
    )
    runtime = Runtime(settings)
    try:
        await runtime.start(maintain=False)
        new = explain(runtime, "main", ADA, await runtime.known_member("main", "u-ada"))
        assert runtime.ledger is not None
        await runtime.ledger.record(SignIn(MAIN_ID, "u-ada", FIRST, FIRST, 1_796_000_000))
        return new, explain(runtime, "main", ADA, await runtime.known_member("main", "u-ada"))
    finally:
        await runtime.aclose()


@pytest.mark.parametrize(
    ("mode", "value", "source"),
    [
        ("follow", SECOND, "changed from 'ada@example.com'"),
        ("keep-first", FIRST, "the ledger (spots.main.email_change = 'keep-first')"),
    ],
)
async def test_explain_names_the_email_sent_and_why(
    ledger_url: str, mode: str, value: str, source: str
) -> None:
    new, report = await explained(ledger_url, mode)
    assert email_of(new) == (SECOND, "profile.email (a new member: the ledger has no record)")
    assert report["allowed"] is True
    assert report["claims"]["email"] == value
    found, why = email_of(report)
    assert found == value and source in why and "2026-11-" in why


async def test_explain_says_a_refused_change_would_be_refused(ledger_url: str) -> None:
    _, report = await explained(ledger_url, "refuse")
    assert report["allowed"] is False
    assert "would be refused (409 email-change-refused)" in str(report["reason"])
