"""Dotted paths into JSON-like data, as the adapters' field mappings use them."""

from __future__ import annotations

from typing import Any

import pytest

from service.contract.paths import MISSING, dig

DATA = {
    "name": {"first": "Ada", "parts": ["Ada", "King"]},
    "https://example.com/groups": ["staff"],
    "realm_access": {"roles": ["admins"]},
    "a.b": "the key with a dot",
    "a": {"b": "the nested key"},
    "flag": False,
    "none": None,
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("name.first", "Ada"),
        ("name.parts.1", "King"),
        ("https://example.com/groups", ["staff"]),
        ("realm_access.roles", ["admins"]),
        ("realm_access.roles.0", "admins"),
        ("a.b", "the key with a dot"),  # the whole name first
        ("flag", False),
        ("none", None),
    ],
)
def test_dig_finds(path: str, value: Any) -> None:
    assert dig(DATA, path) == value


@pytest.mark.parametrize(
    "path", ["missing", "name.last", "name.parts.2", "name.parts.x", "flag.x", "none.x", ""]
)
def test_dig_misses(path: str) -> None:
    assert dig(DATA, path) is MISSING
