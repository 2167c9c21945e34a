"""After every other test: no log line of the whole session holds a secret.

``tests/conftest.py`` sends the session's structlog events to a capture, and attaches
the production stdlib handler (``Redactor``, the same processors) writing to it to the
root logger; it moves this test to the end, whichever tests run (``make test`` or
``make test-fast``). The e2e tests run real processes, whose logs those tests check
themselves.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from service.demo import DEMO_HOST_API_TOKEN, DEMO_PRIVATE_KEY
from tests.support.logs import LogCapture
from tests.support.settings import BILLING_KEY, MAIN_KEY, OTHER_KEY, PORTAL_KEY

SECRETS = {
    "MAIN_KEY": MAIN_KEY,
    "OTHER_KEY": OTHER_KEY,
    "BILLING_KEY": BILLING_KEY,
    "PORTAL_KEY": PORTAL_KEY,
    "DEMO_PRIVATE_KEY": DEMO_PRIVATE_KEY,
    "DEMO_HOST_API_TOKEN": DEMO_HOST_API_TOKEN,
}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Below these, the in-process API tests did not all run: the counts would prove nothing.
API_TESTS = "tests/integration/web/"
MIN_API_TESTS = 100
MIN_ACCESS_LINES = 100
MIN_AUDIT_LINES = 20


def test_no_log_line_of_the_session_holds_a_secret(
    request: pytest.FixtureRequest, log_capture: LogCapture
) -> None:
    lines = log_capture.lines
    leaks = [(name, line) for line in lines for name, secret in SECRETS.items() if secret in line]
    assert not leaks, f"secrets in {len(leaks)} log lines, e.g. {leaks[:3]}"
    jwts = [line for line in lines if JWT.search(line)]
    assert not jwts, f"JWT-shaped strings in {len(jwts)} log lines, e.g. {jwts[:3]}"
    assert not log_capture.failures, log_capture.failures[:5]
    assert log_capture.handler in logging.getLogger().handlers, "the capture was detached"

    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e["logger"] == "spot_sso.access"]
    audits = [e for e in entries if e.get("event") == "token_issued"]
    api_tests = sum(item.nodeid.startswith(API_TESTS) for item in request.session.items)
    if api_tests < MIN_API_TESTS:
        pytest.skip(f"only {api_tests} API tests ran: the line counts need the whole suite")
    assert len(access) >= MIN_ACCESS_LINES, f"only {len(access)} access lines captured"
    assert len(audits) >= MIN_AUDIT_LINES, f"only {len(audits)} audit lines captured"
    assert all(e["request_id"] and e["status"] for e in access)
    # A request that issued a token wrote one line: its access line, with the audit fields.
    for audit in audits:
        assert audit["logger"] in ("spot_sso.access", "spot_sso.audit"), audit
        assert {"spot", "sub", "flow", "client", "rules", "made"} <= audit.keys(), audit
    ids = [e["request_id"] for e in access]
    assert len(ids) == len(set(ids)), "a request wrote more than one access line"
