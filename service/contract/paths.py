"""Dotted paths into JSON-like data: ``profile.first_name``, ``roles.0``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

MISSING: Final = object()


def dig(data: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``data`` (digits index lists), or ``MISSING``.

    A key that itself holds dots is found by its whole name: an OpenID provider's
    namespaced claim ``https://example.com/groups``, or ``a.b`` when the object has it.
    """
    while True:
        if isinstance(data, Mapping) and path in data:
            return data[path]
        part, dot, path = path.partition(".")
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return MISSING
        if not dot:
            return data
