"""Dotted paths into JSON-like data: ``profile.first_name``, ``roles.0``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

MISSING: Final = object()


def dig(data: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``data`` (digits index lists), or ``MISSING``."""
    for part in path.split("."):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return MISSING
    return data
