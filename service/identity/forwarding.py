"""What a browser's cookies and headers may hold to be forwarded to the host platform.

A forwarded value goes into a request to the host as it is. Anything beyond the plain
characters of a cookie (RFC 6265 cookie-octets) or of a header (visible ASCII and
spaces) could change that request: a CR LF starts another header or another request, a
``;`` adds a cookie, and bytes beyond ASCII are read differently by different servers.
Such a value is never repaired and never forwarded: the browser is not logged in.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from service.identity.base import SessionContext
from service.settings.fields import TOKEN

# cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E (RFC 6265 4.1.1): no
# space, '"', ',', ';' or '\'. Starlette has already removed the quotes of a quoted value.
_COOKIE_VALUE: Final = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_HEADER_VALUE: Final = re.compile(r"[\x20-\x7e]*")
Kind = Literal["cookie", "header"]


def refused_entry(ctx: SessionContext) -> tuple[Kind, str] | None:
    """The first cookie or header of ``ctx`` that may not be forwarded, as (kind, name)."""
    for name, value in ctx.cookies.items():
        if not (TOKEN.fullmatch(name) and _COOKIE_VALUE.fullmatch(value)):
            return "cookie", name
    for name, value in ctx.headers.items():
        if not (TOKEN.fullmatch(name) and _HEADER_VALUE.fullmatch(value)):
            return "header", name
    return None
