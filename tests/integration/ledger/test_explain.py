"""``spot-sso explain`` says which email a token would carry, and why, from the ledger."""

from __future__ import annotations

import pytest

from service.identity.base import UserProfile
from service.ledger.store import SignIn
from service.runtime.explain import explain
from service.runtime.runtime import Runtime
from tests.support.settings import MAIN_ID, make_settings

FIRST, SECOND = "ada@example.com", "ada.lovelace@new.example"
ADA = UserProfile(id="u-ada", email=SECOND, first_name="Ada", last_name="Lovelace")


def email_of(report: dict[str, object]) -> tuple[object, str]:
    (reason,) = [r for r in report["reasons"] if r["claim"] == "email"]  # type: ignore[attr-defined]
    return reason["value"], reason["source"]


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
    settings = make_settings(
        database_url=ledger_url, ledger={"enabled": True}, spots={"main": {"email_change": mode}}
    )
    runtime = Runtime(settings)
    try:
        await runtime.start(maintain=False)
        new = explain(runtime, "main", ADA, await runtime.known_member("main", "u-ada"))
        assert email_of(new) == (SECOND, "profile.email (a new member: the ledger has no record)")
        assert runtime.ledger is not None
        await runtime.ledger.record(SignIn(MAIN_ID, "u-ada", FIRST, FIRST, 1_796_000_000))
        report = explain(runtime, "main", ADA, await runtime.known_member("main", "u-ada"))
    finally:
        await runtime.aclose()
    assert report["allowed"] is True
    assert report["claims"]["email"] == value  # type: ignore[index]
    found, why = email_of(report)
    assert found == value and source in why and "2026-11-" in why


async def test_explain_says_a_refused_change_would_be_refused(ledger_url: str) -> None:
    settings = make_settings(
        database_url=ledger_url,
        ledger={"enabled": True},
        spots={"main": {"email_change": "refuse"}},
    )
    runtime = Runtime(settings)
    try:
        await runtime.start(maintain=False)
        assert runtime.ledger is not None
        await runtime.ledger.record(SignIn(MAIN_ID, "u-ada", FIRST, FIRST, 1_796_000_000))
        report = explain(runtime, "main", ADA, await runtime.known_member("main", "u-ada"))
    finally:
        await runtime.aclose()
    assert report["allowed"] is False
    assert "would be refused (409 email-change-refused)" in str(report["reason"])
