"""The client's address (service.networks): X-Forwarded-For believed from trusted proxies only."""

from __future__ import annotations

import pytest

from service.networks import client_ip, parse_networks

TRUSTED = parse_networks(["10.0.0.0/8", "::1/128"])


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.2", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the left part is the client's own claim
        ("10.0.0.2", "1.2.3.4, 10.0.0.3", "1.2.3.4"),  # through two trusted proxies
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4"),  # only proxies: the leftmost
        ("10.0.0.2", "not-an-ip", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("::1", "2001:db8::1", "2001:db8::1"),
        (None, "1.2.3.4", None),
    ],
)
def test_client_ip(peer: str | None, header: str | None, expected: str | None) -> None:
    assert client_ip(peer, header, TRUSTED) == expected
