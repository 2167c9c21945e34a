"""Where a browser may be sent with a token: ``redirectUrl`` and ``referrerUrl`` rules.

Pure functions, no web framework. A ``redirectUrl`` passes only when its scheme, host
and port are exactly those of an allowed origin and its path has no dot segment; a
forced ``referrerUrl`` only when it is a plain path inside the Spot. Anything odd is
refused rather than repaired.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

import idna

MAX_URL_LENGTH: Final = 2048
DEFAULT_PORTS: Final = {"http": 80, "https": 443}

# Controls, whitespace of any kind, backslashes: never in a URL we redirect to.
_FORBIDDEN = re.compile(
    r"[\x00-\x20\x7f-\x9f\\\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]"
)
_PARAM_SAFE: Final = "/-._~!$'()*,;:@"
# What a Spot page path is made of; ':' '@' quotes and brackets are not (defence in depth
# against client-side routers that would read "javascript:" or "host@" in a path).
_PATH_CHARS = re.compile(r"[/\w\-.~%+,=!*]*")
_MARKUP = re.compile(r"[<>\"'`{}|^]")


class RedirectRefused(ValueError):
    """A URL that may not be used; the message says which rule it broke."""


def check_redirect_url(url: str, allowed_origins: Iterable[str]) -> str:
    """``url`` as it may be used in ``Location``, or ``RedirectRefused``.

    ``allowed_origins`` are normalised origins (``https://go.meltingspot.io``,
    ``http://127.0.0.1:8000``), as the configuration stores them.
    """
    scheme, parts = _absolute(url, "redirectUrl")
    _check_no_dot_segments(parts.path)
    origin, netloc = _origin(scheme, parts.netloc)
    if origin not in set(allowed_origins):
        raise RedirectRefused(f"redirectUrl goes to {origin}, which is not an allowed origin")
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


def normalised_origin(value: str) -> str:
    """``value``, an origin (``scheme://host[:port]``, a trailing '/' allowed), as the
    redirect rules compare origins: lower case, international hosts in ``xn--`` form, no
    default port. ``RedirectRefused`` for anything else (a path, a user name, a query)."""
    scheme, parts = _absolute(value, "the origin")
    if parts.path not in ("", "/") or "?" in value:
        raise RedirectRefused("the origin must be scheme://host[:port] only")
    origin, _ = _origin(scheme, parts.netloc)
    return origin


def _absolute(url: str, name: str) -> tuple[str, SplitResult]:
    """``url``'s lower-case scheme and parts, if it is an absolute http(s) URL with no
    user name and no fragment; ``RedirectRefused`` naming ``name`` otherwise."""
    _check_characters(url, name)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise RedirectRefused(f"{name} is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise RedirectRefused(f"{name} must be an absolute http(s) URL")
    if not url[len(parts.scheme) :].startswith("://") or not parts.netloc:
        raise RedirectRefused(f"{name} must be an absolute http(s) URL")
    if "@" in parts.netloc:
        raise RedirectRefused(f"{name} must not contain a user name or password")
    if "#" in url:
        raise RedirectRefused(f"{name} must not contain a fragment")
    return scheme, parts


def _check_no_dot_segments(path: str) -> None:
    """Refuse '.' and '..' segments, raw or percent-encoded (any case, any depth).

    A browser resolves them before it asks (``.../spot/<ours>/../../spot/<other>/`` is
    another Spot's page, with our token); ``%2e`` counts as '.' (URL Standard), and a
    server may decode once more, so every stage of decoding is checked.
    """
    for form in _decodings(path, "redirectUrl"):
        if any(segment in (".", "..") for segment in form.split("/")):
            raise RedirectRefused("redirectUrl must not contain '.' or '..' path segments")


def _check_characters(value: str, name: str) -> None:
    if len(value) > MAX_URL_LENGTH:
        raise RedirectRefused(f"{name} is longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN.search(value):
        raise RedirectRefused(f"{name} contains spaces, control characters or backslashes")


def _origin(scheme: str, netloc: str) -> tuple[str, str]:
    """The normalised origin of ``scheme://netloc`` and the netloc to emit."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?", netloc)
    if not match:
        raise RedirectRefused("redirectUrl has an invalid host or port")
    host, port_text = match.groups()
    host = _ascii_host(host)
    port = int(port_text) if port_text else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise RedirectRefused("redirectUrl has an invalid port")
    shown = host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{shown}", shown


def _ascii_host(host: str) -> str:
    if host.startswith("["):
        return host.lower()
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii") if not host.isascii() else host
    except idna.IDNAError:
        raise RedirectRefused("redirectUrl has an invalid host name") from None
    if not re.fullmatch(r"[A-Za-z0-9.-]+", ascii_host):
        raise RedirectRefused("redirectUrl has an invalid host name")
    return ascii_host.lower()


def check_referrer(path: str, spot_id: str) -> str:
    """``path`` if it is a plain path inside Spot ``spot_id``, or ``RedirectRefused``.

    MeltingSpot reads ``referrerUrl`` relative to its own origin, so only
    ``/spot/<spot id>`` followed by ``/``, ``?`` or nothing is allowed, with no ``//``,
    no ``.`` or ``..`` segment however often it is percent-encoded.
    """
    _check_characters(path, "referrerUrl")
    prefix = f"/spot/{spot_id.lower()}"
    head = path[: len(prefix)].lower()
    if head != prefix or path[len(prefix) : len(prefix) + 1] not in ("", "/", "?"):
        raise RedirectRefused(f"referrerUrl must be a path starting with {prefix}")
    if "#" in path:
        raise RedirectRefused("referrerUrl must not contain a fragment")
    for form in _decodings(path, "referrerUrl"):
        _check_decoded(form)
    return path


def _decodings(value: str, name: str, rounds: int = 8) -> list[str]:
    """``value`` and each stage of percent-decoding it, until it no longer changes."""
    forms = [value]
    for _ in range(rounds):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            return forms
        forms.append(decoded)
    raise RedirectRefused(f"{name} is encoded too many times")


def _check_decoded(form: str) -> None:
    if _FORBIDDEN.search(form):
        raise RedirectRefused("referrerUrl contains spaces, control characters or backslashes")
    path = form.split("?", 1)[0]
    if "//" in path or not path.startswith("/"):
        raise RedirectRefused("referrerUrl must not contain '//'")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise RedirectRefused("referrerUrl must not contain '.' or '..' segments")
    if not _PATH_CHARS.fullmatch(path):
        raise RedirectRefused(
            "referrerUrl's path may hold letters, digits and - . _ ~ % + , = ! * only"
        )
    if _MARKUP.search(form):
        raise RedirectRefused("referrerUrl must not contain quotes, brackets or markup characters")


def with_token(url: str, token: str, referrer: str | None = None) -> str:
    """``url`` with ``token`` (and a forced ``referrerUrl``) in its query.

    Every other parameter keeps its place and its exact encoding; an existing ``token``
    is dropped, an existing ``referrerUrl`` is replaced where it stands.
    """
    parts = urlsplit(url)
    pairs = [pair for pair in parts.query.split("&") if pair and _name(pair) != "token"]
    if referrer is not None:
        forced = "referrerUrl=" + quote(referrer, safe=_PARAM_SAFE)
        at = next((i for i, pair in enumerate(pairs) if _name(pair) == "referrerUrl"), None)
        if at is None:
            pairs.append(forced)
        else:
            pairs[at : at + 1] = [forced]
            pairs = [p for i, p in enumerate(pairs) if i == at or _name(p) != "referrerUrl"]
    pairs.append("token=" + quote(token, safe=""))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(pairs), ""))


def _name(pair: str) -> str:
    return unquote(pair.split("=", 1)[0].replace("+", " "))


def spot_id_in(url: str) -> str | None:
    """The Spot ID a MeltingSpot URL names in its path (``/spot/<id>/...``), if any."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    match = re.search(r"/spot/([0-9a-fA-F-]{36})(?:[/?]|$)", path)
    return match.group(1).lower() if match else None
