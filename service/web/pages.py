"""Small HTML pages for the browser flow: readable, no script, a strict CSP."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Final

from fastapi.responses import HTMLResponse

_STYLE: Final = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}"
    "main{max-width:34rem;margin:10vh auto;padding:2rem;background:#fff;border-radius:12px;"
    "box-shadow:0 1px 4px rgba(0,0,0,.08)}h1{font-size:1.35rem;margin:0 0 .75rem}"
    "p{margin:.5rem 0}.hint{color:#4a5368}.id{margin-top:1.5rem;font-size:.8rem;color:#7a8294}"
    "a.button{display:inline-block;margin-top:1rem;padding:.5rem 1rem;border-radius:8px;"
    "background:#3b5bdb;color:#fff;text-decoration:none}"
)
_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
CSP: Final = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def page(
    status: int,
    title: str,
    message: str,
    *,
    request_id: str | None,
    hint: str | None = None,
    link: tuple[str, str] | None = None,
) -> HTMLResponse:
    """A page saying what went wrong and what to do; every value is escaped."""
    parts = [f"<h1>{escape(title)}</h1>", f"<p>{escape(message)}</p>"]
    if hint:
        parts.append(f'<p class="hint">{escape(hint)}</p>')
    if link:
        url, text = link
        parts.append(f'<a class="button" href="{escape(url, quote=True)}">{escape(text)}</a>')
    if request_id:
        parts.append(f'<p class="id">Reference: <code>{escape(request_id)}</code></p>')
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><main>{''.join(parts)}</main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP})
