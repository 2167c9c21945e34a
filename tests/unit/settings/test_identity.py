"""The HTTP adapter's settings (service.settings.identity): what may be forwarded to the host."""

from __future__ import annotations

import pytest

from service.settings.identity import HttpAdapterConfig


def test_cookie_header_cannot_be_forwarded() -> None:
    with pytest.raises(ValueError, match="forward_cookies"):
        HttpAdapterConfig(session_url="http://h.test/me", forward_headers=["Cookie"])


@pytest.mark.parametrize("name", ["a b", "a;b", "a=b", "ä", ""])
def test_forwarded_names_are_tokens(name: str) -> None:
    with pytest.raises(ValueError, match="RFC 9110 token"):
        HttpAdapterConfig(session_url="http://h.test/me", forward_cookies=[name])
