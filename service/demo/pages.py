"""The HTML shell of the demo's host platform and mock Spot pages; their capped body read."""

from __future__ import annotations

from html import escape
from typing import Final

from fastapi import Request
from fastapi.responses import HTMLResponse

CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    # The mock Spot's callback URL holds the token: never send it on in a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


# What every demo page looks like; a page's own ``style`` comes after, and wins.
BASE_STYLE: Final = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; }
.banner { background: #b42318; color: #fff; text-align: center; padding: .4rem;
  font-weight: 600; letter-spacing: .05em; }
main { margin: 2rem auto; padding: 1.5rem 2rem; background: #fff;
  border-radius: 10px; box-shadow: 0 1px 4px rgba(0,0,0,.08); }
h1 { font-size: 1.4rem; margin-top: 0; }
code { overflow-wrap: anywhere; }
@media (max-width: 40rem) { main { margin: 0; padding: 1rem; border-radius: 0; } }
"""


def demo_page(
    title: str, body: str, style: str, status: int = 200, *, csp: str = CSP
) -> HTMLResponse:
    """A page with the DEMO banner; ``body`` is HTML its caller has already escaped.

    ``csp`` replaces the default policy (no script at all) for a page that loads one.
    """
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{BASE_STYLE}{style}</style></head><body>"
        '<div class="banner" role="note">DEMO — not for production</div>'
        f"<main>{body}</main></body></html>"
    )
    return HTMLResponse(
        document,
        status_code=status,
        headers={**PAGE_HEADERS, "Content-Security-Policy": csp},
        media_type="text/html; charset=utf-8",
    )


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None when it is longer than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
